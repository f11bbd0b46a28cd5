"""Reading real inbound messages: what each one is, whom it is about, what the person wrote."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from webapp.inbox.message import Failure, Kind, parse_message
from webapp.inbox.reading import classify_reply, html_to_text, reply_text, return_date

MESSAGES = Path(__file__).parent / "messages"


def read(name: str) -> bytes:
    return (MESSAGES / name).read_bytes()


@pytest.mark.parametrize(
    ("name", "text", "tone"),
    [
        (
            "reply_gmail.eml",
            "Hi Ana,\n\nThanks for reaching out – this sounds interesting. Could we set up a call "
            "on Thursday afternoon? I'd like our ops lead to join.",
            "positive",
        ),
        (
            "reply_outlook.eml",
            "Hallo Frau Rep,\n\nvielen Dank, aber wir haben kein Interesse. Bitte entfernen Sie "
            "mich aus Ihrem Verteiler.",
            "negative",
        ),
        (
            "reply_apple.eml",
            "Who else in the hospitality space is using it? Forwarding to our GM.",
            "neutral",
        ),
        (
            "reply_no_in_reply_to.eml",
            "Buenos días:\n\nNo nos interesa, gracias. Por favor, denme de baja de su lista.",
            "negative",
        ),
    ],
)
def test_a_human_reply_keeps_only_the_answer(name: str, text: str, tone: str) -> None:
    inbound = parse_message(read(name))
    assert inbound.kind is Kind.REPLY
    answer = reply_text(inbound.body)
    assert answer == text
    assert "wrote:" not in answer and "Teams like" not in answer
    assert classify_reply(answer) == tone


def test_a_reply_names_the_email_it_answers() -> None:
    inbound = parse_message(read("reply_gmail.eml"))
    assert inbound.references == ("<tune.1001.5c1f0e9ab2d47e31@sales.tune.test>",)
    assert inbound.sender == "jane.doe@acme-foods.example"
    assert inbound.subject == "Re: Faster onboarding for Acme Foods"
    assert inbound.received_at == datetime(2026, 11, 24, 9, 13, 58, tzinfo=UTC)
    assert parse_message(read("reply_no_in_reply_to.eml")).references == ()


@pytest.mark.parametrize(
    ("name", "back"),
    [("auto_exchange.eml", datetime(2027, 1, 12, tzinfo=UTC)),
     ("auto_gmail.eml", datetime(2027, 1, 5, tzinfo=UTC))],
)  # fmt: skip
def test_out_of_office_answers_are_automatic_with_their_return_date(
    name: str, back: datetime
) -> None:
    inbound = parse_message(read(name))
    assert inbound.kind is Kind.AUTO_REPLY
    assert inbound.references[0].startswith("<tune.100")
    assert return_date(inbound.body, inbound.received_at) == back


@pytest.mark.parametrize(
    ("name", "failure", "original"),
    [
        (
            "dsn_postfix.eml",
            Failure("nobody@gone-corp.example", True, "5.1.1"),
            "<tune.1006.2b3c4d5e6f708192@sales.tune.test>",
        ),
        (
            "dsn_exchange.eml",
            Failure("f.berg@nordhaus.example", True, "5.1.10"),
            "<tune.1007.3c4d5e6f70819203@sales.tune.test>",
        ),
        (
            "dsn_gmail_delay.eml",
            Failure("t.nguyen@busy-mail.example", False, "4.2.2"),
            "<tune.1008.4d5e6f7081920314@sales.tune.test>",
        ),
        (
            "dsn_qmail.eml",
            Failure("h.olsen@oldhost.example", True, "5.1.1"),
            "<tune.1010.6f70819203142536@sales.tune.test>",
        ),
    ],
)
def test_delivery_status_notifications_are_bounces_about_the_original(
    name: str, failure: Failure, original: str
) -> None:
    inbound = parse_message(read(name))
    assert inbound.kind is Kind.BOUNCE
    assert inbound.failures == (failure,)
    assert inbound.references[0] == original


def test_an_arf_report_is_a_complaint_by_the_original_recipient() -> None:
    inbound = parse_message(read("arf_complaint.eml"))
    assert inbound.kind is Kind.COMPLAINT
    assert inbound.complainant == "r.meyer@spam-watchers.example"
    assert inbound.references == ("<tune.1009.5e6f708192031425@sales.tune.test>",)


@pytest.mark.parametrize(
    ("headers", "kind"),
    [
        ("Auto-Submitted: auto-replied\n", Kind.AUTO_REPLY),
        ("Auto-Submitted: no\n", Kind.REPLY),
        ("X-Autorespond: yes\n", Kind.AUTO_REPLY),
        ("Precedence: auto_reply\n", Kind.AUTO_REPLY),
        ("Subject: Réponse automatique : Bonjour\n", Kind.AUTO_REPLY),
        ("Subject: Out of Office: Hello\n", Kind.AUTO_REPLY),
        ("Subject: Abwesenheitsnotiz: Hallo\n", Kind.AUTO_REPLY),
        ("Subject: Respuesta automática: Hola\n", Kind.AUTO_REPLY),
        ("Subject: Re: Hello\n", Kind.REPLY),
    ],
)
def test_automatic_answers_are_told_by_headers_and_subjects(headers: str, kind: Kind) -> None:
    raw = f"From: a@example.com\nTo: b@example.com\n{headers}\nThanks!\n".encode()
    assert parse_message(raw).kind is kind


@pytest.mark.parametrize(
    ("text", "tone"),
    [
        ("Please unsubscribe me.", "negative"),
        ("Remove me from your list", "negative"),
        ("We're not interested, thanks", "negative"),
        ("Bitte abmelden.", "negative"),
        ("Kein Interesse, danke.", "negative"),
        ("Merci de me désabonner.", "negative"),
        ("Ça ne m’intéresse pas.", "negative"),
        ("No me interesa.", "negative"),
        ("Por favor darme de baja", "negative"),
        ("Sounds good, let's talk next week.", "positive"),
        ("Gerne, klingt gut.", "positive"),
        ("Avec plaisir !", "positive"),
        ("Me interesa, hablemos.", "positive"),
        ("Who else uses it?", "neutral"),
    ],
)
def test_replies_that_ask_to_stop_are_negative_in_four_languages(text: str, tone: str) -> None:
    assert classify_reply(text) == tone


@pytest.mark.parametrize(
    ("text", "back"),
    [
        ("I'm back on 12 January.", datetime(2027, 1, 12, tzinfo=UTC)),
        ("Out until 2027-01-12.", datetime(2027, 1, 12, tzinfo=UTC)),
        ("Back on January 4th.", datetime(2027, 1, 4, tzinfo=UTC)),
        ("Je serai de retour le 8 janvier.", datetime(2027, 1, 8, tzinfo=UTC)),
        ("Estaré fuera hasta el 7 de enero de 2027.", datetime(2027, 1, 7, tzinfo=UTC)),
        ("Ab dem 03.12.2026 wieder erreichbar.", datetime(2026, 12, 3, tzinfo=UTC)),
        ("I am away with limited access to email.", None),
        ("I was back on 1 November.", None),
    ],
)
def test_return_dates_are_read_in_the_future(text: str, back: datetime | None) -> None:
    assert return_date(text, datetime(2026, 11, 24, 9, 0, tzinfo=UTC)) == back


def test_html_becomes_text_with_quotes_marked() -> None:
    html = "<div>Yes<br>please</div><blockquote><p>Old text</p></blockquote><style>p{}</style>"
    assert html_to_text(html) == "Yes\nplease\n\n> Old text"


def test_an_html_only_reply_is_read_as_text() -> None:
    raw = (
        b"From: x@example.com\nSubject: Re: Hi\nMIME-Version: 1.0\n"
        b"Content-Type: text/html; charset=utf-8\n\n"
        b"<p>Count me in!</p><div class='gmail_quote'>On Mon, Nov 23, 2026 at 4:02 PM Ana "
        b"wrote:<blockquote>Hi there</blockquote></div>"
    )
    inbound = parse_message(raw)
    assert reply_text(inbound.body) == "Count me in!"


def test_a_message_with_no_body_is_still_read() -> None:
    inbound = parse_message(b"From: x@example.com\nSubject: Re: Hi\n\n")
    assert inbound.kind is Kind.REPLY and reply_text(inbound.body) == ""
