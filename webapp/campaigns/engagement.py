"""Per-contact engagement, per-link clicks and the raw event stream, for export.

The figures come from the events table (the pages read the counters instead):
one keyset-paged read per page, with the events of the page's emails summed
in two grouped queries, so an export of 100,000 contacts never sits in memory.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from sqlalchemy import case, distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.campaigns.queries import get_campaign
from webapp.core.db import Database, read_time
from webapp.core.models import Contact, Content, Event, Link, Prospect
from webapp.outbound.export import safe_cell

EXPORT_BATCH = 500
CSV_COLUMNS = (
    "contact_id",
    "email",
    "first_name",
    "last_name",
    "company",
    "tier",
    "score",
    "send_status",
    "sent_at",
    "first_open_at",
    "last_open_at",
    "opens_human",
    "opens_machine",
    "clicks_human",
    "clicks_bot",
    "clicks_by_link",
    "replied_at",
    "unsubscribed_at",
    "bounced",
)


async def engagement_page(
    session: AsyncSession, campaign_id: int, limit: int, after: int | None = None
) -> tuple[list[dict[str, Any]], int | None]:
    """One row per contact emailed in the campaign, keyset on the email's id.

    Returns the rows and the key to continue after (None on the last page).
    """
    await get_campaign(session, campaign_id)
    query = (
        select(Content, Contact, Prospect)
        .join(Contact, Contact.id == Content.contact_id)
        .join(Prospect, Prospect.id == Content.prospect_id)
        .where(Content.campaign_id == campaign_id)
        .order_by(Content.id)
        .limit(limit + 1)
    )
    if after is not None:
        query = query.where(Content.id > after)
    found = (await session.execute(query)).all()
    more = len(found) > limit
    found = found[:limit]
    ids = [content.id for content, _, _ in found]
    tallies = await _tallies(session, ids)
    links = await _clicks_by_link(session, ids)
    rows = []
    for content, contact, prospect in found:
        tally = tallies.get(content.id, {})
        rows.append(
            {
                "contact_id": contact.id,
                "email": contact.email,
                "first_name": contact.first_name,
                "last_name": contact.last_name,
                "company": prospect.name,
                "prospect_id": prospect.id,
                "content_id": content.id,
                "tier": content.tier,
                "score": prospect.score,
                "send_status": content.send_status,
                "sent_at": content.sent_at,
                "first_open_at": content.first_opened_at,
                "last_open_at": tally.get("last_open"),
                "opens": {
                    "human": tally.get("open_human", 0),
                    "machine": tally.get("open_flagged", 0),
                },
                "clicks": {
                    "human": tally.get("click_human", 0),
                    "bot": tally.get("click_flagged", 0),
                    "by_link": links.get(content.id, []),
                },
                "replied_at": content.replied_at,
                "unsubscribed_at": contact.unsubscribed_at,
                "bounced": content.send_status == "bounced" or tally.get("bounce_human", 0) > 0,
            }
        )
    return rows, (ids[-1] if more and ids else None)


async def _tallies(session: AsyncSession, content_ids: list[int]) -> dict[int, dict[str, Any]]:
    if not content_ids:
        return {}
    rows = await session.execute(
        select(
            Event.content_id,
            Event.kind,
            Event.flagged,
            func.count(),
            func.max(Event.occurred_at),
        )
        .where(Event.content_id.in_(content_ids))
        .group_by(Event.content_id, Event.kind, Event.flagged)
    )
    found: dict[int, dict[str, Any]] = defaultdict(dict)
    for content_id, kind, flagged, count, last in rows:
        if content_id is None:
            continue
        found[content_id][f"{kind}_{'flagged' if flagged else 'human'}"] = int(count)
        if kind == "open" and not flagged:
            found[content_id]["last_open"] = read_time(last)
    return found


async def _clicks_by_link(
    session: AsyncSession, content_ids: list[int]
) -> dict[int, list[dict[str, Any]]]:
    """Human clicks per link of each email, in the links' order in the email."""
    if not content_ids:
        return {}
    rows = await session.execute(
        select(Link.content_id, Link.url, func.count(Event.id))
        .join(Event, Event.link_id == Link.id)
        .where(Link.content_id.in_(content_ids), Event.kind == "click", Event.flagged.is_(False))
        .group_by(Link.content_id, Link.position, Link.url)
        .order_by(Link.content_id, Link.position)
    )
    found: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for content_id, url, count in rows:
        found[content_id].append({"url": url, "clicks": int(count)})
    return found


async def export_engagement_csv(db: Database, campaign_id: int) -> AsyncIterator[bytes]:
    """The engagement rows as CSV, every cell safe from spreadsheet formulas."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    yield buffer.getvalue().encode()
    after: int | None = None
    while True:
        async with db.read() as session:
            rows, after = await engagement_page(session, campaign_id, EXPORT_BATCH, after)
        buffer.seek(0)
        buffer.truncate()
        for row in rows:
            flat = {
                **{key: _cell(value) for key, value in row.items()},
                "opens_human": row["opens"]["human"],
                "opens_machine": row["opens"]["machine"],
                "clicks_human": row["clicks"]["human"],
                "clicks_bot": row["clicks"]["bot"],
                "clicks_by_link": " ".join(
                    f"{link['url']} ({link['clicks']})" for link in row["clicks"]["by_link"]
                ),
                "bounced": "yes" if row["bounced"] else "no",
            }
            writer.writerow(safe_cell(flat[column]) for column in CSV_COLUMNS)
        yield buffer.getvalue().encode()
        if after is None:
            return


def _click_columns() -> tuple[Any, ...]:
    human = (Event.flagged.is_(False)) & (Event.kind == "click")
    bot = (Event.flagged.is_(True)) & (Event.kind == "click")
    return (
        Link.url,
        func.count(case((human, Event.id))),
        func.count(case((bot, Event.id))),
        func.count(distinct(case((human, Event.contact_id)))),
    )


def _link_rows(rows: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = [
        {"url": url, "clicks": {"human": int(h), "bot": int(b)}, "unique_clickers": int(u)}
        for url, h, b, u in rows
    ]
    found.sort(key=lambda link: (-link["clicks"]["human"], -link["unique_clickers"], link["url"]))
    return found


def _cell(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


async def link_stats(session: AsyncSession, campaign_id: int) -> list[dict[str, Any]]:
    """Each tracked URL of the campaign, clicked or not: human and bot clicks, unique
    human clickers; most clicked first."""
    await get_campaign(session, campaign_id)
    rows = await session.execute(
        select(*_click_columns())
        .join(Content, Content.id == Link.content_id)
        .outerjoin(Event, (Event.link_id == Link.id) & (Event.kind == "click"))
        .where(Content.campaign_id == campaign_id)
        .group_by(Link.url)
    )
    return _link_rows(rows)


async def top_links(
    session: AsyncSession, campaign_id: int, limit: int = 5
) -> list[dict[str, Any]]:
    """The most clicked URLs, read from the click events only (cheap for the campaign page)."""
    rows = await session.execute(
        select(*_click_columns())
        .join(Link, Link.id == Event.link_id)
        .where(Event.campaign_id == campaign_id, Event.kind == "click")
        .group_by(Link.url)
    )
    return _link_rows(rows)[:limit]


async def event_page(
    session: AsyncSession,
    limit: int,
    *,
    after: int | None = None,
    campaign_id: int | None = None,
    kind: str | None = None,
    since: datetime | None = None,
) -> tuple[list[Event], int | None]:
    """The raw events in id order with their flags and reasons, keyset on id.

    Returns the events and the id to continue after (None on the last page).
    """
    query = select(Event).order_by(Event.id).limit(limit + 1)
    if after is not None:
        query = query.where(Event.id > after)
    if campaign_id is not None:
        await get_campaign(session, campaign_id)
        query = query.where(Event.campaign_id == campaign_id)
    if kind is not None:
        query = query.where(Event.kind == kind)
    if since is not None:
        query = query.where(Event.occurred_at >= since)
    events = list(await session.scalars(query))
    more = len(events) > limit
    events = events[:limit]
    return events, (events[-1].id if more and events else None)
