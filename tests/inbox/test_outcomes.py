"""Recording inbound messages: replies, auto-replies, bounces and complaints, each in its place."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from tests.support.factories import make_campaign, make_contact, make_content, make_prospect
from tests.support.inbox import MESSAGES, NOW, SENT, sent_campaign
from webapp.campaigns.stats import campaign_stats
from webapp.core.models import Contact, Content, Event, InboxReceipt, Prospect, Reply, Suppression
from webapp.inbox.message import parse_message
from webapp.inbox.outcomes import handle_inbound
from webapp.inbox.replies import campaign_replies, prospect_replies, relabel
from webapp.outbound.sending.queue import queue_campaign
from webapp.web.services import Services


async def receive(tune: Services, name: str, raw: bytes | None = None) -> str:
    inbound = parse_message(raw or (MESSAGES / name).read_bytes())
    async with tune.db.write() as session:
        handled = await handle_inbound(session, inbound, "imap", now=NOW)
    return handled.outcome


async def content_of(tune: Services, content_id: int) -> tuple[Content, Contact, Prospect]:
    async with tune.db.read() as session:
        content = await session.get(Content, content_id)
        assert content is not None
        contact = await session.get(Contact, content.contact_id)
        prospect = await session.get(Prospect, content.prospect_id)
        assert contact is not None and prospect is not None
        return content, contact, prospect


async def suppressed(tune: Services) -> dict[str, str]:
    async with tune.db.read() as session:
        rows = await session.execute(select(Suppression.email, Suppression.reason))
        return {email: reason for email, reason in rows}


async def test_every_kind_of_message_lands_where_it_belongs(tune: Services) -> None:
    sent = await sent_campaign(tune.db)
    outcomes = {name: await receive(tune, name) for name, *_ in SENT}
    assert outcomes == {
        "reply_gmail.eml": "reply",
        "reply_outlook.eml": "reply",
        "reply_apple.eml": "reply",
        "auto_exchange.eml": "auto_reply",
        "auto_gmail.eml": "auto_reply",
        "dsn_postfix.eml": "bounce",
        "dsn_exchange.eml": "bounce",
        "dsn_gmail_delay.eml": "soft_bounce",
        "arf_complaint.eml": "complaint",
        "dsn_qmail.eml": "bounce",
        "reply_no_in_reply_to.eml": "reply",
    }
    stats = await campaign_stats(tune.db, sent.campaign_id)
    total = stats["total"]
    assert total["replied"] == 4
    assert total["auto_replied"] == 2
    assert total["bounced"] == 3
    assert total["complained"] == 1
    # Two negative replies and the complaint unsubscribe.
    assert total["unsubscribed"] == 3
    assert total["rates"]["reply"] == 0.0  # nothing was counted as sent by the sender here

    assert await suppressed(tune) == {
        "nobody@gone-corp.example": "hard_bounce",
        "f.berg@nordhaus.example": "hard_bounce",
        "h.olsen@oldhost.example": "hard_bounce",
        "r.meyer@spam-watchers.example": "complaint",
    }

    content, contact, prospect = await content_of(tune, sent.contents["reply_gmail.eml"])
    assert prospect.hot and content.replied_at is not None and contact.unsubscribed_at is None
    _, contact, prospect = await content_of(tune, sent.contents["reply_outlook.eml"])
    assert prospect.hot and contact.unsubscribed_at is not None
    _, contact, prospect = await content_of(tune, sent.contents["auto_exchange.eml"])
    assert not prospect.hot and contact.return_at == datetime(2027, 1, 12, tzinfo=UTC)
    content, contact, _ = await content_of(tune, sent.contents["dsn_postfix.eml"])
    assert content.send_status == "bounced" and contact.bounced_at is not None
    content, contact, _ = await content_of(tune, sent.contents["dsn_gmail_delay.eml"])
    assert content.send_status == "sent" and contact.soft_bounces == 1
    _, contact, _ = await content_of(tune, sent.contents["arf_complaint.eml"])
    assert contact.unsubscribed_at is not None


async def test_reply_text_and_tone_are_stored_for_the_prospect_and_the_campaign(
    tune: Services,
) -> None:
    sent = await sent_campaign(tune.db)
    for name in ("reply_gmail.eml", "reply_outlook.eml", "reply_no_in_reply_to.eml"):
        await receive(tune, name)
    _, _, prospect = await content_of(tune, sent.contents["reply_gmail.eml"])
    async with tune.db.read() as session:
        replies = await prospect_replies(session, prospect.id)
        listed = await campaign_replies(session, sent.campaign_id)
        negative = await campaign_replies(session, sent.campaign_id, "negative")
    assert [reply.classification for reply in replies] == ["positive"]
    assert replies[0].text.startswith("Hi Ana,\n\nThanks for reaching out")
    assert replies[0].received_at == datetime(2026, 11, 24, 9, 13, 58, tzinfo=UTC)
    assert len(listed) == 3
    assert {reply.contact_email for reply in negative} == {
        "k.weber@brauerei-nord.example",
        "compras@ferreteria-sol.example",
    }
    async with tune.db.write() as session:
        await relabel(session, replies[0].id, "neutral")
    async with tune.db.read() as session:
        (corrected,) = await prospect_replies(session, prospect.id)
    assert corrected.classification == "neutral" and corrected.corrected


async def test_the_same_message_twice_changes_nothing(tune: Services) -> None:
    sent = await sent_campaign(tune.db)
    assert await receive(tune, "reply_gmail.eml") == "reply"
    assert await receive(tune, "reply_gmail.eml") == "duplicate"
    assert await receive(tune, "dsn_postfix.eml") == "bounce"
    assert await receive(tune, "dsn_postfix.eml") == "duplicate"
    stats = await campaign_stats(tune.db, sent.campaign_id)
    async with tune.db.read() as session:
        replies = await session.scalar(select(func.count()).select_from(Reply))
    assert stats["total"]["replied"] == 1 and stats["total"]["bounced"] == 1 and replies == 1


async def test_a_message_that_matches_nothing_is_counted_and_left_alone(tune: Services) -> None:
    await sent_campaign(tune.db)
    raw = (MESSAGES / "reply_gmail.eml").read_bytes()
    stranger = raw.replace(b"tune.1001.5c1f0e9ab2d47e31", b"someone-else.42").replace(
        b"jane.doe@acme-foods.example", b"stranger@elsewhere.example"
    )
    assert await receive(tune, "", stranger) == "unmatched"
    async with tune.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Event)) == 0
        receipts = (await session.execute(select(InboxReceipt.outcome))).scalars().all()
    assert receipts == ["reply"]


async def test_a_reply_subject_matches_only_within_the_window(tune: Services) -> None:
    sent = await sent_campaign(tune.db)
    async with tune.db.write() as session:
        content = await session.get(Content, sent.contents["reply_no_in_reply_to.eml"])
        assert content is not None
        content.sent_at = NOW - timedelta(days=120)
    assert await receive(tune, "reply_no_in_reply_to.eml") == "unmatched"


async def test_three_soft_bounces_in_a_row_count_as_hard(tune: Services) -> None:
    sent = await sent_campaign(tune.db)
    raw = (MESSAGES / "dsn_gmail_delay.eml").read_bytes()
    outcomes = []
    for attempt in range(3):
        copy = raw.replace(b"9f2dSMTPIN", f"{attempt}dSMTPIN".encode())
        outcomes.append(await receive(tune, "", copy))
    assert outcomes == ["soft_bounce", "soft_bounce", "bounce"]
    assert (await suppressed(tune))["t.nguyen@busy-mail.example"] == "soft_bounces"
    stats = await campaign_stats(tune.db, sent.campaign_id)
    assert stats["total"]["bounced"] == 1


async def test_a_suppressed_address_is_skipped_in_every_campaign(tune: Services) -> None:
    await sent_campaign(tune.db)
    await receive(tune, "dsn_postfix.eml")
    async with tune.db.write() as session:
        other = await make_campaign(session, "Second wave")
        prospect = await make_prospect(session, other, tier=1)
        gone = await make_contact(session, prospect, "Nobody@Gone-Corp.example")
        fine = await make_contact(session, prospect, "someone@fine.example")
        await make_content(session, gone)
        await make_content(session, fine)
        summary = await queue_campaign(session, other.id)
    assert summary.queued == 1 and summary.skipped_suppressed == 1
