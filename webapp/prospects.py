"""Prospects and their contacts: listing by tier (keyset) and look-up."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, and_, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from .errors import NotFound, ValidationFailed
from .models import Contact, Prospect
from .pagination import PageRequest

TIERS = (1, 2, 3)


def parse_tier(raw: object) -> int:
    try:
        tier = int(str(raw))
    except ValueError:
        tier = 0
    if tier not in TIERS:
        raise ValidationFailed("tier must be 1, 2 or 3", field="tier")
    return tier


async def prospects_in_tier(
    session: AsyncSession, campaign_id: int, tier: int, page: PageRequest
) -> tuple[list[Prospect], list[Any] | None]:
    """Hot prospects first, then by score, newest id last; keyset on (hot, score, id)."""
    query = (
        select(Prospect)
        .where(Prospect.campaign_id == campaign_id, Prospect.tier == tier)
        .options(selectinload(Prospect.contacts))
        .order_by(Prospect.hot.desc(), Prospect.score.desc(), Prospect.id.desc())
        .limit(page.limit + 1)
    )
    if page.after is not None:
        hot = literal(bool(page.after[0]), Boolean())
        score, last_id = int(page.after[1]), int(page.after[2])
        query = query.where(
            or_(
                Prospect.hot < hot,
                and_(Prospect.hot == hot, Prospect.score < score),
                and_(Prospect.hot == hot, Prospect.score == score, Prospect.id < last_id),
            )
        )
    rows = list(await session.scalars(query))
    next_key = None
    if len(rows) > page.limit:
        last = rows[page.limit - 1]
        next_key = [last.hot, last.score, last.id]
    return rows[: page.limit], next_key


async def get_prospect(session: AsyncSession, prospect_id: int) -> Prospect:
    prospect = await session.scalar(
        select(Prospect).where(Prospect.id == prospect_id).options(selectinload(Prospect.contacts))
    )
    if prospect is None:
        raise NotFound(f"prospect {prospect_id} does not exist")
    return prospect


def contact_json(contact: Contact) -> dict[str, Any]:
    return {
        "id": contact.id,
        "email": contact.email,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "title": contact.title,
        "unsubscribed": contact.unsubscribed_at is not None,
    }


def prospect_json(prospect: Prospect) -> dict[str, Any]:
    return {
        "id": prospect.id,
        "campaign_id": prospect.campaign_id,
        "name": prospect.name,
        "domain": prospect.domain,
        "industry": prospect.industry,
        "employees": prospect.employees,
        "revenue": prospect.revenue,
        "country": prospect.country,
        "tier": prospect.tier,
        "score": prospect.score,
        "score_reasons": prospect.score_reasons,
        "hot": prospect.hot,
        "last_activity_at": prospect.last_activity_at.isoformat()
        if prospect.last_activity_at
        else None,
        "contacts": [contact_json(contact) for contact in prospect.contacts],
    }
