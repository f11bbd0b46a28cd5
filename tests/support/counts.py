"""What the tracking tests read back: the summed counters and the stored events."""

from __future__ import annotations

from sqlalchemy import func, select

from webapp.core.models import CampaignCounter, Event
from webapp.web.services import Services


async def counters(tune: Services) -> dict[str, int]:
    """Every counter summed over campaigns and tiers, by name."""
    async with tune.db.read() as session:
        rows = await session.execute(
            select(CampaignCounter.name, func.sum(CampaignCounter.value)).group_by(
                CampaignCounter.name
            )
        )
        return {name: int(value) for name, value in rows}


async def event_count(tune: Services) -> int:
    async with tune.db.read() as session:
        return await session.scalar(select(func.count()).select_from(Event)) or 0
