"""The written emails as the API reads them (`GET /api/contents/<id>`, a campaign's emails), by
plain SQL.

API clients and CRMs poll a campaign's emails and single emails to follow what
was sent. Both the Quart routes (`webapp/web/api/contents.py`) and the API layer
in front of Quart (`webapp/web/apireads.py`) read them here: two indexed
statements, no session (`Database.fetch_all_shared`: concurrent identical reads
share a query sent after each of them arrived): the emails with their campaign's
tracking flag, then their links in position order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from webapp.core.db import Database, read_time
from webapp.core.errors import NotFound

_COLUMNS = (
    "c.id, c.campaign_id, c.contact_id, c.tier, c.subject, c.html, c.text, c.send_status, c.sent_at"
)

CONTENT = f"""
SELECT {_COLUMNS}, k.tracking_enabled
FROM contents c JOIN campaigns k ON k.id = c.campaign_id
WHERE c.id = ?
"""  # noqa: S608 (constants only)
"""One email and whether its campaign tracks opens; no row when there is no such email."""

_PAGE = "SELECT * FROM contents WHERE campaign_id = ? AND id > ? ORDER BY id LIMIT ?"

CAMPAIGN_CONTENTS = f"""
SELECT k.tracking_enabled, {_COLUMNS}
FROM campaigns k
LEFT JOIN ({_PAGE}) c ON c.campaign_id = k.id
WHERE k.id = ?
ORDER BY c.id
"""  # noqa: S608 (constants only)
"""A page of the campaign's emails by id (keyset after an id) with its tracking flag: one row
of nulls when it has none, no row when there is no such campaign."""

LINKS = "SELECT content_id, position, url FROM links WHERE content_id = ? ORDER BY position"
"""The links of one email, in position order."""

PAGE_LINKS = f"""
SELECT content_id, position, url FROM links
WHERE content_id IN (SELECT id FROM ({_PAGE}) c)
ORDER BY content_id, position
"""  # noqa: S608 (constants only)
"""The links of the emails of a page (`CAMPAIGN_CONTENTS`'s parameters), in position order."""


@dataclass(frozen=True, slots=True)
class WrittenContent:
    """An email as the API answers it, before its tracked URLs are signed."""

    id: int
    campaign_id: int
    contact_id: int
    tier: int
    subject: str
    html: str
    text: str
    send_status: str
    sent_at: datetime | None
    tracking: bool
    """Whether the campaign tracks opens (the email then has a pixel)."""
    links: list[tuple[int, str]]
    """(position, original URL), in position order."""


def _content(row: tuple[Any, ...], tracking: Any, links: list[tuple[int, str]]) -> WrittenContent:
    content_id, campaign_id, contact_id, tier, subject, html, text, send_status, sent_at = row
    return WrittenContent(
        content_id,
        campaign_id,
        contact_id,
        tier,
        subject,
        html,
        text,
        send_status,
        read_time(sent_at),
        bool(tracking),
        links,
    )


async def read_content(db: Database, content_id: int) -> WrittenContent:
    """One email with its links; NotFound when there is none."""
    rows = await db.fetch_all_shared(CONTENT, (content_id,))
    if not rows:
        raise NotFound(f"content {content_id} does not exist")
    links = await db.fetch_all_shared(LINKS, (content_id,))
    return _content(rows[0][:-1], rows[0][-1], [(position, url) for _, position, url in links])


@dataclass(frozen=True, slots=True)
class ContentPage:
    """A page of a campaign's emails as read: rows of `CONTENT`'s columns before the
    tracking flag (`sent_at` as the database gives it, `read_time` reads it)."""

    tracking: bool
    """Whether the campaign tracks opens."""
    rows: list[tuple[Any, ...]]
    links: dict[int, list[tuple[int, str]]]
    """Each email's (position, original URL), in position order, by its id."""
    next_key: list[Any] | None
    """The next page's key, None on the last page."""


async def campaign_content_page(
    db: Database, campaign_id: int, limit: int, after: int = 0
) -> ContentPage:
    """A page of the campaign's emails by id (those after `after`) with their links, as
    rows (the API layer writes its JSON from them); NotFound when there is no such
    campaign."""
    params = (campaign_id, after, limit + 1, campaign_id)
    rows = await db.fetch_all_shared(CAMPAIGN_CONTENTS, params)
    if not rows:
        raise NotFound(f"campaign {campaign_id} does not exist")
    tracking = bool(rows[0][0])
    page = [row[1:] for row in rows if row[1] is not None]
    next_key = [page[limit - 1][0]] if len(page) > limit else None
    page = page[:limit]
    links: dict[int, list[tuple[int, str]]] = {row[0]: [] for row in page}
    if page:
        for content_id, position, url in await db.fetch_all_shared(PAGE_LINKS, params[:3]):
            if content_id in links:  # not an email written since the page was read
                links[content_id].append((position, url))
    return ContentPage(tracking, page, links, next_key)


async def campaign_contents(
    db: Database, campaign_id: int, limit: int, after: int = 0
) -> tuple[list[WrittenContent], list[Any] | None]:
    """A page of the campaign's emails by id (those after `after`), each with its links, and
    the next page's key (None on the last page); NotFound when there is no such campaign."""
    page = await campaign_content_page(db, campaign_id, limit, after)
    written = [_content(row, page.tracking, page.links[row[0]]) for row in page.rows]
    return written, page.next_key
