"""Where a mailbox stands now, and which mailbox holds a campaign's queue back.

`mailbox_states` reads each mailbox's caps in force, what its rolling windows have
left and its health (the dashboard, the API and `tune mailboxes list` show these).
`campaign_progress` splits a campaign's pending emails by mailbox (contacts not yet
assigned are spread over its running mailboxes by daily cap, as routing will spread
them), estimates when each mailbox's share drains at its caps, and names the
mailbox that finishes last: the bottleneck. A mailbox whose relay is failing (the
sender's breaker for it is open) is `held_until` the time it is tried again.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.core.models import Contact, Content, Mailbox, utcnow
from webapp.mailboxes.capacity import DAY, HOUR, Slots, Usage, daily_cap_today, mailbox_limit
from webapp.mailboxes.health import Health, health_of
from webapp.mailboxes.store import campaign_mailboxes


@dataclass(frozen=True)
class MailboxState:
    mailbox: Mailbox
    daily_cap_today: int
    usage: Usage
    health: Health


async def mailbox_state(
    session: AsyncSession, slots: Slots, mailbox: Mailbox, now: datetime | None = None
) -> MailboxState:
    now = now or utcnow()
    usage = await slots.usage(session, mailbox_limit(mailbox, now), now)
    return MailboxState(
        mailbox, daily_cap_today(mailbox, now), usage, await health_of(session, mailbox.id)
    )


async def mailbox_states(
    session: AsyncSession, slots: Slots, mailboxes: list[Mailbox], now: datetime | None = None
) -> list[MailboxState]:
    now = now or utcnow()
    return [await mailbox_state(session, slots, mailbox, now) for mailbox in mailboxes]


@dataclass(frozen=True)
class MailboxQueue:
    """One mailbox's share of a campaign's pending emails."""

    name: str
    pending: int
    """Emails of contacts assigned to it, plus its expected share of the unassigned."""
    remaining: int
    paused: bool
    drain_seconds: float | None
    """None while the mailbox is paused (its share waits for a rep)."""
    held_until: datetime | None = None
    """Set while the mailbox's relay is failing: when it is tried again."""


@dataclass(frozen=True)
class CampaignProgress:
    mailboxes: list[MailboxQueue]
    bottleneck: str | None
    drains_at: datetime | None


def drain_seconds(pending: int, usage: Usage, daily: int, hourly: int, gap: float) -> float:
    """Seconds to send `pending` emails at these caps, from the windows' state now."""
    if pending <= 0:
        return 0.0
    per_hour = min(hourly, 3600 / gap) if gap else hourly
    first = min(pending, usage.remaining)
    seconds = first * gap
    rest = pending - first
    if rest <= 0:
        return seconds
    if usage.next_free is not None:
        seconds = max(seconds, (usage.next_free - utcnow()).total_seconds())
    days, left = divmod(rest, max(daily, 1))
    return seconds + days * DAY + math.ceil(left / max(per_hour, 1e-9)) * HOUR


async def campaign_progress(
    session: AsyncSession,
    slots: Slots,
    campaign_id: int,
    now: datetime | None = None,
    held: Mapping[str, datetime] | None = None,
) -> CampaignProgress:
    """The campaign's pending emails by mailbox, the bottleneck and the drain estimate;
    `held`: the mailboxes whose relay is failing, with the time each is tried again."""
    now = now or utcnow()
    held = held or {}
    mailboxes = await campaign_mailboxes(session, campaign_id)
    assigned = {
        mailbox_id: int(count)
        for mailbox_id, count in await session.execute(
            select(Contact.mailbox_id, func.count())
            .select_from(Content)
            .join(Contact, Contact.id == Content.contact_id)
            .where(
                Content.campaign_id == campaign_id,
                Content.send_status.in_(("queued", "sending")),
            )
            .group_by(Contact.mailbox_id)
        )
    }
    unassigned = assigned.pop(None, 0)
    for mailbox_id in assigned:
        if all(mailbox.id != mailbox_id for mailbox in mailboxes):
            found = await session.get(Mailbox, mailbox_id)
            if found is not None:
                mailboxes.append(found)
    if not mailboxes:
        return CampaignProgress([], None, None)
    states = await mailbox_states(session, slots, mailboxes, now)
    # Contacts not yet assigned go to running mailboxes; with none running, they wait on all.
    takers = [state for state in states if state.mailbox.paused_at is None] or states
    total_daily = sum(state.daily_cap_today for state in takers) or 1
    queues = []
    for state in states:
        mailbox = state.mailbox
        share = 0
        if state in takers:
            share = math.ceil(unassigned * state.daily_cap_today / total_daily)
        pending = assigned.get(mailbox.id, 0) + share
        queues.append(
            MailboxQueue(
                name=mailbox.name,
                pending=pending,
                remaining=state.usage.remaining,
                paused=mailbox.paused_at is not None,
                drain_seconds=None
                if mailbox.paused_at is not None
                else drain_seconds(
                    pending,
                    state.usage,
                    state.daily_cap_today,
                    mailbox.hourly_cap,
                    float(mailbox.min_gap_seconds),
                )
                + max(
                    0.0, (held[mailbox.name] - now).total_seconds() if mailbox.name in held else 0.0
                ),
                held_until=held.get(mailbox.name),
            )
        )
    busy = [queue for queue in queues if queue.pending]
    if not busy:
        return CampaignProgress(queues, None, None)
    stuck = [queue for queue in busy if queue.drain_seconds is None]
    if stuck:
        return CampaignProgress(queues, stuck[0].name, None)
    slowest = max(busy, key=lambda queue: queue.drain_seconds or 0.0)
    drains_at = now + timedelta(seconds=slowest.drain_seconds or 0.0)
    return CampaignProgress(queues, slowest.name, drains_at)
