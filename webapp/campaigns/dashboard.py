"""What the dashboard pages show: campaign figures, tier summaries, prospect search.

Figures come from the aggregate counters (`campaign_counters`), never from
counting events, so a page costs the same with ten events or ten million.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.campaigns.queries import counters, list_campaigns, summed
from webapp.campaigns.status import campaign_statuses
from webapp.campaigns.timeline import TimelineEntry, latest_activity
from webapp.core.common import TIERS
from webapp.core.models import ActivityBucket, Campaign, Contact, Prospect, utcnow
from webapp.core.paging import PageRequest
from webapp.prospects.queries import prospects_in_tier
from webapp.prospects.scoring.seniority import seniority_rank
from webapp.workspace.followups import FollowUp, follow_ups

SEARCH_MAX = 100
CHART_KINDS = ("open", "click", "reply")
HOURLY_SPAN = timedelta(hours=48)
DAILY_SPAN = timedelta(days=30)


def rate(part: int, whole: int) -> float | None:
    """`part / whole`, or None when nothing was sent (shown as a dash, not 0 %)."""
    return part / whole if whole else None


@dataclass(frozen=True)
class Figures:
    """The headline numbers of a campaign or one of its tiers."""

    sent: int = 0
    opened: int = 0
    opens_total: int = 0
    opens_machine: int = 0
    clicked: int = 0
    clicks_total: int = 0
    clicks_bot: int = 0
    replied: int = 0
    meetings: int = 0
    unsubscribed: int = 0
    bounced: int = 0
    auto_replied: int = 0
    complained: int = 0

    @classmethod
    def of(cls, values: dict[str, int]) -> Figures:
        return cls(
            sent=values.get("sent", 0),
            opened=values.get("open_unique", 0),
            opens_total=values.get("open_total", 0),
            opens_machine=values.get("open_machine", 0),
            clicked=values.get("click_unique", 0),
            clicks_total=values.get("click_total", 0),
            clicks_bot=values.get("click_bot", 0),
            replied=values.get("reply", 0),
            meetings=values.get("meeting", 0),
            unsubscribed=values.get("unsubscribe", 0),
            bounced=values.get("bounce", 0),
            auto_replied=values.get("auto_reply", 0),
            complained=values.get("complaint", 0),
        )

    @property
    def open_rate(self) -> float | None:
        return rate(self.opened, self.sent)

    @property
    def click_rate(self) -> float | None:
        return rate(self.clicked, self.sent)

    @property
    def reply_rate(self) -> float | None:
        return rate(self.replied, self.sent)


@dataclass(frozen=True)
class CampaignRow:
    campaign: Campaign
    figures: Figures
    status: str


async def campaign_rows(
    session: AsyncSession, page: PageRequest
) -> tuple[list[CampaignRow], list[Any] | None]:
    """Campaigns newest first with their figures (one counters query for the page)."""
    rows, next_key = await list_campaigns(session, page)
    values = await counters(session, [row.id for row in rows])
    statuses = await campaign_statuses(session, rows)
    return [
        CampaignRow(row, Figures.of(summed(values[row.id])), statuses[row.id]) for row in rows
    ], next_key


@dataclass(frozen=True)
class CampaignFigures:
    total: Figures
    tiers: dict[int, Figures]


async def campaign_figures(session: AsyncSession, campaign_id: int) -> CampaignFigures:
    per_tier = (await counters(session, [campaign_id]))[campaign_id]
    return CampaignFigures(
        total=Figures.of(summed(per_tier)),
        tiers={tier: Figures.of(per_tier.get(tier, {})) for tier in TIERS},
    )


async def tier_sizes(session: AsyncSession, campaign_id: int) -> dict[int, int]:
    rows = await session.execute(
        select(Prospect.tier, func.count())
        .where(Prospect.campaign_id == campaign_id)
        .group_by(Prospect.tier)
    )
    sizes = {tier: 0 for tier in TIERS}
    for tier, count in rows:
        sizes[tier] = count
    return sizes


def clean_search(raw: object) -> str:
    """The search text, trimmed to a sane length ("" for none)."""
    if not isinstance(raw, str):
        return ""
    return " ".join(raw.split())[:SEARCH_MAX]


@dataclass(frozen=True)
class ProspectRow:
    prospect: Prospect
    best_contact: Contact | None
    contact_count: int


def best_contact(contacts: list[Contact]) -> Contact | None:
    """The most senior contact still subscribed (first imported on a tie)."""
    reachable = [c for c in contacts if c.unsubscribed_at is None] or contacts
    if not reachable:
        return None
    return max(reachable, key=lambda c: (seniority_rank(c.title), -c.id))


async def search_tier(
    session: AsyncSession, campaign_id: int, tier: int, search: str, page: PageRequest
) -> tuple[list[ProspectRow], list[Any] | None]:
    """A tier's prospects, hot first then by score (keyset on hot, score, id), searched by
    company, domain, contact name or email."""
    matching = None
    if search:
        needle = search.lower()
        matching = or_(
            func.lower(Prospect.name).contains(needle, autoescape=True),
            func.lower(Prospect.domain).contains(needle, autoescape=True),
            exists().where(
                Contact.prospect_id == Prospect.id,
                or_(
                    func.lower(Contact.email).contains(needle, autoescape=True),
                    func.lower(
                        func.coalesce(Contact.first_name, "")
                        + " "
                        + func.coalesce(Contact.last_name, "")
                    ).contains(needle, autoescape=True),
                ),
            ),
        )
    prospects, next_key = await prospects_in_tier(session, campaign_id, tier, page, matching)
    rows = [ProspectRow(p, best_contact(list(p.contacts)), len(p.contacts)) for p in prospects]
    return rows, next_key


@dataclass
class ActivitySeries:
    """Counts per time bucket for the chart: hourly for young campaigns, daily after."""

    unit: str
    starts: list[datetime]
    values: dict[str, list[int]] = field(default_factory=dict)


async def activity_series(
    session: AsyncSession, campaign: Campaign, now: datetime | None = None
) -> ActivitySeries:
    now = now or utcnow()
    end_hour = now.replace(minute=0, second=0, microsecond=0)
    if now - campaign.created_at <= HOURLY_SPAN:
        unit, step = "hour", timedelta(hours=1)
        first = end_hour - HOURLY_SPAN + step
    else:
        unit, step = "day", timedelta(days=1)
        first = end_hour.replace(hour=0) - DAILY_SPAN + step
    starts: list[datetime] = []
    moment = first
    while moment <= end_hour:
        starts.append(moment)
        moment += step
    index = {start: i for i, start in enumerate(starts)}
    series = ActivitySeries(unit, starts, {kind: [0] * len(starts) for kind in CHART_KINDS})
    rows = await session.execute(
        select(ActivityBucket.bucket, ActivityBucket.kind, ActivityBucket.value).where(
            ActivityBucket.campaign_id == campaign.id,
            ActivityBucket.bucket >= first,
            ActivityBucket.kind.in_(CHART_KINDS),
        )
    )
    for bucket, kind, value in rows:
        key = bucket if unit == "hour" else bucket.replace(hour=0)
        position = index.get(key)
        if position is not None:
            series.values[kind][position] += value
    return series


@dataclass(frozen=True)
class LiveView:
    """What the live parts of a campaign page show (the page and pushed updates alike)."""

    campaign: Campaign
    figures: CampaignFigures
    activity: list[TimelineEntry]
    series: ActivitySeries
    followups: list[FollowUp]
    """Who to follow up with in this campaign (the panel atop the page)."""


async def live_view(session: AsyncSession, campaign: Campaign) -> LiveView:
    return LiveView(
        campaign=campaign,
        figures=await campaign_figures(session, campaign.id),
        activity=await latest_activity(session, campaign.id),
        series=await activity_series(session, campaign),
        followups=await follow_ups(session, [campaign.id]),
    )


@dataclass(frozen=True)
class TierLists:
    """The first page of each tier's prospects matching a search, with the tier sizes."""

    sizes: dict[int, int]
    pages: dict[int, tuple[list[ProspectRow], list[Any] | None]]


async def tier_lists(
    session: AsyncSession, campaign_id: int, search: str, per_page: int
) -> TierLists:
    pages = {
        tier: await search_tier(session, campaign_id, tier, search, PageRequest(per_page, None))
        for tier in TIERS
    }
    return TierLists(await tier_sizes(session, campaign_id), pages)
