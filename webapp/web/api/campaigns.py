"""`/api/campaigns`: create, list and read campaigns, and their statistics."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator
from quart_schema import validate_querystring, validate_response

from webapp.campaigns import figures, stats
from webapp.campaigns import queries as campaigns
from webapp.campaigns import status as statuses
from webapp.core.models import Industry
from webapp.web.api.keys import blueprint
from webapp.web.api.shapes import (
    Page,
    PageQuery,
    PlainShape,
    Shape,
    Text,
    Timestamp,
    validate_params,
)
from webapp.web.pagination import CAMPAIGN_KEY
from webapp.web.services import services


def _slug(value: object) -> object:
    return value.slug if isinstance(value, Industry) else value


class Campaign(Shape):
    id: int
    name: str
    industry: Annotated[str, BeforeValidator(_slug)]
    """The industry's slug."""
    status: Literal["draft", "sending", "active", "finished", "paused"]
    """draft (nothing sent) → sending → active (all sent, tracking) → finished (sent over
    two weeks ago, no follow-ups due); paused by a rep (`POST .../pause`, `.../resume`)."""
    tracking_enabled: bool
    created_at: Timestamp


class CreatedCampaign(Campaign):
    campaign_id: int


class CampaignWithCounts(Campaign):
    counts: dict[str, int]


class NewCampaign(Shape):
    name: Text
    industry: Text
    """An industry slug, as `/api/industries` lists them."""


class Opened(Shape):
    unique: int
    total: int
    machine: int


class Clicked(Shape):
    unique: int
    total: int
    bot: int


class Rates(Shape):
    open: float
    click: float
    reply: float


class Counts(Shape):
    """Unique human figures are the headline; machine opens and bot clicks beside them."""

    sent: int
    opened: Opened
    clicked: Clicked
    replied: int
    """Human replies; automatic answers are `auto_replied`."""
    meetings: int
    """Prospects with a meeting booked (recorded by a rep)."""
    unsubscribed: int
    bounced: int
    auto_replied: int
    """Out-of-office and other automatic answers read from the mailbox."""
    complained: int
    """Spam complaints (feedback-loop reports and provider webhooks)."""
    rates: Rates


class Stats(PlainShape):
    campaign_id: int
    total: Counts
    tiers: dict[str, Counts]
    """Keyed "1", "2" and "3"."""


@blueprint.post("/campaigns/create")
@validate_params(NewCampaign)
@validate_response(CreatedCampaign, 201)
async def create_campaign(data: NewCampaign) -> tuple[CreatedCampaign, int]:
    """Create a campaign (inputs in the query string or a JSON body)."""
    async with services().db.write() as session:
        campaign = await campaigns.create_campaign(session, data.name, data.industry)
        created = CreatedCampaign.model_validate(
            {**Campaign.model_validate(campaign).model_dump(), "campaign_id": campaign.id}
        )
    return created, 201


@blueprint.get("/campaigns")
@validate_querystring(PageQuery)
@validate_response(Page[Campaign])
async def list_campaigns(query_args: PageQuery) -> Page[Campaign]:
    """Campaigns, newest first."""
    async with services().db.read() as session:
        rows, next_key = await campaigns.list_campaigns(session, query_args.page(CAMPAIGN_KEY))
        status = await statuses.campaign_statuses(session, rows)
        items = [
            Campaign.model_validate(row).model_copy(update={"status": status[row.id]})
            for row in rows
        ]
    return Page[Campaign].of(items, next_key)


@blueprint.get("/campaigns/<int:campaign_id>")
@validate_response(CampaignWithCounts)
async def get_campaign(campaign_id: int) -> CampaignWithCounts:
    """One campaign with its counts."""
    return CampaignWithCounts.model_validate(
        await figures.read_campaign(services().db, campaign_id)
    )


@blueprint.post("/campaigns/<int:campaign_id>/pause")
@validate_response(Campaign)
async def pause_campaign(campaign_id: int) -> Campaign:
    """Hold the campaign's queued emails back until it is resumed."""
    async with services().db.write() as session:
        campaign = await statuses.pause(session, campaign_id)
        return Campaign.model_validate(campaign)


@blueprint.post("/campaigns/<int:campaign_id>/resume")
@validate_response(Campaign)
async def resume_campaign(campaign_id: int) -> Campaign:
    """Let a paused campaign's queued emails go out again."""
    async with services().db.write() as session:
        campaign = await statuses.resume(session, campaign_id)
        shape = Campaign.model_validate(campaign)
        return shape.model_copy(
            update={"status": await statuses.campaign_status(session, campaign)}
        )


@blueprint.get("/campaigns/<int:campaign_id>/stats")
@validate_response(Stats)
async def campaign_stats(campaign_id: int) -> Stats:
    """Campaign statistics from the aggregate counters."""
    return Stats.model_validate(await stats.campaign_stats(services().db, campaign_id))
