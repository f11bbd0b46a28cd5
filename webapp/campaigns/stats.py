"""Campaign statistics from the aggregate counters (never from the events table)."""

from __future__ import annotations

from typing import Any

from webapp.campaigns.queries import summed
from webapp.core.common import TIERS
from webapp.core.db import Database
from webapp.core.errors import NotFound

COUNTERS = (
    "SELECT c.id, k.tier, k.name, k.value FROM campaigns c"
    " LEFT JOIN campaign_counters k ON k.campaign_id = c.id WHERE c.id = ?"
)
"""A campaign's counters by plain SQL, in one indexed read; no row means no campaign."""


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


async def counter_rows(db: Database, campaign_id: int) -> list[tuple[Any, ...]]:
    """The campaign's counter rows (`COUNTERS`); NotFound when there is no such campaign.

    Polled from many connections at once: concurrent reads of one campaign share a
    query sent after each of them arrived (`Database.fetch_all_shared`)."""
    rows = await db.fetch_all_shared(COUNTERS, (campaign_id,))
    if not rows:
        raise NotFound(f"campaign {campaign_id} does not exist")
    return rows


def stats_from_rows(campaign_id: int, rows: list[tuple[Any, ...]]) -> dict[str, Any]:
    """`campaign_stats`'s answer from `counter_rows`."""
    per_tier: dict[int, dict[str, int]] = {}
    for _, tier, name, value in rows:
        if name is not None:
            per_tier.setdefault(tier, {})[name] = value
    return {
        "campaign_id": campaign_id,
        "total": counts_json(summed(per_tier)),
        "tiers": {str(tier): counts_json(per_tier.get(tier, {})) for tier in TIERS},
    }


async def campaign_stats(db: Database, campaign_id: int) -> dict[str, Any]:
    """`{"campaign_id", "total": COUNTS, "tiers": {"1": COUNTS, "2": COUNTS, "3": COUNTS}}`.

    Read by plain SQL (one statement, no session): API clients poll it.
    """
    return stats_from_rows(campaign_id, await counter_rows(db, campaign_id))
