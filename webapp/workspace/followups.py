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
are stored flagged and never put anyone on the list, and a tracked click or open
counts only once its classification has settled (`CLICK_SETTLE_SECONDS`,
tracking/settle.py), so a scanner's click re-flagged by a later hit never shows
here. A snoozed prospect stays off
until the snooze ends; one closed by an outcome (not interested, wrong person) comes
back only with a new reply. The list is one SQL query (`_listed`: grouped events,
window functions to pick each prospect's strongest signal) over the last
`REPLY_DAYS` days of events, read from the partial covering index
`ix_events_human_signals` (unflagged events only, by campaign and time) without
touching the events' rows, so it costs the same in a campaign with a long history
and machine hits cost it nothing. It is paged in the database by keyset on (reason
rank, time of the signal, prospect id), and only the page's prospects, contacts and
campaigns are joined: `bench/followups.py` measures it at 100,000 events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Integer,
    Select,
    String,
    case,
    false,
    func,
    literal,
    or_,
    select,
    text,
    union_all,
)
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
from webapp.tracking import settle
from webapp.tracking.store import bump_counters

REPLY_DAYS = 30
CLICK_DAYS = 3
OPEN_DAYS = 7
OPENS_NEEDED = 2
RETURN_DAYS = 3
SNOOZE_DAYS_MAX = 90
EXCERPT_LINES = 3
FOLLOWUPS_SHOWN = 50
"""Items a page or panel shows; the API pages through the rest."""

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
    limit: int | None = None,
    after: Sequence[Any] | None = None,
) -> list[FollowUp]:
    """Everyone to follow up with in these campaigns (all when None), strongest first;
    `limit` items after the sort key `after` when given (a keyset page)."""
    items, _ = await _read(session, campaign_ids, now=now, limit=limit, after=after)
    return items


async def follow_up_panel(
    session: AsyncSession, campaign_ids: Sequence[int] | None, *, now: datetime | None = None
) -> tuple[list[FollowUp], int]:
    """The first `FOLLOWUPS_SHOWN` of the list and how many it holds, in one query."""
    return await _read(session, campaign_ids, now=now, limit=FOLLOWUPS_SHOWN)


async def _read(
    session: AsyncSession,
    campaign_ids: Sequence[int] | None,
    *,
    now: datetime | None,
    limit: int | None = None,
    after: Sequence[Any] | None = None,
) -> tuple[list[FollowUp], int]:
    now = now or utcnow()
    if campaign_ids is None:
        # Every campaign, named: the events are then read through the (campaign, time)
        # index, never by a scan of the whole history.
        campaign_ids = list(await session.scalars(select(Campaign.id)))
    listed = _listed(campaign_ids, now)
    best = listed.selected_columns
    if after is not None:
        rank, minus_micros, prospect_id = (int(part) for part in after)
        last = EPOCH + timedelta(microseconds=-minus_micros)
        listed = listed.where(
            (best.rank > rank)
            | (
                (best.rank == rank)
                & ((best.last < last) | ((best.last == last) & (best.prospect_id > prospect_id)))
            )
        )
    listed = listed.order_by(best.rank, best.last.desc(), best.prospect_id)
    if limit is not None:
        listed = listed.limit(limit)
    # The people behind the page only: joined after the page is cut, not for the whole list.
    page = listed.subquery("page")
    query = (
        select(
            page,
            Prospect.name.label("prospect_name"),
            Prospect.tier,
            Prospect.hot,
            Campaign.name.label("campaign_name"),
            Contact.email.label("contact_email"),
            Contact.first_name,
            Contact.last_name,
        )
        .join(Prospect, Prospect.id == page.c.prospect_id)
        .join(Contact, (Contact.id == page.c.contact_id) & (Contact.prospect_id == Prospect.id))
        .join(Campaign, Campaign.id == Prospect.campaign_id)
        .order_by(page.c.rank, page.c.last.desc(), page.c.prospect_id)
    )
    if session.get_bind().dialect.name == "postgresql":
        # Its cost estimate can pass `jit_above_cost` while it runs in about 100 ms:
        # compiling it took longer than running it (about 90 ms with a year of events).
        await session.execute(text("SET LOCAL jit = off"))
    rows = (await session.execute(query)).all()
    excerpts = await _excerpts(session, [row.prospect_id for row in rows if row.kind == "reply"])
    items = [
        FollowUp(
            prospect_id=row.prospect_id,
            contact_id=row.contact_id,
            campaign_id=row.campaign_id,
            reason=KIND_REASONS[row.kind],
            occurred_at=read_time(row.last) or now,
            count=int(row.total),
            prospect_name=row.prospect_name,
            campaign_name=row.campaign_name,
            contact_email=row.contact_email,
            contact_name=" ".join(part for part in (row.first_name, row.last_name) if part),
            tier=row.tier,
            hot=row.hot,
            excerpt=excerpts.get(row.prospect_id) if row.kind == "reply" else None,
        )
        for row in rows
    ]
    return items, int(rows[0].listed) if rows else 0


async def follow_up_page(
    session: AsyncSession,
    campaign_ids: Sequence[int] | None,
    limit: int,
    after: Sequence[Any] | None,
    *,
    now: datetime | None = None,
) -> tuple[list[FollowUp], list[Any] | None]:
    """One keyset page of the list and the key to continue after (None on the last)."""
    found = await follow_ups(session, campaign_ids, now=now, limit=limit + 1, after=after)
    page = found[:limit]
    return page, (list(page[-1].sort_key()) if len(found) > limit and page else None)


KIND_REASONS = {"reply": "replied", "click": "clicked", "return": "returned", "open": "opened"}
REASON_KINDS = {reason: kind for kind, reason in KIND_REASONS.items()}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _listed(campaign_ids: Sequence[int] | None, now: datetime) -> Select[Any]:
    """The list as one query: each prospect's strongest signal with the people behind it.

    1. signals: the last `REPLY_DAYS` days of human events per (prospect, contact,
       kind) since the prospect was done, outside a snooze, each kind within its own
       window (the campaign-and-time index), and contacts whose out-of-office return
       date fell in the last `RETURN_DAYS` days with no reply since;
    2. each kept only where it may count: a closed prospect (not interested, wrong
       person) only for a reply, opens only from `OPENS_NEEDED` at the prospect and
       only while nobody there ever replied;
    3. the strongest per prospect (its rank, then the latest), ordered for paging.
    """
    state = FollowUpState
    since = {
        "reply": now - timedelta(days=REPLY_DAYS),
        "click": now - timedelta(days=CLICK_DAYS),
        "open": now - timedelta(days=OPEN_DAYS),
    }
    campaigns: Any = list(campaign_ids) if campaign_ids is not None else select(Campaign.id)

    last = func.max(Event.occurred_at)
    events = (
        select(
            Event.prospect_id.label("prospect_id"),
            Event.contact_id.label("contact_id"),
            Event.campaign_id.label("campaign_id"),
            Event.kind.label("kind"),
            func.count().label("n"),
            last.label("last"),
        )
        .outerjoin(state, state.prospect_id == Event.prospect_id)
        .where(
            Event.occurred_at >= since["reply"],
            # `= false`, as the partial index `ix_events_human_signals` is written.
            Event.flagged == false(),
            Event.campaign_id.in_(campaigns),
            Event.kind.in_(list(since)),
            Event.source != "inferred",
            # A tracked click or open acts on people once its classification has
            # settled; replies and events reported by the team's systems are never judged.
            (Event.kind == "reply")
            | Event.source.not_in(("pixel", "link"))
            | (Event.occurred_at <= settle.settled_before(now)),
            (state.done_at.is_(None)) | (Event.occurred_at > state.done_at),
            (state.snoozed_until.is_(None)) | (state.snoozed_until <= now),
            # Each kind counted within its own window: two opens means two in the
            # last `OPEN_DAYS` days, not one of them three weeks ago.
            or_(
                *(
                    (Event.kind == kind) & (Event.occurred_at >= moment)
                    for kind, moment in since.items()
                )
            ),
        )
        .group_by(Event.prospect_id, Event.contact_id, Event.campaign_id, Event.kind)
    )
    replied_since = (
        select(Content.id)
        .where(
            Content.contact_id == Contact.id,
            Content.replied_at.is_not(None),
            Content.replied_at >= Contact.return_at,
        )
        .exists()
    )
    returns = (
        select(
            Contact.prospect_id,
            Contact.id,
            Contact.campaign_id,
            literal("return", String(16)),
            literal(1, Integer),
            Contact.return_at,
        )
        .outerjoin(state, state.prospect_id == Contact.prospect_id)
        .where(
            Contact.return_at <= now,
            Contact.return_at >= now - timedelta(days=RETURN_DAYS),
            (state.done_at.is_(None)) | (state.done_at < Contact.return_at),
            (state.snoozed_until.is_(None)) | (state.snoozed_until <= now),
            ~replied_since,
        )
    )
    if campaign_ids is not None:
        returns = returns.where(Contact.campaign_id.in_(list(campaign_ids)))
    signals = union_all(events, returns).cte("signals")
    rank = case(
        *((signals.c.kind == REASON_KINDS[reason], number) for number, reason in enumerate(REASONS))
    )
    scored = select(
        signals,
        rank.label("rank"),
        func.sum(signals.c.n)
        .over(partition_by=(signals.c.prospect_id, signals.c.kind))
        .label("total"),
    ).cte("scored")
    closed = (
        select(state.prospect_id)
        .where(state.prospect_id == scored.c.prospect_id, state.closed_by.is_not(None))
        .exists()
    )
    answered = (
        select(Content.id)
        .where(
            # The campaigns too: the covering `ix_contents_prospect_engagement` answers
            # it (PostgreSQL hashes these campaigns' replied emails, not every one).
            Content.campaign_id.in_(campaigns),
            Content.campaign_id == scored.c.campaign_id,
            Content.prospect_id == scored.c.prospect_id,
            Content.replied_at.is_not(None),
        )
        .exists()
    )
    strongest = func.row_number().over(
        partition_by=scored.c.prospect_id,
        order_by=(scored.c.rank, scored.c.last.desc(), scored.c.contact_id),
    )
    best = (
        select(scored, strongest.label("place"))
        .where(
            (scored.c.kind == "reply") | ~closed,
            (scored.c.kind != "open") | ((scored.c.total >= OPENS_NEEDED) & ~answered),
        )
        .cte("best")
    )
    return select(
        best.c.prospect_id,
        best.c.contact_id,
        best.c.campaign_id,
        best.c.kind,
        best.c.last,
        best.c.total,
        best.c.rank,
        func.count().over().label("listed"),
    ).where(best.c.place == 1)


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
