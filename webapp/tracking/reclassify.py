"""Re-judge stored opens and clicks with the current rules, and rebuild what they count.

`tune events reclassify [--campaign ID]` and a rep marking one event human or machine
both come here. A campaign's opens and clicks are replayed in the order they happened
through the same rules as the event writer (tracking/machines.py alone, then
tracking/bursts.py with the email's other hits): the user agent, the stored network
(/24 or /48: raw addresses are never stored, so a range is matched by its overlap
with the prefix), the timing, bursts and the honeypot. Then, in one transaction:
every event's flag, unique mark and rule-set version; the opens implied by human
clicks (removed and derived again); each email's first open and click; each
prospect's last activity (its latest human open, click or reply, which the
activity sort of the prospect list reads); the campaign's open and click counters
and hourly buckets.

What cannot be judged again stays as it was: HEAD and other non-GET hits (the
method is not stored), events anonymised by `tune events anonymise` (nothing left to
judge), and events a rep marked by hand (rule-set version 0). Events reported by
the API stay human. Webhooks already delivered are history: reclassifying sends or
withdraws nothing.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.core.db import Database
from webapp.core.errors import NotFound, ValidationFailed
from webapp.core.models import (
    ActivityBucket,
    Campaign,
    CampaignCounter,
    Content,
    Event,
    Prospect,
)
from webapp.tracking.bursts import JUDGED_SOURCES, Quarantine, Seen, judge
from webapp.tracking.events import hour_bucket, seconds_between
from webapp.tracking.machines import (
    HEAD_REQUEST,
    HONEYPOT,
    MACHINE_BY_REP,
    NOT_GET,
    PREFETCH_HEAD,
    PROXY,
    RULESET,
    classify_click,
    classify_open,
)

STANDING_REASONS = frozenset({PREFETCH_HEAD, HEAD_REQUEST, NOT_GET})
"""Reasons that came from the request's method, which is not stored: they stand."""
BY_REP = 0
"""The rule-set version of an event a rep marked by hand."""
COUNTERS = ("open_total", "open_unique", "open_machine", "click_total", "click_unique", "click_bot")


@dataclass
class Changes:
    """What one reclassification changed."""

    campaigns: int = 0
    events: int = 0
    clicks_to_bot: int = 0
    clicks_to_human: int = 0
    opens_to_machine: int = 0
    opens_to_human: int = 0
    by_campaign: dict[int, int] = field(default_factory=dict)
    """Campaign id -> events whose verdict changed there."""

    def summary(self) -> str:
        moved = len([cid for cid, count in self.by_campaign.items() if count])
        where = f"in {moved} campaign{'s' * (moved != 1)}"
        return (
            f"{self.clicks_to_bot} clicks reclassified as bot and {self.clicks_to_human} as "
            f"human, {self.opens_to_machine} opens as machine and {self.opens_to_human} as "
            f"human {where} ({self.events} events in {self.campaigns} campaigns judged again)"
        )


async def reclassify(session: AsyncSession, campaign_id: int | None = None) -> Changes:
    """Re-judge one campaign's opens and clicks (every campaign's when None)."""
    if campaign_id is None:
        ids = list(await session.scalars(select(Campaign.id).order_by(Campaign.id)))
    else:
        if await session.get(Campaign, campaign_id) is None:
            raise NotFound(f"campaign {campaign_id} does not exist")
        ids = [campaign_id]
    changes = Changes()
    for cid in ids:
        await _campaign(session, cid, changes)
    return changes


FLAG_REASONS = """
SELECT e.kind, e.flag_reason, count(e.id)
FROM campaigns c
LEFT JOIN events e ON e.campaign_id = c.id AND e.flagged AND e.kind IN ('open', 'click')
WHERE c.id = ?
GROUP BY e.kind, e.flag_reason
"""
"""The campaign's flagged opens and clicks counted by kind and reason, by plain SQL: one row
of nulls (counting 0) when there are none, no row when there is no such campaign. Read from
`ix_events_flag_reasons`, which holds flagged hits only (migration 0025)."""


async def flag_reasons(db: Database, campaign_id: int) -> list[tuple[str, str, int]]:
    """(kind, reason, count) of the campaign's flagged opens and clicks, most frequent first;
    NotFound when there is no such campaign."""
    rows = await db.fetch_all_shared(FLAG_REASONS, (campaign_id,))
    if not rows:
        raise NotFound(f"campaign {campaign_id} does not exist")
    found = [(kind, reason or "unknown", int(count)) for kind, reason, count in rows if kind]
    return sorted(found, key=lambda row: (-row[2], row[0], row[1]))


async def mark_event(session: AsyncSession, event_id: int, *, human: bool) -> Changes:
    """A rep's verdict on one open or click; the campaign's figures follow it."""
    event = await session.get(Event, event_id)
    if event is None:
        raise NotFound(f"event {event_id} does not exist")
    if event.kind not in ("open", "click") or event.source == "inferred":
        raise ValidationFailed("only opens and clicks can be marked", field="event_id")
    was_flagged, kind, campaign_id = event.flagged, event.kind, event.campaign_id
    event.flagged = not human
    event.flag_reason = None if human else MACHINE_BY_REP
    event.ruleset = BY_REP
    await session.flush()
    changes = await reclassify(session, campaign_id)
    if was_flagged == human:  # the rep's own change, which the replay took as given
        changes.by_campaign[campaign_id] += 1
        if kind == "click":
            changes.clicks_to_bot += not human
            changes.clicks_to_human += human
        else:
            changes.opens_to_machine += not human
            changes.opens_to_human += human
    return changes


@dataclass
class _Email:
    content_id: int
    contact_id: int
    prospect_id: int
    tier: int
    sent_at: datetime | None
    firsts: dict[str, Seen | None] = field(default_factory=lambda: {"open": None, "click": None})
    window: list[Seen] = field(default_factory=list)


async def _campaign(session: AsyncSession, campaign_id: int, changes: Changes) -> None:
    query = (
        select(Content.id, Content.contact_id, Content.prospect_id, Content.tier, Content.sent_at)
        .where(Content.campaign_id == campaign_id)
        .order_by(Content.id)
    )
    if session.get_bind().dialect.name == "postgresql":
        # The event writer locks the contents it writes for in the same order: no batch
        # can commit hits of this campaign between this replay's read and its writes.
        query = query.with_for_update(of=Content)
    emails = {
        row.id: _Email(row.id, row.contact_id, row.prospect_id, row.tier, row.sent_at)
        for row in await session.execute(query)
    }
    rows = (
        await session.execute(
            select(Event)
            .where(Event.campaign_id == campaign_id, Event.kind.in_(("open", "click")))
            .order_by(Event.occurred_at, Event.id)
        )
    ).scalars()
    replay = _Replay(emails)
    before: dict[int, tuple[str, bool]] = {}
    for event in rows:
        if event.source == "inferred" or event.content_id not in emails:
            continue
        before[event.id] = (event.kind, event.flagged)
        replay.add(event)
    changes.campaigns += 1
    changes.events += len(before)
    moved = 0
    for event_id, (kind, was_flagged) in before.items():
        now_flagged = replay.verdicts[event_id].flag is not None
        if now_flagged == was_flagged:
            continue
        moved += 1
        if kind == "click":
            changes.clicks_to_bot += now_flagged
            changes.clicks_to_human += not now_flagged
        else:
            changes.opens_to_machine += now_flagged
            changes.opens_to_human += not now_flagged
    changes.by_campaign[campaign_id] = moved
    await replay.write(session, campaign_id)


class _Replay:
    """The writer's rules, run over stored events in the order they happened."""

    def __init__(self, emails: dict[int, _Email]) -> None:
        self.emails = emails
        self.quarantine = Quarantine()
        self.verdicts: dict[int, Seen] = {}
        self.rulesets: dict[int, int | None] = {}
        self.fixed: set[int] = set()
        self.content_of: dict[int, int] = {}
        self.inferred: dict[int, Seen] = {}
        """id() of a human click -> the open it implies."""

    def add(self, event: Event) -> None:
        email = self.emails[event.content_id]  # type: ignore[index]
        hit_like = event.source in JUDGED_SOURCES
        anonymised = hit_like and not (event.user_agent or event.ip_hash or event.ip_prefix)
        by_rep = event.ruleset == BY_REP
        rejudged = hit_like and not anonymised and not by_rep
        if by_rep or (hit_like and not rejudged):
            flag = event.flag_reason if event.flagged else None
            self.fixed.add(event.id)
        elif rejudged:
            flag = self._alone(event, email)
        else:
            flag = None  # reported by the team's own systems: trusted
        seen = Seen(
            event.kind,
            event.source,
            event.link_id,
            event.occurred_at,
            event.ip_prefix,
            event.ip_hash,
            None,
            False,
            event_id=event.id,
        )
        if hit_like:
            if rejudged:
                flag = flag or self.quarantine.flag(event.ip_hash, event.occurred_at)
            verdict = judge(email.window, seen)
            if rejudged:
                flag = verdict.flag or flag
            for earlier, reason in verdict.reflag:
                if earlier.event_id not in self.fixed:
                    self._reflag(earlier, reason, email)
            if event.source == "honeypot":
                self.quarantine.catch(event.ip_hash, event.occurred_at)
        seen.flag = flag
        if flag is None and email.firsts[event.kind] is None:
            seen.unique = True
            email.firsts[event.kind] = seen
        if hit_like:
            email.window.append(seen)
        self.verdicts[event.id] = seen
        self.content_of[event.id] = email.content_id
        self.rulesets[event.id] = BY_REP if by_rep else (RULESET if hit_like else event.ruleset)
        if flag is None and event.kind == "click" and email.firsts["open"] is None:
            opened = Seen(
                "open", "inferred", None, event.occurred_at, seen.prefix, seen.address, None, True
            )
            email.firsts["open"] = opened
            email.window.append(opened)
            self.inferred[id(seen)] = opened

    def _alone(self, event: Event, email: _Email) -> str | None:
        if event.flag_reason in STANDING_REASONS:
            return event.flag_reason
        if event.source == "honeypot":
            return HONEYPOT
        sent_ago = seconds_between(event.occurred_at, email.sent_at)
        if event.kind == "open":
            reason = classify_open(
                user_agent=event.user_agent,
                ip=None,
                method="GET",
                seconds_since_sent=sent_ago,
                prefix=event.ip_prefix,
            )
            return None if reason == PROXY else reason
        opened = email.firsts["open"]
        return classify_click(
            user_agent=event.user_agent,
            ip=None,
            method="GET",
            seconds_since_sent=sent_ago,
            opened_before=opened is not None and opened.at <= event.occurred_at,
            prefix=event.ip_prefix,
        )

    def _reflag(self, seen: Seen, reason: str, email: _Email) -> None:
        if seen.flag is not None:
            return
        seen.flag = reason
        if seen.unique:
            seen.unique = False
            email.firsts[seen.kind] = None
        implied = self.inferred.pop(id(seen), None)
        if implied is not None:
            email.window.remove(implied)
            if email.firsts["open"] is implied:
                email.firsts["open"] = None

    async def write(self, session: AsyncSession, campaign_id: int) -> None:
        await session.execute(
            delete(Event).where(Event.campaign_id == campaign_id, Event.source == "inferred")
        )
        if self.verdicts:
            await session.execute(
                update(Event),
                [
                    {
                        "id": event_id,
                        "flagged": seen.flag is not None,
                        "flag_reason": seen.flag,
                        "unique_hit": seen.unique,
                        "ruleset": self.rulesets[event_id],
                    }
                    for event_id, seen in self.verdicts.items()
                ],
            )
        owners = {id(opened): click for click, opened in self.inferred.items()}
        inferred = [
            (email, seen)
            for email in self.emails.values()
            for seen in email.window
            if seen.source == "inferred" and id(seen) in owners
        ]
        if inferred:
            await session.execute(
                insert(Event),
                [
                    {
                        "kind": "open",
                        "campaign_id": campaign_id,
                        "content_id": e.content_id,
                        "contact_id": e.contact_id,
                        "prospect_id": e.prospect_id,
                        "tier": e.tier,
                        "occurred_at": seen.at,
                        "flagged": False,
                        "unique_hit": True,
                        "source": "inferred",
                        "ruleset": RULESET,
                    }
                    for e, seen in inferred
                ],
            )
        if self.emails:
            await session.execute(
                update(Content),
                [
                    {
                        "id": e.content_id,
                        "first_opened_at": e.firsts["open"].at if e.firsts["open"] else None,
                        "first_clicked_at": e.firsts["click"].at if e.firsts["click"] else None,
                    }
                    for e in self.emails.values()
                ],
            )
        await self._activity(session, campaign_id)
        await self._counts(session, campaign_id, inferred)

    async def _activity(self, session: AsyncSession, campaign_id: int) -> None:
        """Each prospect's last activity, as the writer sets it (its latest human open,
        click or reply), from the verdicts: a hit now judged a machine's no longer
        counts, one now judged human does; replies are not judged again."""
        latest: dict[int, datetime] = {}

        def saw(prospect_id: int, moment: datetime) -> None:
            if prospect_id not in latest or latest[prospect_id] < moment:
                latest[prospect_id] = moment

        for event_id, seen in self.verdicts.items():
            if seen.flag is None:
                saw(self.emails[self.content_of[event_id]].prospect_id, seen.at)
        replies = await session.execute(
            select(Event.prospect_id, func.max(Event.occurred_at))
            .where(
                Event.campaign_id == campaign_id,
                Event.kind == "reply",
                Event.flagged.is_(False),
                Event.prospect_id.is_not(None),
            )
            .group_by(Event.prospect_id)
        )
        for prospect_id, moment in replies:
            if moment is not None:
                saw(prospect_id, moment)
        current = await session.execute(
            select(Prospect.id, Prospect.last_activity_at).where(
                Prospect.campaign_id == campaign_id
            )
        )
        changed = [
            {"id": prospect_id, "last_activity_at": latest.get(prospect_id)}
            for prospect_id, was in current
            if latest.get(prospect_id) != was
        ]
        if changed:
            await session.execute(update(Prospect), changed)

    async def _counts(
        self, session: AsyncSession, campaign_id: int, inferred: list[tuple[_Email, Seen]]
    ) -> None:
        counters: dict[tuple[int, str], int] = defaultdict(int)
        buckets: dict[tuple[datetime, str], int] = defaultdict(int)
        tiers = {email.content_id: email.tier for email in self.emails.values()}
        everything: list[tuple[int, Seen]] = [
            *((email.content_id, seen) for email, seen in inferred),
            *((self.content_of[event_id], seen) for event_id, seen in self.verdicts.items()),
        ]
        for content_id, seen in everything:
            tier, kind = tiers[content_id], seen.kind
            counters[(tier, f"{kind}_total")] += 1
            if seen.flag is not None:
                counters[(tier, "open_machine" if kind == "open" else "click_bot")] += 1
            elif seen.unique:
                counters[(tier, f"{kind}_unique")] += 1
            buckets[(hour_bucket(seen.at), kind)] += 1
        await session.execute(
            delete(CampaignCounter).where(
                CampaignCounter.campaign_id == campaign_id, CampaignCounter.name.in_(COUNTERS)
            )
        )
        if counters:
            await session.execute(
                insert(CampaignCounter),
                [
                    {"campaign_id": campaign_id, "tier": tier, "name": name, "value": value}
                    for (tier, name), value in sorted(counters.items())
                ],
            )
        await session.execute(
            delete(ActivityBucket).where(
                ActivityBucket.campaign_id == campaign_id,
                ActivityBucket.kind.in_(("open", "click")),
            )
        )
        if buckets:
            await session.execute(
                insert(ActivityBucket),
                [
                    {"campaign_id": campaign_id, "bucket": bucket, "kind": kind, "value": value}
                    for (bucket, kind), value in sorted(buckets.items())
                ],
            )
