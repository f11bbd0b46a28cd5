"""What the dashboard pages show: campaign figures, tier summaries, prospect search.

Figures come from the aggregate counters (`campaign_counters`), never from
counting events, so a page costs the same with ten events or ten million.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from webapp.campaigns.activity import ActivitySeries, activity_series
from webapp.campaigns.queries import counters, list_campaigns, summed
from webapp.campaigns.status import campaign_statuses
from webapp.campaigns.timeline import TimelineEntry, latest_activity
from webapp.core.common import TIERS
from webapp.core.models import Campaign, Contact, Prospect
from webapp.core.paging import PageRequest
from webapp.prospects.listing import ListQuery, first_pages, list_tier, tier_counts
from webapp.prospects.scoring.seniority import seniority_rank
from webapp.workspace.followups import FollowUp, follow_up_panel


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
    version: int = 0
    """The sum of every counter (the live hub's version): it moves with any activity."""


async def campaign_figures(session: AsyncSession, campaign_id: int) -> CampaignFigures:
    per_tier = (await counters(session, [campaign_id]))[campaign_id]
    return CampaignFigures(
        total=Figures.of(summed(per_tier)),
        tiers={tier: Figures.of(per_tier.get(tier, {})) for tier in TIERS},
        version=sum(sum(values.values()) for values in per_tier.values()),
    )


@dataclass(frozen=True)
class ProspectRow:
    prospect: Prospect
    best_contact: Contact | None
    contact_count: int

    @property
    def top_reasons(self) -> list[dict[str, Any]]:
        """The reasons that weigh most in the score, biggest first (the list shows these)."""
        return top_reasons(self.prospect.score_reasons)


TOP_REASONS = 3


def top_reasons(reasons: list[dict[str, Any]], count: int = TOP_REASONS) -> list[dict[str, Any]]:
    """The `count` reasons with the most points either way, biggest first."""
    ranked = sorted(reasons or [], key=lambda reason: -abs(int(reason.get("points", 0))))
    return [reason for reason in ranked if reason.get("points")][:count]


def best_contact(contacts: list[Contact]) -> Contact | None:
    """The most senior contact still subscribed (first imported on a tie)."""
    reachable = [c for c in contacts if c.unsubscribed_at is None] or contacts
    if not reachable:
        return None
    return max(reachable, key=lambda c: (seniority_rank(c.title), -c.id))


async def search_tier(
    session: AsyncSession, campaign_id: int, tier: int, query: ListQuery, page: PageRequest
) -> tuple[list[ProspectRow], list[Any] | None]:
    """A page of a tier's prospects matching the rep's filter and search, in their sort."""
    prospects, next_key = await list_tier(session, campaign_id, tier, query, page)
    return _rows_of(prospects), next_key


def _rows_of(prospects: list[Prospect]) -> list[ProspectRow]:
    return [ProspectRow(p, best_contact(list(p.contacts)), len(p.contacts)) for p in prospects]


@dataclass(frozen=True)
class LiveView:
    """What the live parts of a campaign page show (the page and pushed updates alike)."""

    campaign: Campaign
    figures: CampaignFigures
    activity: list[TimelineEntry]
    series: ActivitySeries
    followups: list[FollowUp]
    """Who to follow up with in this campaign (the panel atop the page): the first
    `FOLLOWUPS_SHOWN`."""
    followups_total: int


async def live_view(session: AsyncSession, campaign: Campaign) -> LiveView:
    shown, total = await follow_up_panel(session, [campaign.id])
    return LiveView(
        campaign=campaign,
        figures=await campaign_figures(session, campaign.id),
        activity=await latest_activity(session, campaign.id),
        series=await activity_series(session, campaign),
        followups=shown,
        followups_total=total,
    )


@dataclass(frozen=True)
class TierLists:
    """The first page of each tier's prospects matching a query, the tier sizes and how
    many of each tier match (the same numbers as the sizes when nothing narrows)."""

    sizes: dict[int, int]
    matching: dict[int, int]
    pages: dict[int, tuple[list[ProspectRow], list[Any] | None]]


async def tier_lists(
    session: AsyncSession, campaign_id: int, query: ListQuery, per_page: int
) -> TierLists:
    sizes = await tier_counts(session, campaign_id)
    if query.narrowed:  # one pass over the campaign for every tier's page and count
        found, matching = await first_pages(session, campaign_id, query, per_page)
        pages = {tier: (_rows_of(prospects), key) for tier, (prospects, key) in found.items()}
        return TierLists(sizes, matching, pages)
    pages = {
        tier: await search_tier(session, campaign_id, tier, query, PageRequest(per_page, None))
        for tier in TIERS
    }
    return TierLists(sizes, sizes, pages)
