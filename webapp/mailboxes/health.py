"""A mailbox's health: hard bounces and complaints over its last 200 sends.

Above 5% hard bounces or 0.3% complaints (once it has made at least
MAILBOX_HEALTH_MIN_SENDS sends, so two early bounces do not stop a new mailbox) the
mailbox pauses itself, before it burns its domain's reputation: its emails wait in
the queue, the reason shows in the dashboard, a `mailbox.paused` webhook notice goes
out, and a rep resumes it. The other mailboxes of a campaign carry on; contacts not
yet written to go to them.

The check runs in the transaction that records a bounce the relay gave at once, and
for bounces and complaints read later from the inbox, on the sender's periodic sweep,
which also refreshes the per-mailbox metrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.core import metrics
from webapp.core.logs import get_logger
from webapp.core.models import Content, Event, Mailbox, utcnow
from webapp.webhooks.outbox import OutboxEvent, enqueue

log = get_logger(__name__)

WINDOW = 200
BOUNCE_LIMIT = 0.05
COMPLAINT_LIMIT = 0.003


@dataclass(frozen=True)
class Health:
    """Bounces and complaints over a mailbox's last `WINDOW` sends."""

    sends: int
    bounces: int
    complaints: int

    @property
    def bounce_rate(self) -> float:
        return self.bounces / self.sends if self.sends else 0.0

    @property
    def complaint_rate(self) -> float:
        return self.complaints / self.sends if self.sends else 0.0

    def as_json(self) -> dict[str, float | int]:
        return {
            "sends": self.sends,
            "bounces": self.bounces,
            "complaints": self.complaints,
            "bounce_rate": round(self.bounce_rate, 4),
            "complaint_rate": round(self.complaint_rate, 4),
        }


async def health_of(session: AsyncSession, mailbox_id: int) -> Health:
    recent = (
        select(Content.id, Content.send_status)
        .where(Content.mailbox_id == mailbox_id, Content.send_status.in_(("sent", "bounced")))
        .order_by(Content.id.desc())
        .limit(WINDOW)
        .subquery()
    )
    sends, bounces = (
        await session.execute(
            select(
                func.count(),
                func.count().filter(recent.c.send_status == "bounced"),
            ).select_from(recent)
        )
    ).one()
    complaints = await session.scalar(
        select(func.count(func.distinct(Event.content_id))).where(
            Event.kind == "complaint", Event.content_id.in_(select(recent.c.id))
        )
    )
    return Health(int(sends), int(bounces), int(complaints or 0))


def verdict(health: Health, min_sends: int) -> str | None:
    """The reason to pause, or None while the mailbox is healthy."""
    if health.sends < min_sends:
        return None
    if health.bounce_rate > BOUNCE_LIMIT:
        return (
            f"hard bounces {health.bounce_rate:.1%} of the last {health.sends} sends "
            f"(limit {BOUNCE_LIMIT:.0%})"
        )
    if health.complaint_rate > COMPLAINT_LIMIT:
        return (
            f"spam complaints {health.complaint_rate:.1%} of the last {health.sends} sends "
            f"(limit {COMPLAINT_LIMIT:.1%})"
        )
    return None


async def evaluate(
    session: AsyncSession, mailbox: Mailbox, min_sends: int, now: datetime | None = None
) -> Health:
    """Judge one mailbox; pause it (with its reason and a webhook notice) when unhealthy."""
    health = await health_of(session, mailbox.id)
    metrics.MAILBOX_BOUNCE_RATE.labels(mailbox.name).set(health.bounce_rate)
    metrics.MAILBOX_COMPLAINT_RATE.labels(mailbox.name).set(health.complaint_rate)
    reason = verdict(health, min_sends)
    if reason is not None and mailbox.paused_at is None:
        # Two bounces recorded at once (PostgreSQL) both see a running mailbox: only the
        # transaction whose UPDATE still finds it running pauses it and sends the notice.
        now = now or utcnow()
        paused = await session.execute(
            update(Mailbox)
            .where(Mailbox.id == mailbox.id, Mailbox.paused_at.is_(None))
            .values(paused_at=now, paused_reason=reason)
            .execution_options(synchronize_session=False)
        )
        await session.refresh(mailbox, ["paused_at", "paused_reason"])
        if paused.rowcount == 1:  # type: ignore[attr-defined]
            await enqueue(
                session,
                [OutboxEvent("mailbox.paused", now, detail=f"mailbox {mailbox.name}: {reason}")],
            )
            log.warning("mailbox_paused_itself", mailbox=mailbox.name, reason=reason)
    metrics.MAILBOX_PAUSED.labels(mailbox.name).set(1 if mailbox.paused_at else 0)
    return health


async def after_bounce(
    session: AsyncSession, mailbox_id: int, min_sends: int, now: datetime | None = None
) -> None:
    """Called where a bounce is recorded: pause the mailbox now if it crossed a limit."""
    mailbox = await session.get(Mailbox, mailbox_id)
    if mailbox is not None and mailbox.paused_at is None:
        await evaluate(session, mailbox, min_sends, now)


async def sweep(session: AsyncSession, min_sends: int, now: datetime | None = None) -> int:
    """Judge every running mailbox (bounces and complaints read from the inbox since);
    returns how many paused themselves."""
    paused = 0
    for mailbox in await session.scalars(select(Mailbox).order_by(Mailbox.id)):
        was_paused = mailbox.paused_at is not None
        await evaluate(session, mailbox, min_sends, now)
        paused += int(not was_paused and mailbox.paused_at is not None)
    return paused
