"""One campaign with its counts and status, in one plain-SQL read.

`GET /api/campaigns/<id>` used to count the campaign's prospects, contacts and
emails and aggregate its emails' sending state on every read (a session and five
statements, O(campaign size)). The database now keeps those figures itself
(`campaign_figures`, maintained by the triggers of migration 0017 on every write),
so the read is one indexed query: the campaign row, its industry's slug, its
figures and its engagement counters summed over the tiers. Only a campaign whose
last email went out over two weeks ago needs more: whether anybody is still to
follow up with (`status.finished_or_active`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from webapp.campaigns import status as statuses
from webapp.campaigns.queries import campaign_counts, get_campaign
from webapp.core.db import Database, read_time
from webapp.core.errors import NotFound
from webapp.core.models import utcnow

ENGAGEMENT = {
    "sent": "sent",
    "opened": "open_unique",
    "clicked": "click_unique",
    "replied": "reply",
    "meetings": "meeting",
    "unsubscribed": "unsubscribe",
    "bounced": "bounce",
}
"""The answer's engagement counts and the counters (summed over tiers) they come from."""

_SUMS = ",\n        ".join(
    f"CAST(coalesce(sum(CASE WHEN name = '{counter}' THEN value END), 0) AS BIGINT) AS {key}"
    for key, counter in ENGAGEMENT.items()
)

CAMPAIGN_COLUMNS = "c.id, c.name, i.slug, c.status, c.tracking_enabled, c.created_at"
"""A campaign's own columns (`c`) and its industry's slug (`i`), as `campaign_fields` reads them."""

CAMPAIGN = f"""
SELECT {CAMPAIGN_COLUMNS},
    f.prospects, f.contacts, f.contents, f.pending, f.sent, f.last_sent_at,
    k.{", k.".join(ENGAGEMENT)}
FROM campaigns c
JOIN industries i ON i.id = c.industry_id
LEFT JOIN campaign_figures f ON f.campaign_id = c.id
CROSS JOIN (
    SELECT {_SUMS}
    FROM campaign_counters WHERE campaign_id = ?
) k
WHERE c.id = ?
"""  # noqa: S608 (constants only)
"""The campaign, its figures and its counters: one row, or none when there is no campaign."""


async def campaign_row(db: Database, campaign_id: int) -> tuple[Any, ...]:
    """`CAMPAIGN`'s row; NotFound when there is no such campaign. Concurrent reads of one
    campaign share a query (`Database.fetch_all_shared`)."""
    rows = await db.fetch_all_shared(CAMPAIGN, (campaign_id, campaign_id))
    if not rows:
        raise NotFound(f"campaign {campaign_id} does not exist")
    return rows[0]


def campaign_fields(row: tuple[Any, ...], status: str | None) -> dict[str, Any]:
    """`Campaign`'s fields from a row that starts with `CAMPAIGN_COLUMNS`, with its status."""
    campaign_id, name, industry, _, tracking, created_at = row[:6]
    return {
        "id": campaign_id,
        "name": name,
        "industry": industry,
        "status": status,
        "tracking_enabled": bool(tracking),
        "created_at": read_time(created_at),
    }


async def campaign_from_row(
    db: Database, row: tuple[Any, ...], *, now: datetime | None = None
) -> dict[str, Any]:
    """The campaign's API representation (`CampaignWithCounts`) from `campaign_row`."""
    campaign_id, stored = row[0], row[3]
    prospects, contacts, contents, pending, sent, last_sent_at = row[6:12]
    if prospects is None:  # no figures row: never after migration 0017, but stay exact
        return await counted_campaign(db, campaign_id, now=now)
    now = now or utcnow()
    last_sent = read_time(last_sent_at)
    status = statuses.status_from(stored, pending, sent, last_sent, now)
    if status is None:
        async with db.read() as session:
            status = await statuses.finished_or_active(session, campaign_id, now)
    counts = {"prospects": prospects, "contacts": contacts, "contents": contents}
    counts.update(zip(ENGAGEMENT, row[12:], strict=True))
    return {**campaign_fields(row, status), "counts": counts}


async def read_campaign(
    db: Database, campaign_id: int, *, now: datetime | None = None
) -> dict[str, Any]:
    """The campaign with its counts and status; NotFound when there is none."""
    return await campaign_from_row(db, await campaign_row(db, campaign_id), now=now)


async def counted_campaign(
    db: Database, campaign_id: int, *, now: datetime | None = None
) -> dict[str, Any]:
    """The same answer by counting the campaign's rows (the reference the figures are
    checked against, and the way when a campaign has no figures row)."""
    async with db.read() as session:
        campaign = await get_campaign(session, campaign_id)
        counts = await campaign_counts(session, campaign_id)
        status = (await statuses.campaign_statuses(session, [campaign], now=now))[campaign.id]
        return {
            "id": campaign.id,
            "name": campaign.name,
            "industry": campaign.industry.slug,
            "status": status,
            "tracking_enabled": campaign.tracking_enabled,
            "created_at": campaign.created_at,
            "counts": counts,
        }
