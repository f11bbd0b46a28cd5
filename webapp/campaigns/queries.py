"""Campaigns and industries: creation, look-up, listing and their headline counts."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.core import metrics
from webapp.core.errors import NotFound, ValidationFailed
from webapp.core.models import (
    Campaign,
    CampaignCounter,
    CampaignFigures,
    Contact,
    Content,
    Industry,
    Prospect,
)
from webapp.core.paging import PageRequest

NAME_MAX = 200


async def list_industries(session: AsyncSession) -> list[Industry]:
    return list(await session.scalars(select(Industry).order_by(Industry.name)))


async def industry_by_slug(session: AsyncSession, slug: str) -> Industry:
    industry = await session.scalar(select(Industry).where(Industry.slug == slug.strip().lower()))
    if industry is None:
        known = ", ".join(row.slug for row in await list_industries(session))
        raise ValidationFailed(
            f"unknown industry {slug!r}; choose one of: {known}", field="industry"
        )
    return industry


def validate_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationFailed("name is required", field="name")
    name = " ".join(name.split())
    if len(name) > NAME_MAX:
        raise ValidationFailed(f"name must be at most {NAME_MAX} characters", field="name")
    return name


async def create_campaign(session: AsyncSession, name: object, industry: object) -> Campaign:
    """Create a campaign; a name and a known industry slug are required."""
    name = validate_name(name)
    if not isinstance(industry, str) or not industry.strip():
        raise ValidationFailed("industry is required", field="industry")
    industry_row = await industry_by_slug(session, industry)
    campaign = Campaign(name=name, industry_id=industry_row.id, industry=industry_row)
    session.add(campaign)
    await session.flush()
    from webapp.outbound.contents import add_default_templates
    from webapp.sequences.steps import ensure_first_step

    await add_default_templates(session, campaign)
    await ensure_first_step(session, campaign.id)
    metrics.CAMPAIGNS_CREATED.inc()
    return campaign


async def get_campaign(session: AsyncSession, campaign_id: int) -> Campaign:
    campaign = await session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(f"campaign {campaign_id} does not exist")
    return campaign


async def list_campaigns(
    session: AsyncSession, page: PageRequest
) -> tuple[list[Campaign], list[Any] | None]:
    """Newest first, keyset on id."""
    query = select(Campaign).order_by(Campaign.id.desc()).limit(page.limit + 1)
    if page.after is not None:
        query = query.where(Campaign.id < page.after[0])
    rows = list(await session.scalars(query))
    next_key = [rows[page.limit - 1].id] if len(rows) > page.limit else None
    return rows[: page.limit], next_key


async def counters(
    session: AsyncSession, campaign_ids: list[int]
) -> dict[int, dict[int, dict[str, int]]]:
    """Aggregate counters: {campaign_id: {tier: {name: value}}}, never counting events."""
    result: dict[int, dict[int, dict[str, int]]] = {cid: {} for cid in campaign_ids}
    if not campaign_ids:
        return result
    rows = await session.execute(
        select(
            CampaignCounter.campaign_id,
            CampaignCounter.tier,
            CampaignCounter.name,
            CampaignCounter.value,
        ).where(CampaignCounter.campaign_id.in_(campaign_ids))
    )
    for campaign_id, tier, name, value in rows:
        result[campaign_id].setdefault(tier, {})[name] = value
    return result


def summed(per_tier: dict[int, dict[str, int]]) -> dict[str, int]:
    """A campaign's counters over all its tiers."""
    total: dict[str, int] = {}
    for values in per_tier.values():
        for name, value in values.items():
            total[name] = total.get(name, 0) + value
    return total


async def campaign_counts(session: AsyncSession, campaign_id: int) -> dict[str, int]:
    """Sizes and engagement of a campaign, for its API representation."""
    prospects = await session.scalar(
        select(func.count()).select_from(Prospect).where(Prospect.campaign_id == campaign_id)
    )
    contacts = await session.scalar(
        select(func.count()).select_from(Contact).where(Contact.campaign_id == campaign_id)
    )
    contents = await session.scalar(
        select(func.count()).select_from(Content).where(Content.campaign_id == campaign_id)
    )
    totals = summed((await counters(session, [campaign_id]))[campaign_id])
    return {
        "prospects": prospects or 0,
        "contacts": contacts or 0,
        "contents": contents or 0,
        "sent": totals.get("sent", 0),
        "opened": totals.get("open_unique", 0),
        "clicked": totals.get("click_unique", 0),
        "replied": totals.get("reply", 0),
        "meetings": totals.get("meeting", 0),
        "unsubscribed": totals.get("unsubscribe", 0),
        "bounced": totals.get("bounce", 0),
    }


async def lock_figures(session: AsyncSession, campaign_ids: Iterable[int]) -> None:
    """Lock these campaigns' `campaign_figures` rows, in campaign order (PostgreSQL).

    The figures triggers of migration 0017 lock a campaign's row when one of its
    emails changes state, until the transaction ends. A transaction that changes
    emails of several campaigns in separate statements (the sender's lease, the
    sequence scheduler) takes them all first, in the order every statement trigger
    takes them, so two such transactions never wait for each other in a cycle.
    SQLite runs one write transaction at a time: nothing to do there.
    """
    ids = sorted(set(campaign_ids))
    if len(ids) < 2 or session.get_bind().dialect.name != "postgresql":
        return
    await session.execute(
        select(CampaignFigures.campaign_id)
        .where(CampaignFigures.campaign_id.in_(ids))
        .order_by(CampaignFigures.campaign_id)
        .with_for_update()
    )
