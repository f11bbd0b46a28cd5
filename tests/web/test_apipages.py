"""The pages the API layer writes from rows (`webapp/web/apipages.py`) against the route's
model: `Page[Email]` and `Page[Prospect]` serialised as Quart serialises them
(`apireads.body`), for every field, every null, both databases' forms of a time,
text that needs escaping and a next page's cursor."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from quart import Quart

from webapp.outbound.contentreads import ContentPage, _content
from webapp.outbound.contents import TrackingUrls
from webapp.outbound.tokens import TokenSigner
from webapp.prospects.tierpage import TierRows, _contact, _prospect
from webapp.web import apipages, apireads
from webapp.web.api.contents import Email
from webapp.web.api.prospects import Prospect
from webapp.web.api.shapes import Page

URLS = TrackingUrls("https://tune.example", TokenSigner("pages-secret-0123456789abcdef"))
ODD_TEXT = 'Grüße "quoted" <b> \\ \n\t\u2028 😀 \x01'


def model_emails(app: Quart, page: ContentPage) -> bytes:
    """What the Quart route answers for the same rows."""
    written = [_content(row, page.tracking, page.links[row[0]]) for row in page.rows]
    return apireads.body(app, Page[Email].of([Email.of(w, URLS) for w in written], page.next_key))


def email_row(content_id: int, sent_at: Any, text: str = "Hello") -> tuple[Any, ...]:
    return (
        content_id,
        7,
        1000 + content_id,
        2,
        f"Re: {text}",
        f"<p>{text}</p>",
        text,
        "sent",
        sent_at,
    )


@pytest.mark.parametrize("tracking", [True, False])
@pytest.mark.parametrize("next_key", [None, [42]])
async def test_a_page_of_emails_is_the_models_json(
    app: Quart, tracking: bool, next_key: list[Any] | None
) -> None:
    rows = [
        email_row(1, None),
        email_row(2, "2026-03-01 09:30:15.123456", ODD_TEXT),  # SQLite's naive UTC text
        email_row(3, datetime(2026, 3, 1, 9, 30, tzinfo=UTC)),  # PostgreSQL's datetime
        email_row(4, datetime(2026, 3, 1, 11, 30, tzinfo=timezone(timedelta(hours=2)))),
        email_row(2**40, "2026-03-01 09:30:15"),
    ]
    links = {
        1: [],
        2: [(1, "https://a.example/?q=ü&x=1"), (2, "https://b.example/")],
        3: [(7, 'https://c.example/"x"')],
        4: [],
        2**40: [(300, "https://d.example/")],
    }
    page = ContentPage(tracking, rows, links, next_key)
    written = apipages.emails_page(page, URLS)
    assert written == model_emails(app, page)
    assert json.loads(written)["items"][1]["subject"] == f"Re: {ODD_TEXT}"


async def test_an_empty_page_of_emails_is_the_models_json(app: Quart) -> None:
    page = ContentPage(True, [], {}, None)
    assert (
        apipages.emails_page(page, URLS)
        == model_emails(app, page)
        == b'{"items": [], "next_cursor": null}\n'
    )


@pytest.mark.parametrize(
    "sent_at",
    [
        "2026-03-01 09:30:15.000001",
        "2026-03-01 09:30:15.000000",  # ISO format writes no microseconds then
        "2026-03-01 09:30:15.5",
        "2026-03-01 09:30:15",
        "2026-03-01T09:30:15.123456",
        "2026-03-01 09:30:15.12345Z",
        "2026-03-01 09:30:15.123456+02:00",
        "0999-12-31 23:59:59.999999",
    ],
)
async def test_every_spelling_of_a_stored_time_is_written_as_the_model_writes_it(
    app: Quart, sent_at: str
) -> None:
    page = ContentPage(True, [email_row(1, sent_at)], {1: []}, None)
    assert apipages.emails_page(page, URLS) == model_emails(app, page)


BODY_EDGES = [
    "",
    "x" * 64,
    "x" * 65,
    '<p class="a">\\</p></script>\n\r\t\b\f\x00\x1f "quoted" /slash ' * 3,
    "plain ASCII until DEL \x7f " * 5,
    "ASCII and then one ü " * 5,
    "a lone surrogate \ud800 and a pair 😀 " * 3,
    "\u2028\u2029 separators " * 5,
]


@pytest.mark.parametrize("body", BODY_EDGES)
async def test_email_bodies_are_escaped_as_the_model_writes_them(app: Quart, body: str) -> None:
    row = (1, 7, 1001, 2, body[:40], body, body, "sent", None)
    page = ContentPage(True, [row], {1: [(1, body or "https://a.example/")]}, None)
    assert apipages.emails_page(page, URLS) == model_emails(app, page)


ANY_TEXT = st.one_of(
    st.text(st.characters(max_codepoint=0x7F), min_size=60, max_size=400),
    st.text(st.characters(exclude_categories=()), max_size=200),  # surrogates too
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(html=ANY_TEXT, text=ANY_TEXT)
def test_any_email_body_is_escaped_as_the_model_writes_it(app: Quart, html: str, text: str) -> None:
    page = ContentPage(False, [(1, 7, 1001, 2, "Hi", html, text, "sent", None)], {1: []}, None)
    assert apipages.emails_page(page, URLS) == model_emails(app, page)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(moment=st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)))
def test_any_time_as_sqlite_stores_it_is_written_as_the_model_writes_it(
    app: Quart, moment: datetime
) -> None:
    stored = moment.strftime("%Y-%m-%d %H:%M:%S.%f").rjust(26, "0")
    page = ContentPage(True, [email_row(1, stored)], {1: []}, None)
    assert apipages.emails_page(page, URLS) == model_emails(app, page)


@pytest.mark.parametrize(
    "sent_at",
    ["2026-13-01 09:30:15.123456", "2026-02-30 09:30:15.123456", "2026-03-01 24:30:15.123456"],
)
def test_a_stored_time_that_is_no_time_is_not_written(sent_at: str) -> None:
    """As for any row the model would not take, the layer leaves the request to Quart."""
    with pytest.raises(ValueError):
        apipages.emails_page(ContentPage(True, [email_row(1, sent_at)], {1: []}, None), URLS)


async def test_kept_fields_follow_the_rows_and_the_signer(app: Quart) -> None:
    """Pages written with kept fields are the model's JSON for their own rows: a tracking
    flag, a link or a body that changed is written again, and another secret signs every
    URL again."""
    kept = apipages.EmailFields(apipages.FIELDS_BUDGET)
    rows = [email_row(1, None), email_row(2, None)]
    first = ContentPage(True, rows, {1: [(1, "https://a.example/")], 2: []}, None)
    assert apipages.emails_page(first, URLS, kept) == model_emails(app, first)
    long_body = '<p>"Changed"</p>\n' * 10
    changed = [
        ContentPage(False, rows, first.links, None),
        ContentPage(False, rows, {1: [(1, "https://b.example/")], 2: []}, None),
        ContentPage(
            False, rows, {1: [(2, "https://b.example/")], 2: [(1, "https://c.example")]}, None
        ),
        ContentPage(True, rows, first.links, None),
        ContentPage(
            True, [email_row(1, "2026-03-01 09:30:15.5", long_body), rows[1]], first.links, None
        ),
        ContentPage(True, [email_row(1, None, long_body + "!"), rows[1]], first.links, None),
    ]
    for page in changed:
        assert apipages.emails_page(page, URLS, kept) == model_emails(app, page)
    rotated = TrackingUrls(URLS.base_url, TokenSigner("another-secret-0123456789abcdef"))
    written = json.loads(apipages.emails_page(first, rotated, kept))
    assert written == json.loads(apipages.emails_page(first, rotated))
    assert written != json.loads(model_emails(app, first))
    moved = TrackingUrls("https://other.example", URLS.signer)
    assert json.loads(apipages.emails_page(first, moved, kept))["items"][0]["pixel_url"] == (
        moved.pixel(1)
    )


def test_kept_fields_stay_within_their_budget() -> None:
    link = [(1, "https://a.example/")]
    one = apipages.EmailFields(10**6).of(URLS)
    one.url_fields(1, True, link)
    one.bodies(1, "<p>Hi</p>" * 10, "Hi")
    budget = one.size * 2
    kept = apipages.EmailFields(budget).of(URLS)
    for content_id in range(1, 50):
        fresh = apipages.EmailFields(0).of(URLS)
        assert kept.url_fields(content_id, True, link) == fresh.url_fields(content_id, True, link)
        assert kept.bodies(content_id, "<p>Hi</p>" * 10, "Hi") == fresh.bodies(
            content_id, "<p>Hi</p>" * 10, "Hi"
        )
        assert 0 < kept.size <= budget
        assert len(kept.kept) <= 4
    assert not fresh.kept


def prospect_row(prospect_id: int, **changes: Any) -> tuple[Any, ...]:
    fields: dict[str, Any] = {
        "id": prospect_id,
        "campaign_id": 7,
        "name": "Acme",
        "domain": "acme.example",
        "industry": "saas",
        "employees": 120,
        "revenue": 5_000_000,
        "country": "DE",
        "tier": 1,
        "score": 88,
        "score_reasons": '[{"rule": "size", "points": 10, "detail": {"z": 1, "a": 2.5}}]',
        "hot": 1,
        "last_activity_at": None,
    }
    fields.update(changes)
    return tuple(fields.values())


def contact_row(contact_id: int, **changes: Any) -> tuple[Any, ...]:
    fields: dict[str, Any] = {
        "id": contact_id,
        "email": f"p{contact_id}@acme.example",
        "first_name": "Ann",
        "last_name": "Lee",
        "title": "CTO",
        "seniority": "c_level",
        "unsubscribed_at": None,
    }
    fields.update(changes)
    return tuple(fields.values())


def model_prospects(app: Quart, page: TierRows, next_key: list[Any] | None) -> bytes:
    """What the Quart route answers for the same rows (`tierpage.tier_page`'s dicts)."""
    found = []
    for row, contacts in page:
        prospect = _prospect(row)
        prospect["contacts"] = [_contact(contact) for contact in contacts]
        found.append(Prospect.model_validate(prospect))
    return apireads.body(app, Page[Prospect].of(found, next_key))


@pytest.mark.parametrize("next_key", [None, [True, 88, 3]])
async def test_a_page_of_prospects_is_the_models_json(
    app: Quart, next_key: list[Any] | None
) -> None:
    page: TierRows = [
        (prospect_row(1), [contact_row(1), contact_row(2, unsubscribed_at="2026-01-01 00:00:00")]),
        (
            prospect_row(
                2,
                name=ODD_TEXT,
                domain=None,
                industry=None,
                employees=None,
                revenue=None,
                country=None,
                hot=False,
                score_reasons='[{"rule": "Grüße", "why": "\\u00fc \\"x\\""}]',
                last_activity_at="2026-03-01 09:30:15.5",
            ),
            [
                contact_row(
                    3,
                    email="zoë@x.example",
                    first_name=None,
                    last_name=None,
                    title=None,
                    seniority=None,
                    unsubscribed_at=datetime(2026, 1, 1, tzinfo=UTC),
                )
            ],
        ),
        (
            prospect_row(
                3,
                tier=3,
                hot=True,
                score=-5,
                score_reasons="[]",
                last_activity_at=datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
            ),
            [],
        ),
    ]
    written = apipages.prospects_page(page, next_key)
    assert written == model_prospects(app, page, next_key)
    assert json.loads(written)["items"][1]["name"] == ODD_TEXT


async def test_an_empty_tier_is_the_models_json(app: Quart) -> None:
    assert apipages.prospects_page([], None) == model_prospects(app, [], None)


@pytest.mark.parametrize(
    "changes",
    [
        {"tier": 4},
        {"tier": True},
        {"score_reasons": '{"rule": "size"}'},
        {"score_reasons": "[1]"},
        {"score": "88"},
        {"id": True},
        {"campaign_id": 7.0},
        {"employees": "120"},
        {"revenue": False},
    ],
)
def test_rows_of_other_types_are_not_written(changes: dict[str, Any]) -> None:
    """The layer then leaves the request to Quart, which reads again and answers."""
    with pytest.raises((TypeError, ValueError)):
        apipages.prospects_page([(prospect_row(1, **changes), [])], None)


def test_contacts_of_other_types_are_not_written() -> None:
    with pytest.raises(TypeError):
        apipages.prospects_page([(prospect_row(1), [contact_row(1, id="1")])], None)


@pytest.mark.parametrize("field", [0, 1, 2, 3])
@pytest.mark.parametrize("value", [True, "1", 1.0])
def test_emails_whose_ids_are_not_integers_are_not_written(field: int, value: Any) -> None:
    row = list(email_row(1, None))
    row[field] = value
    links = {row[0]: []}
    with pytest.raises(TypeError):
        apipages.emails_page(ContentPage(True, [tuple(row)], links, None), URLS)
