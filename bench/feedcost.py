"""What a page of the event feed (`GET /api/events`) costs, on PostgreSQL.

    python -m bench.feedcost [--events 200000] [--pages 200]

The feed's query (campaigns/feed.py `event_page`) over a seeded campaign's
`--events` opens and a second campaign's 1,000: the first page, a
page deep in the stream (after half the events) and the second campaign's first
page (its rows spread through the first's), each of 50 and of 500 events. Per
page: the CPU of this process (the query built, the rows made into events) and
of the PostgreSQL server process that ran it (/proc/<pid>/stat: PostgreSQL must
run on this machine), the best of 3 runs of `--pages` pages. It runs on trees
from before the feed module too (`webapp.campaigns.engagement.event_page`, id
order), to compare: put this file in that tree's bench/.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.constants import SECRET
from bench.databases import fresh_database
from bench.eventcost import _cpu_seconds
from bench.seeding import seed_campaign, seed_events
from webapp.core.config import Config
from webapp.core.db import Database

try:
    from webapp.campaigns.feed import event_page

    ORDER = "txid, id"
except ImportError:  # a tree from before the feed module: id order
    from webapp.campaigns.engagement import event_page  # type: ignore[attr-defined,no-redef]

    ORDER = "id"


async def measure(url: str, events: int, pages: int, campaigns: tuple[int, int]) -> dict[str, Any]:
    db = Database(Config(database_url=url, secret_key=SECRET, db_pool_size=1, db_max_overflow=0))
    figures: dict[str, Any] = {}
    async with db.read() as session:
        pid = await session.scalar(text("SELECT pg_backend_pid()"))
        middle = (
            await session.execute(
                text(f"SELECT {ORDER} FROM events ORDER BY {ORDER} OFFSET :n LIMIT 1"),  # noqa: S608
                {"n": events // 2},
            )
        ).one()
        deep: Any = list(middle) if ORDER != "id" else middle[0]
        for limit in (50, 500):
            sides: dict[str, dict[str, Any]] = {
                "first": {},
                "deep": {"after": deep},
                "campaign": {"campaign_id": campaigns[1]},
            }
            for name, options in sides.items():
                page = partial(event_page, session, limit, **options)
                await page()
                best: tuple[float, float] | None = None
                for _ in range(3):
                    python, server = time.process_time(), _cpu_seconds(pid)
                    for _ in range(pages):
                        rows, _key = await page()
                    spent = (time.process_time() - python, _cpu_seconds(pid) - server)
                    best = spent if best is None or sum(spent) < sum(best) else best
                assert best is not None and len(rows) == limit
                figures[f"{name} {limit}"] = {
                    "python_us": round(best[0] / pages * 1e6),
                    "postgres_us": round(best[1] / pages * 1e6),
                }
    await db.dispose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.feedcost")
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--pages", type=int, default=200)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as workdir,
        fresh_database("postgresql", Path(workdir)) as url,
    ):
        big = seed_campaign(url, 2_000)
        small = seed_campaign(url, 1_000)
        seed_events(url, big, args.events)
        seed_events(url, small, 1_000)
        figures = asyncio.run(
            measure(url, args.events, args.pages, (big.campaign_id, small.campaign_id))
        )
    print(f"order {ORDER}, {args.events} events, best of 3 runs of {args.pages} pages")
    for name, row in figures.items():
        print(f"{name:13s}", "  ".join(f"{key} {value}" for key, value in row.items()))


if __name__ == "__main__":
    main()
