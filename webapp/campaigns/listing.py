"""The lists API clients poll, each in one plain-SQL read: industries and the newest campaigns.

`GET /api/industries` and the first page of `GET /api/campaigns` are read by a
session through the ORM in the Quart routes (`webapp/web/api/industries.py`,
`webapp/web/api/campaigns.py`), which stay the reference. These are the same
answers by one indexed statement each (`Database.fetch_all_shared`: concurrent
identical reads share a query sent after each of them arrived), for the API
layer (`webapp/web/apireads.py`). A campaign's status comes from its figures
(`campaign_figures`, migration 0017) as `figures.read_campaign` reads it; only
a campaign whose last email went out over two weeks ago, or one without a
figures row, needs a session (`status.finished_or_active`, `campaign_statuses`).

Industries are written only by migrations today, but nothing proves they never
change while a process runs, so they are read again on every request, not cached.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from webapp.campaigns import status as statuses
from webapp.campaigns.figures import CAMPAIGN_COLUMNS, campaign_fields
from webapp.core.db import Database, read_time
from webapp.core.models import Campaign, utcnow

INDUSTRIES = "SELECT slug, name, description, profile FROM industries ORDER BY name"
"""Every industry, by name (as `queries.list_industries` orders them)."""

CAMPAIGNS = f"""
SELECT {CAMPAIGN_COLUMNS},
    f.pending, f.sent, f.last_sent_at, f.campaign_id
FROM campaigns c
JOIN industries i ON i.id = c.industry_id
LEFT JOIN campaign_figures f ON f.campaign_id = c.id
ORDER BY c.id DESC
LIMIT ?
"""  # noqa: S608 (constants only)
"""The newest campaigns with their industry's slug and sending figures (keyset on id,
as `queries.list_campaigns` pages them)."""


async def industries(db: Database) -> list[dict[str, Any]]:
    """Every industry: slug, name, description and scoring profile."""
    rows = await db.fetch_all_shared(INDUSTRIES, ())
    return [
        {"slug": slug, "name": name, "description": description, "profile": profile}
        for slug, name, description, profile in rows
    ]


async def newest_campaigns(
    db: Database, limit: int, *, now: datetime | None = None
) -> tuple[list[dict[str, Any]], list[Any] | None]:
    """The first page of campaigns, newest first, each with its status (`Campaign`'s
    fields), and the next page's key (None on the last page)."""
    rows = await db.fetch_all_shared(CAMPAIGNS, (limit + 1,))
    next_key = [rows[limit - 1][0]] if len(rows) > limit else None
    now = now or utcnow()
    page: list[dict[str, Any]] = []
    unknown: list[int] = []  # statuses only a session can tell
    for row in rows[:limit]:
        stored, (pending, sent, last_sent_at, has_figures) = row[3], row[6:]
        status = None
        if has_figures is not None:
            status = statuses.status_from(stored, pending, sent, read_time(last_sent_at), now)
        if status is None:
            unknown.append(row[0])
        page.append(campaign_fields(row, status))
    if unknown:
        found = await _statuses(db, unknown, now)
        for item in page:
            if item["status"] is None:
                item["status"] = found[item["id"]]
    return page, next_key


async def _statuses(db: Database, campaign_ids: list[int], now: datetime) -> dict[int, str]:
    """The statuses the figures cannot tell: campaigns all sent long ago (finished unless
    somebody is still to follow up with) or without a figures row (counted)."""
    async with db.read() as session:
        campaigns = list(
            await session.scalars(select(Campaign).where(Campaign.id.in_(campaign_ids)))
        )
        found = await statuses.campaign_statuses(session, campaigns, now=now)
    if len(found) != len(campaign_ids):
        raise LookupError("a campaign was deleted during the read")  # the caller reads again
    return found
