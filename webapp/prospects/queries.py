"""Prospects and their contacts: listing by tier, look-up and their JSON shapes.

Importing lives in `prospects.importer` (with `prospects.batch` writing one
batch), re-scoring a campaign in `prospects.analysis`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, func, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.sql.elements import ColumnElement

from webapp.core.common import TIERS
from webapp.core.errors import NotFound, ValidationFailed
from webapp.core.models import Prospect
from webapp.core.paging import PageRequest


def parse_tier(raw: object) -> int:
    try:
        tier = int(str(raw))
    except ValueError:
        tier = 0
    if tier not in TIERS:
        raise ValidationFailed("tier must be 1, 2 or 3", field="tier")
    return tier


TIER_ORDER = (Prospect.hot.desc(), Prospect.score.desc(), Prospect.id.desc())
"""Hot prospects first, then by score, newest id last."""


def after_in_tier_order(after: list[Any]) -> ColumnElement[bool]:
    """Rows after the keyset cursor `[hot, score, id]` in `TIER_ORDER`.

    A row-value comparison, so the index on (campaign_id, tier, hot, score, id)
    is entered at the cursor instead of walked from the start.
    """
    hot = literal(bool(after[0]), Boolean())
    return tuple_(Prospect.hot, Prospect.score, Prospect.id) < tuple_(
        hot, int(after[1]), int(after[2])
    )


async def prospects_in_tier(
    session: AsyncSession,
    campaign_id: int,
    tier: int,
    page: PageRequest,
    matching: ColumnElement[bool] | None = None,
) -> tuple[list[Prospect], list[Any] | None]:
    """Hot prospects first, then by score, newest id last; keyset on (hot, score, id).
    `matching` narrows the tier (the dashboard's search)."""
    query = (
        select(Prospect)
        .where(Prospect.campaign_id == campaign_id, Prospect.tier == tier)
        .options(selectinload(Prospect.contacts))
        .order_by(*TIER_ORDER)
        .limit(page.limit + 1)
    )
    if matching is not None:
        query = query.where(matching)
    if page.after is not None:
        query = query.where(after_in_tier_order(page.after))
    return tier_page(list(await session.scalars(query)), page.limit)


def tier_page(rows: list[Prospect], limit: int) -> tuple[list[Prospect], list[Any] | None]:
    """The first `limit` of `limit + 1` rows fetched, and the cursor after them if more."""
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], [last.hot, last.score, last.id]


async def get_prospect(session: AsyncSession, prospect_id: int) -> Prospect:
    prospect = await session.scalar(
        select(Prospect).where(Prospect.id == prospect_id).options(selectinload(Prospect.contacts))
    )
    if prospect is None:
        raise NotFound(f"prospect {prospect_id} does not exist")
    return prospect


async def prospect_count(session: AsyncSession, campaign_id: int) -> int:
    """How many prospects a campaign has."""
    count = await session.scalar(
        select(func.count()).select_from(Prospect).where(Prospect.campaign_id == campaign_id)
    )
    return count or 0
