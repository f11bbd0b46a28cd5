"""A tier's prospects in the default order (hot first, then by score), by plain SQL.

API clients and CRMs poll `GET /api/campaigns/<id>/prospects/<tier>` without a
filter, sort or search. That list, any page of it, is read here in one indexed
statement (`ix_prospects_tier_order`) with no session, for the Quart route
(`webapp/web/api/prospects.py`) and the API layer in front of Quart
(`webapp/web/apireads.py`) alike: the campaign, the page of its prospects and
their contacts (by id), so the page and its contacts are one snapshot. Filtered,
searched or otherwise sorted lists (the dashboard's too) are `listing.list_tier`.
"""

from __future__ import annotations

import json
from typing import Any

from webapp.core.db import Database, read_time
from webapp.core.errors import NotFound

_PAGE = """
SELECT * FROM prospects WHERE campaign_id = ? AND tier = ?{after}
ORDER BY hot DESC, score DESC, id DESC LIMIT ?
"""

_TIER_PAGE = """
SELECT p.id, p.campaign_id, p.name, p.domain, p.industry, p.employees, p.revenue, p.country,
    p.tier, p.score, p.score_reasons, p.hot, p.last_activity_at,
    k.id, k.email, k.first_name, k.last_name, k.title, k.seniority, k.unsubscribed_at
FROM campaigns c
LEFT JOIN ({page}) p ON p.campaign_id = c.id
LEFT JOIN contacts k ON k.prospect_id = p.id
WHERE c.id = ?
ORDER BY p.hot DESC, p.score DESC, p.id DESC, k.id
"""

TIER_PAGE = _TIER_PAGE.format(page=_PAGE.format(after=""))
"""The first page of a tier (campaign, tier, limit, campaign) with each prospect's contacts:
one row per contact (a prospect without any: one row of null contact columns), one row of
nulls when the page is empty, no row when there is no such campaign."""

TIER_PAGE_AFTER = _TIER_PAGE.format(page=_PAGE.format(after=" AND (hot, score, id) < (?, ?, ?)"))
"""`TIER_PAGE` after the keyset cursor `[hot, score, id]` (campaign, tier, hot, score, id,
limit, campaign), entering the index at the cursor."""


TierRows = list[tuple[tuple[Any, ...], list[tuple[Any, ...]]]]
"""A page as read: each prospect's row (`_TIER_PAGE`'s first 13 columns, as the database
gives them) with its contacts' rows (the other 7), in the page's order."""


async def tier_page_rows(
    db: Database, campaign_id: int, tier: int, limit: int, after: list[Any] | None = None
) -> tuple[TierRows, list[Any] | None]:
    """A page of the tier's prospects, hot first then by score, as rows (the API layer
    writes its JSON from them), and the next page's key `[hot, score, id]` (None on the
    last page); NotFound when there is no such campaign."""
    if after is None:
        rows = await db.fetch_all_shared(TIER_PAGE, (campaign_id, tier, limit + 1, campaign_id))
    else:
        cursor = (bool(after[0]), int(after[1]), int(after[2]))
        params = (campaign_id, tier, *cursor, limit + 1, campaign_id)
        rows = await db.fetch_all_shared(TIER_PAGE_AFTER, params)
    if not rows:
        raise NotFound(f"campaign {campaign_id} does not exist")
    page: TierRows = []
    for row in rows:
        if row[0] is None:
            break  # the empty page's row
        if not page or page[-1][0][0] != row[0]:
            page.append((row[:13], []))
        if row[13] is not None:
            page[-1][1].append(row[13:])
    if len(page) <= limit:
        return page, None
    last = page[limit - 1][0]
    return page[:limit], [bool(last[11]), last[9], last[0]]


async def tier_page(
    db: Database, campaign_id: int, tier: int, limit: int, after: list[Any] | None = None
) -> tuple[list[dict[str, Any]], list[Any] | None]:
    """`tier_page_rows` with each prospect as `Prospect`'s fields (contacts by id)."""
    page, next_key = await tier_page_rows(db, campaign_id, tier, limit, after)
    found = []
    for row, contacts in page:
        prospect = _prospect(row)
        prospect["contacts"] = [_contact(contact) for contact in contacts]
        found.append(prospect)
    return found, next_key


def _prospect(row: tuple[Any, ...]) -> dict[str, Any]:
    reasons, hot, last_activity_at = row[10:13]
    return {
        "id": row[0],
        "campaign_id": row[1],
        "name": row[2],
        "domain": row[3],
        "industry": row[4],
        "employees": row[5],
        "revenue": row[6],
        "country": row[7],
        "tier": row[8],
        "score": row[9],
        "score_reasons": None if reasons is None else json.loads(reasons),
        "hot": bool(hot),
        "last_activity_at": read_time(last_activity_at),
        "contacts": [],
    }


def _contact(row: tuple[Any, ...]) -> dict[str, Any]:
    contact_id, email, first_name, last_name, title, seniority, unsubscribed_at = row
    return {
        "id": contact_id,
        "email": email,
        "first_name": first_name,
        "last_name": last_name,
        "title": title,
        "seniority": seniority,
        "unsubscribed": unsubscribed_at is not None,
    }
