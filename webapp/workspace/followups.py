""" "Follow up today": the prospects that need a human now, and why.

A prospect is on the list for the strongest of its signals since a rep last
marked it done:

* `replied`: a reply in the last `REPLY_DAYS` days;
* `clicked`: a human click in the last `CLICK_DAYS` days;
* `returned`: an out-of-office answer named a return date, reached in the last
  `RETURN_DAYS` days, and the contact has not replied since;
* `opened`: `OPENS_NEEDED` or more human opens in the last `OPEN_DAYS` days and no
  reply ever.

A reply carries its first lines (`excerpt`), from the stored reply text.

Only human hits count: machine opens (mail-privacy proxies, scanners) and bot clicks
are stored flagged and never put anyone on the list. A snoozed prospect stays off
until the snooze ends; one closed by an outcome (not interested, wrong person) comes
back only with a new reply. The list is read from the last `REPLY_DAYS` days of
events through the (campaign, time) index, so it costs the same in a campaign with
a long history.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.core.db import read_time
from webapp.core.errors import NotFound, ValidationFailed
from webapp.core.models import (
    Campaign,
    Contact,
    Content,
    Event,
    FollowUpState,
    Prospect,
    Reply,
    utcnow,
)
from webapp.core.text import excerpt
from webapp.tracking.store import bump_counters

REPLY_DAYS = 30
CLICK_DAYS = 3
OPEN_DAYS = 7
OPENS_NEEDED = 2
RETURN_DAYS = 3
SNOOZE_DAYS_MAX = 90
EXCERPT_LINES = 3

REASONS = ("replied", "clicked", "returned", "opened")
"""Strongest first: the order of the list."""
REASON_LABELS = {
    "replied": "Replied",
    "clicked": "Clicked a link",
    "returned": "Back from out of office",
    "opened": "Opened again, no reply",
}


@dataclass(frozen=True)
class FollowUp:
    """One prospect to follow up with, for its strongest reason."""

    prospect_id: int
    contact_id: int
    campaign_id: int
    reason: str
    occurred_at: datetime
    """When the signal behind the reason last happened."""
    count: int
    """How many such signals since the prospect was last done (opens, clicks, replies)."""
    prospect_name: str
    campaign_name: str
    contact_email: str
    contact_name: str
    tier: int
    hot: bool
    excerpt: str | None = None
    """The first lines of the latest reply, for `replied`."""

    @property
    def label(self) -> str:
        return REASON_LABELS[self.reason]

    @property
    def detail(self) -> str:
        if self.reason == "returned":
            return "out-of-office return date reached"
        if self.reason == "opened":
            return f"{self.count} opens"
        if self.reason == "clicked":
            return "1 click" if self.count == 1 else f"{self.count} clicks"
        return "1 reply" if self.count == 1 else f"{self.count} replies"

    def sort_key(self) -> tuple[int, int, int]:
        """(reason rank, minus microseconds since the epoch, prospect id): the list's order."""
        micros = int(self.occurred_at.timestamp() * 1_000_000)
        return (REASONS.index(self.reason), -micros, self.prospect_id)


async def follow_ups(
    session: AsyncSession,
    campaign_ids: Sequence[int] | None = None,
    *,
    now: datetime | None = None,
) -> list[FollowUp]:
    """Everyone to follow up with in these campaigns (all when None), strongest first."""
    now = now or utcnow()
    if campaign_ids is None:
        campaign_ids = list(await session.scalars(select(Campaign.id)))
    if not campaign_ids:
        return []
    since = {
        "reply": now - timedelta(days=REPLY_DAYS),
        "click": now - timedelta(days=CLICK_DAYS),
        "open": now - timedelta(days=OPEN_DAYS),
    }
    newer = (FollowUpState.done_at.is_(None)) | (Event.occurred_at > FollowUpState.done_at)
    rows = await session.execute(
        select(
            Event.prospect_id,
            Event.contact_id,
            Event.campaign_id,
            Event.kind,
            func.count().label("n"),
            func.max(Event.occurred_at).label("last"),
        )
        .outerjoin(FollowUpState, FollowUpState.prospect_id == Event.prospect_id)
        .where(
            Event.campaign_id.in_(list(campaign_ids)),
            Event.occurred_at >= since["reply"],
            Event.flagged.is_(False),
            Event.kind.in_(list(since)),
            Event.source != "inferred",
            newer,
            (FollowUpState.snoozed_until.is_(None)) | (FollowUpState.snoozed_until <= now),
        )
        .group_by(Event.prospect_id, Event.contact_id, Event.campaign_id, Event.kind)
    )
    signals: list[Any] = [row for row in rows if row.last >= since[row.kind]]
    signals += await _returns(session, campaign_ids, now)
    if not signals:
        return []
    closed = set(
        await session.scalars(
            select(FollowUpState.prospect_id).where(
                FollowUpState.prospect_id.in_({row.prospect_id for row in signals}),
                FollowUpState.closed_by.is_not(None),
            )
        )
    )
    best: dict[int, tuple[str, Any]] = {}
    per_prospect: dict[tuple[int, str], int] = {}
    for row in signals:
        key = (row.prospect_id, row.kind)
        per_prospect[key] = per_prospect.get(key, 0) + row.n
    for row in signals:
        reason = KIND_REASONS[row.kind]
        if reason != "replied" and row.prospect_id in closed:
            continue
        if reason == "opened" and per_prospect[(row.prospect_id, "open")] < OPENS_NEEDED:
            continue
        current = best.get(row.prospect_id)
        if current is None or _stronger(reason, row, *current):
            best[row.prospect_id] = (reason, row)
    # Opens only count while nobody at the prospect ever replied.
    opened_only = [pid for pid, (reason, _) in best.items() if reason == "opened"]
    if opened_only:
        answered = set(
            await session.scalars(
                select(Content.prospect_id)
                .where(Content.prospect_id.in_(opened_only), Content.replied_at.is_not(None))
                .distinct()
            )
        )
        for prospect_id in answered:
            del best[prospect_id]
    if not best:
        return []
    facts = await session.execute(
        select(Prospect, Contact, Campaign.name)
        .join(Contact, Contact.prospect_id == Prospect.id)
        .join(Campaign, Campaign.id == Prospect.campaign_id)
        .where(Prospect.id.in_(list(best)))
    )
    people: dict[int, Any] = {}
    for prospect, contact, campaign_name in facts:
        people[contact.id] = (prospect, contact, campaign_name)
    excerpts = await _excerpts(
        session, [pid for pid, (reason, _) in best.items() if reason == "replied"]
    )
    items = []
    for prospect_id, (reason, row) in best.items():
        found = people.get(row.contact_id)
        if found is None:
            continue
        prospect, contact, campaign_name = found
        kind = REASON_KINDS[reason]
        items.append(
            FollowUp(
                prospect_id=prospect_id,
                contact_id=contact.id,
                campaign_id=row.campaign_id,
                reason=reason,
                occurred_at=row.last,
                count=per_prospect[(prospect_id, kind)],
                prospect_name=prospect.name,
                campaign_name=campaign_name,
                contact_email=contact.email,
                contact_name=" ".join(
                    part for part in (contact.first_name, contact.last_name) if part
                ),
                tier=prospect.tier,
                hot=prospect.hot,
                excerpt=excerpts.get(prospect_id) if reason == "replied" else None,
            )
        )
    return sorted(items, key=FollowUp.sort_key)


KIND_REASONS = {"reply": "replied", "click": "clicked", "return": "returned", "open": "opened"}
REASON_KINDS = {reason: kind for kind, reason in KIND_REASONS.items()}


@dataclass(frozen=True)
class _Signal:
    """A row shaped like the grouped events: one out-of-office return."""

    prospect_id: int
    contact_id: int
    campaign_id: int
    kind: str
    n: int
    last: datetime


async def _returns(
    session: AsyncSession, campaign_ids: Sequence[int], now: datetime
) -> list[_Signal]:
    """Contacts whose out-of-office return date fell in the last `RETURN_DAYS` days, not
    done, snoozed or answered since (the `contacts.return_at` index)."""
    replied_since = (
        select(Content.id)
        .where(
            Content.contact_id == Contact.id,
            Content.replied_at.is_not(None),
            Content.replied_at >= Contact.return_at,
        )
        .exists()
    )
    rows = await session.execute(
        select(Contact.prospect_id, Contact.id, Contact.campaign_id, Contact.return_at)
        .outerjoin(FollowUpState, FollowUpState.prospect_id == Contact.prospect_id)
        .where(
            Contact.return_at <= now,
            Contact.return_at >= now - timedelta(days=RETURN_DAYS),
            Contact.campaign_id.in_(list(campaign_ids)),
            (FollowUpState.done_at.is_(None)) | (FollowUpState.done_at < Contact.return_at),
            (FollowUpState.snoozed_until.is_(None)) | (FollowUpState.snoozed_until <= now),
            ~replied_since,
        )
    )
    return [
        _Signal(prospect_id, contact_id, campaign_id, "return", 1, read_time(back) or now)
        for prospect_id, contact_id, campaign_id, back in rows
    ]


async def _excerpts(session: AsyncSession, prospect_ids: Sequence[int]) -> dict[int, str]:
    """The first lines of each prospect's latest stored reply."""
    if not prospect_ids:
        return {}
    latest = (
        select(func.max(Reply.id))
        .where(Reply.prospect_id.in_(sorted(prospect_ids)))
        .group_by(Reply.prospect_id)
    )
    rows = await session.execute(select(Reply.prospect_id, Reply.text).where(Reply.id.in_(latest)))
    return {prospect_id: excerpt(text, EXCERPT_LINES) for prospect_id, text in rows if text}


def _stronger(reason: str, row: Any, current_reason: str, current: Any) -> bool:
    rank, current_rank = REASONS.index(reason), REASONS.index(current_reason)
    return rank < current_rank or (rank == current_rank and row.last > current.last)


def page_of(
    items: list[FollowUp], limit: int, after: list[Any] | None
) -> tuple[list[FollowUp], list[Any] | None]:
    """Keyset page of the list: `after` is the sort key of the previous page's last item."""
    if after is not None:
        key = (int(after[0]), int(after[1]), int(after[2]))
        items = [item for item in items if item.sort_key() > key]
    page = items[:limit]
    next_key = list(page[-1].sort_key()) if len(items) > limit and page else None
    return page, next_key


async def _state(session: AsyncSession, prospect_id: int) -> FollowUpState:
    """The prospect's state row (created when missing), with a `followup_marks` counter
    bumped: live pages version on the counters, so every viewer sees the change."""
    prospect = await session.get(Prospect, prospect_id)
    if prospect is None:
        raise NotFound(f"prospect {prospect_id} does not exist")
    state = await session.get(FollowUpState, prospect_id)
    if state is None:
        state = FollowUpState(prospect_id=prospect_id, campaign_id=prospect.campaign_id)
        session.add(state)
    await bump_counters(session, {(prospect.campaign_id, prospect.tier, "followup_marks"): 1})
    return state


async def mark_done(
    session: AsyncSession, prospect_id: int, *, now: datetime | None = None
) -> FollowUpState:
    """Off the list until something new happens."""
    state = await _state(session, prospect_id)
    state.done_at = now or utcnow()
    state.snoozed_until = None
    await session.flush()
    return state


def parse_snooze_days(raw: object) -> int:
    text = str(raw if raw is not None else "").strip()
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= SNOOZE_DAYS_MAX:
        raise ValidationFailed(
            f"days must be a whole number from 1 to {SNOOZE_DAYS_MAX}", field="days"
        )
    return int(text)


async def snooze(
    session: AsyncSession, prospect_id: int, days: int, *, now: datetime | None = None
) -> FollowUpState:
    """Off the list for `days` days; signals meanwhile show when the snooze ends."""
    if not 1 <= days <= SNOOZE_DAYS_MAX:
        raise ValidationFailed(
            f"days must be a whole number from 1 to {SNOOZE_DAYS_MAX}", field="days"
        )
    state = await _state(session, prospect_id)
    state.snoozed_until = (now or utcnow()) + timedelta(days=days)
    await session.flush()
    return state


async def close(
    session: AsyncSession, prospect_id: int, outcome: str | None, *, now: datetime | None = None
) -> FollowUpState:
    """An outcome was recorded: done, and closed for `not_interested`/`wrong_person`
    (None reopens a closed prospect: a meeting after all)."""
    state = await mark_done(session, prospect_id, now=now)
    state.closed_by = outcome
    await session.flush()
    return state
