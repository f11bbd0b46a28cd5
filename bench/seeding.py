"""Seeding benchmark databases in bulk: campaigns, prospects, contacts, emails and events.

Two ways in. `seed_campaign` and `seed_events` write one uniform campaign
(one prospect, contact, sent email and tracked link each) and its open events
through SQL, for the load benchmarks. `new_campaign` and `bulk_insert` serve
the query benchmarks, which build their own rows (tuples in a table's column
order) and insert them as fast as each database allows: executemany on SQLite,
COPY on PostgreSQL, then ANALYZE, so a million rows take seconds.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from bench.constants import LINK_POSITION, SECRET
from webapp.core.config import Config
from webapp.core.db import Database
from webapp.core.models import (
    Campaign,
    CampaignCounter,
    Contact,
    Content,
    Industry,
    Link,
    Prospect,
)

Rows = dict[str, list[tuple[Any, ...]]]
"""Rows to insert, by table name; each row in the order of that table's listed columns."""

Columns = Mapping[str, Sequence[str]]
"""The columns each table's rows give, by table name."""


@dataclass
class Seeded:
    """What a seeded campaign offers to a load tool."""

    campaign_id: int
    content_ids: list[int]
    contact_ids: list[int]


def seed_campaign(url: str, contents: int, *, industry: str = "casino", tier_of: int = 3) -> Seeded:
    """One campaign with `contents` prospects, contacts and emails, inserted in bulk.

    Each table's rows go in multi-row INSERTs of 1,000: a list of parameters would be
    sent as one statement per row, and on PostgreSQL each statement runs the campaign
    figures' statement trigger (160,000 emails took over 13 minutes that way)."""
    return asyncio.run(_seed_campaign(url, contents, industry, tier_of))


async def _seed_campaign(url: str, count: int, industry: str, tier_of: int) -> Seeded:
    db = Database(Config(database_url=url, secret_key=SECRET))
    now = datetime.now(UTC)
    try:
        async with db.write() as session:
            industry_id = await session.scalar(select(Industry.id).where(Industry.slug == industry))
            campaign_id = (
                await session.execute(
                    insert(Campaign)
                    .values(name=f"Bench {count}", industry_id=industry_id)
                    .returning(Campaign.id)
                )
            ).scalar_one()
            first = (await session.scalar(select(func.coalesce(func.max(Prospect.id), 0)))) or 0
            step = 1_000
            for start in range(0, count, step):
                batch = range(first + start + 1, first + min(count, start + step) + 1)
                await session.execute(
                    insert(Prospect).values(
                        [
                            {
                                "id": n,
                                "campaign_id": campaign_id,
                                "company_key": f"company{n}.example",
                                "name": f"Company {n}",
                                "domain": f"company{n}.example",
                                "tier": 1 + n % tier_of,
                                "score": n % 100,
                                "score_reasons": [],
                            }
                            for n in batch
                        ]
                    )
                )
                await session.execute(
                    insert(Contact).values(
                        [
                            {
                                "id": n,
                                "campaign_id": campaign_id,
                                "prospect_id": n,
                                "email": f"person{n}@company{n}.example",
                                "first_name": "Pat",
                            }
                            for n in batch
                        ]
                    )
                )
                await session.execute(
                    insert(Content).values(
                        [
                            {
                                "id": n,
                                "campaign_id": campaign_id,
                                "contact_id": n,
                                "prospect_id": n,
                                "tier": 1 + n % tier_of,
                                "subject": "Hello",
                                "html": "<p>Hello</p>",
                                "text": "Hello",
                                "send_status": "sent",
                                "sent_at": now,
                            }
                            for n in batch
                        ]
                    )
                )
                await session.execute(
                    insert(Link).values(
                        [
                            {
                                "content_id": n,
                                "position": LINK_POSITION,
                                "url": f"https://company{n}.example/pricing",
                            }
                            for n in batch
                        ]
                    )
                )
        seeded_ids = list(range(first + 1, first + count + 1))
        return Seeded(campaign_id, seeded_ids, seeded_ids)
    finally:
        await db.dispose()


def seed_events(url: str, seeded: Seeded, count: int) -> None:
    """`count` open events over the campaign's emails, and the matching counter rows.

    Bulk SQL (a recursive CTE on SQLite, generate_series on PostgreSQL), not HTTP:
    a million rows take seconds.
    """
    asyncio.run(_seed_events(url, seeded, count))


async def _seed_events(url: str, seeded: Seeded, count: int) -> None:
    engine = create_async_engine(url)
    base = seeded.content_ids[0]
    size = len(seeded.content_ids)
    stamp = "2026-01-05 09:30:00.000000"
    columns = (
        "kind, campaign_id, content_id, contact_id, prospect_id, tier, occurred_at, "
        "flagged, unique_hit, source"
    )
    # Seeded ids are equal for prospect, contact and content; tier is 1 + id % 3.
    select_rows = (
        f"'open', {seeded.campaign_id}, {base} + (x % {size}), {base} + (x % {size}), "
        f"{base} + (x % {size}), 1 + (({base} + (x % {size})) % 3), '{stamp}', "
        "false, x < " + str(size) + ", 'pixel'"
    )
    try:
        async with engine.begin() as connection:
            if engine.dialect.name == "sqlite":
                await connection.execute(
                    text(
                        f"WITH RECURSIVE c(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM c "  # noqa: S608
                        f"WHERE x < {count - 1}) INSERT INTO events ({columns}) "
                        f"SELECT {select_rows} FROM c"
                    )
                )
            else:
                await connection.execute(
                    text(
                        f"INSERT INTO events ({columns}) SELECT {select_rows} "  # noqa: S608
                        f"FROM generate_series(0, {count - 1}) AS x"
                    )
                )
            per_tier: dict[int, int] = {}
            for offset in range(size):
                tier = 1 + (base + offset) % 3
                hits = count // size + (1 if offset < count % size else 0)
                per_tier[tier] = per_tier.get(tier, 0) + hits
            for tier, total in per_tier.items():
                uniques = sum(1 for cid in seeded.content_ids if 1 + cid % 3 == tier)
                for name, value in (
                    ("open_total", total),
                    ("open_unique", min(uniques, total)),
                    ("sent", uniques),
                ):
                    await connection.execute(
                        insert(CampaignCounter).values(
                            campaign_id=seeded.campaign_id, tier=tier, name=name, value=value
                        )
                    )
    finally:
        await engine.dispose()


async def _new_campaign(url: str, name: str, industry: str) -> int:
    engine = create_async_engine(url)
    try:
        async with AsyncSession(engine) as session, session.begin():
            industry_id = await session.scalar(select(Industry.id).where(Industry.slug == industry))
            assert industry_id is not None, industry
            campaign = Campaign(name=name, industry_id=industry_id)
            session.add(campaign)
            await session.flush()
            return campaign.id
    finally:
        await engine.dispose()


def new_campaign(url: str, name: str, *, industry: str = "casino") -> int:
    """An empty campaign in the seeded industry `industry`; its id."""
    return asyncio.run(_new_campaign(url, name, industry))


def bulk_insert(url: str, rows: Rows, columns: Columns) -> None:
    """Insert `rows` table by table (in the dict's order), then ANALYZE the database."""
    if make_url(url).get_backend_name() == "sqlite":
        _fill_sqlite(url, rows, columns)
    else:
        asyncio.run(_fill_postgres(url, rows, columns))


def _sqlite_value(value: Any) -> Any:
    """A value as SQLAlchemy stores it in SQLite: datetimes as naive UTC text."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")
    return value


def _fill_sqlite(url: str, rows: Rows, columns: Columns) -> None:
    path = make_url(url).database
    assert path, url
    connection = sqlite3.connect(path)
    try:
        with connection:
            for table, values in rows.items():
                names = columns[table]
                marks = ", ".join("?" * len(names))
                connection.executemany(
                    f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})",  # noqa: S608
                    [tuple(_sqlite_value(v) for v in row) for row in values],
                )
        connection.execute("ANALYZE")
    finally:
        connection.close()


async def _fill_postgres(url: str, rows: Rows, columns: Columns) -> None:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn)
    try:
        for table, values in rows.items():
            await connection.copy_records_to_table(
                table, records=values, columns=list(columns[table])
            )
        await connection.execute("ANALYZE")
    finally:
        await connection.close()
