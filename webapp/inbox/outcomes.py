"""Recording what an inbound message or provider event means, in the caller's transaction.

- a human reply: a reply event (the event writer's counters; the prospect turns
  hot), the reply's text and tone stored; one that asks to stop also unsubscribes;
- an automatic answer: an `auto_reply` event, and the contact's return date;
- a hard bounce (or a third soft one in a row): a bounce event, the email marked
  bounced, the contact marked bounced and its address suppressed everywhere;
  a soft bounce is counted on the contact;
- a complaint: a complaint event, an unsubscribe, and the address suppressed.

A reply, bounce or complaint stops the contact's sequence at once (a reply also
its colleagues', under the account-level rule); an out-of-office answer with a
return date pauses it until the day after. The webhook deliveries (`reply` with
its excerpt and classification, `auto_reply` with its excerpt and return date,
`complaint`, `sequence.stopped`) are written in the same transaction.

Every message or provider event is claimed once in `inbox_receipts` (by
Message-ID or event id), so the same one arriving twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.core import metrics
from webapp.core.models import Contact, Content, InboxReceipt, Reply, Suppression, utcnow
from webapp.core.text import excerpt
from webapp.inbox.matching import Sent, reply_target, report_target
from webapp.inbox.message import Failure, Inbound, Kind
from webapp.inbox.reading import classify_reply, reply_text, return_date
from webapp.sequences.control import stop_on_answer
from webapp.sequences.notices import pause_for_absence
from webapp.tracking.events import (
    AutoReplyEvent,
    BounceEvent,
    ComplaintEvent,
    ReplyEvent,
    TrackedEvent,
    UnsubscribeEvent,
)
from webapp.tracking.store import store_events
from webapp.webhooks.outbox import event_detail

SOFT_BOUNCE_LIMIT = 3
"""Soft bounces in a row that count as a hard one."""


@dataclass(frozen=True)
class Handled:
    """What one inbound message or provider event became."""

    outcome: str
    """reply, auto_reply, bounce, soft_bounce, complaint, unmatched or duplicate."""
    content_id: int | None = None
    detail: str = ""


async def claim(session: AsyncSession, source: str, key: str, outcome: str) -> bool:
    """Note that `source`'s `key` is handled; False when it already was."""
    values = {"source": source, "key": key[:255], "outcome": outcome, "received_at": utcnow()}
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    result = await session.execute(
        insert(InboxReceipt).values(values).on_conflict_do_nothing(index_elements=["source", "key"])
    )
    return bool(getattr(result, "rowcount", 0))


async def handle_inbound(
    session: AsyncSession, inbound: Inbound, source: str = "imap", now: datetime | None = None
) -> Handled:
    """Match `inbound` to what Tune sent and record it; idempotent on its Message-ID."""
    now = now or utcnow()
    key = inbound.message_id or _fallback_key(inbound)
    if not await claim(session, source, key, inbound.kind.value):
        return _counted(Handled("duplicate"))
    if inbound.kind is Kind.BOUNCE:
        handled = Handled("unmatched")
        for failure in inbound.failures:
            sent = await report_target(session, inbound.references, failure.address, now)
            if sent is not None:
                handled = await record_failure(session, sent, failure, source, inbound.received_at)
        return _counted(handled)
    if inbound.kind is Kind.COMPLAINT:
        sent = await report_target(session, inbound.references, inbound.complainant, now)
        if sent is None:
            return _counted(Handled("unmatched"))
        return _counted(await record_complaint(session, sent, source, inbound.received_at))
    sent = await reply_target(session, inbound.references, inbound.sender, inbound.subject, now)
    if sent is None:
        return _counted(Handled("unmatched"))
    if inbound.kind is Kind.AUTO_REPLY:
        return _counted(await record_auto_reply(session, sent, inbound, source, now))
    return _counted(await record_reply(session, sent, inbound, source))


def _fallback_key(inbound: Inbound) -> str:
    return f"{inbound.sender}|{inbound.received_at.isoformat()}|{inbound.subject}"[:255]


def _counted(handled: Handled) -> Handled:
    metrics.INBOX_MESSAGES.labels(handled.outcome).inc()
    return handled


async def record_reply(session: AsyncSession, sent: Sent, inbound: Inbound, source: str) -> Handled:
    text = reply_text(inbound.body)
    classification = classify_reply(text)
    detail = event_detail(reply_excerpt=excerpt(text), classification=classification)
    events: list[TrackedEvent] = [
        ReplyEvent(sent.content_id, inbound.received_at, source=source, detail=detail)
    ]
    if classification == "negative":
        events.append(UnsubscribeEvent(sent.content_id, inbound.received_at, source=source))
    await store_events(session, events)
    session.add(
        Reply(
            campaign_id=sent.campaign_id,
            content_id=sent.content_id,
            contact_id=sent.contact_id,
            prospect_id=sent.prospect_id,
            sender=inbound.sender[:254],
            subject=inbound.subject[:300],
            text=text,
            classification=classification,
            message_id=inbound.message_id,
            received_at=inbound.received_at,
        )
    )
    await session.execute(
        update(Contact).where(Contact.id == sent.contact_id).values(soft_bounces=0)
    )
    await session.flush()
    await stop_on_answer(
        session, sent.contact_id, sent.prospect_id, sent.campaign_id, "replied", inbound.received_at
    )
    return Handled("reply", sent.content_id, classification)


async def record_auto_reply(
    session: AsyncSession, sent: Sent, inbound: Inbound, source: str, now: datetime | None = None
) -> Handled:
    back = return_date(inbound.body, inbound.received_at)
    detail = event_detail(
        reply_excerpt=excerpt(reply_text(inbound.body)),
        return_at=back.date().isoformat() if back else None,
    )
    await store_events(
        session,
        [AutoReplyEvent(sent.content_id, inbound.received_at, source=source, detail=detail)],
    )
    if back is not None:
        await session.execute(
            update(Contact).where(Contact.id == sent.contact_id).values(return_at=back)
        )
        await pause_for_absence(session, sent.contact_id, back, now=now)
    return Handled("auto_reply", sent.content_id, back.date().isoformat() if back else "")


async def record_failure(
    session: AsyncSession, sent: Sent, failure: Failure, source: str, moment: datetime
) -> Handled:
    """A bounce of `sent`: hard now, or hard after `SOFT_BOUNCE_LIMIT` soft ones in a row."""
    contact = await session.get(Contact, sent.contact_id, with_for_update=True)
    assert contact is not None
    hard = failure.hard
    if not hard:
        contact.soft_bounces = (contact.soft_bounces or 0) + 1
        hard = contact.soft_bounces >= SOFT_BOUNCE_LIMIT
        if not hard:
            await session.flush()
            return Handled("soft_bounce", sent.content_id, failure.status)
    reason = "hard_bounce" if failure.hard else "soft_bounces"
    first = contact.bounced_at is None
    contact.bounced_at = contact.bounced_at or moment
    contact.soft_bounces = 0
    await session.flush()
    if first:
        await store_events(session, [BounceEvent(sent.content_id, moment, source=source)])
        await session.execute(
            update(Content)
            .where(Content.id == sent.content_id, Content.send_status == "sent")
            .values(send_status="bounced", last_error=f"bounced: {failure.status}")
            .execution_options(synchronize_session=False)
        )
    await suppress(session, contact.email, reason, f"{failure.status} ({source})", source)
    await stop_on_answer(
        session, sent.contact_id, sent.prospect_id, sent.campaign_id, "bounced", moment
    )
    return Handled("bounce", sent.content_id, failure.status)


async def record_complaint(
    session: AsyncSession, sent: Sent, source: str, moment: datetime
) -> Handled:
    await store_events(
        session,
        [
            ComplaintEvent(sent.content_id, moment, source=source),
            UnsubscribeEvent(sent.content_id, moment, source=source),
        ],
    )
    await suppress(session, sent.email, "complaint", f"spam complaint ({source})", source)
    await stop_on_answer(
        session, sent.contact_id, sent.prospect_id, sent.campaign_id, "complained", moment
    )
    return Handled("complaint", sent.content_id)


async def suppress(
    session: AsyncSession, email: str, reason: str, detail: str, source: str
) -> None:
    """Put `email` on the suppression list (the first reason stays)."""
    values = {
        "email": email.strip().lower()[:254],
        "reason": reason,
        "detail": detail[:300],
        "source": source,
        "created_at": utcnow(),
    }
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    await session.execute(
        insert(Suppression).values(values).on_conflict_do_nothing(index_elements=["email"])
    )
