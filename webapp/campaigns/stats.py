"""Campaign statistics from the aggregate counters (never from the events table)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from webapp.campaigns.queries import counters, get_campaign, summed
from webapp.core.common import TIERS


def rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def counts_json(values: dict[str, int]) -> dict[str, Any]:
    """One COUNTS object: unique human figures are the headline, machine hits beside them."""
    sent = values.get("sent", 0)
    opened_unique = values.get("open_unique", 0)
    clicked_unique = values.get("click_unique", 0)
    replied = values.get("reply", 0)
    return {
        "sent": sent,
        "opened": {
            "unique": opened_unique,
            "total": values.get("open_total", 0),
            "machine": values.get("open_machine", 0),
        },
        "clicked": {
            "unique": clicked_unique,
            "total": values.get("click_total", 0),
            "bot": values.get("click_bot", 0),
        },
        "replied": replied,
        "meetings": values.get("meeting", 0),
        "unsubscribed": values.get("unsubscribe", 0),
        "bounced": values.get("bounce", 0),
        "auto_replied": values.get("auto_reply", 0),
        "complained": values.get("complaint", 0),
        "rates": {
            "open": rate(opened_unique, sent),
            "click": rate(clicked_unique, sent),
            "reply": rate(replied, sent),
        },
    }


async def campaign_stats(session: AsyncSession, campaign_id: int) -> dict[str, Any]:
    """`{"campaign_id", "total": COUNTS, "tiers": {"1": COUNTS, "2": COUNTS, "3": COUNTS}}`."""
    await get_campaign(session, campaign_id)
    per_tier = (await counters(session, [campaign_id]))[campaign_id]
    return {
        "campaign_id": campaign_id,
        "total": counts_json(summed(per_tier)),
        "tiers": {str(tier): counts_json(per_tier.get(tier, {})) for tier in TIERS},
    }
