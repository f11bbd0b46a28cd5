"""What storing a tracked event costs PostgreSQL itself, per kind of event.

    python -m bench.eventcost [--events 3000] [--batch 20] [--contents 20000] [--bare]

The load benchmarks share two cores between the load tool, uvicorn and
PostgreSQL, so what PostgreSQL spends per stored event is requests per second
the tracking routes lack. This drives the event writer's PostgreSQL lane
(tracking/pglane.py, `write_events` with the production classifier) directly,
one kind at a time over a seeded campaign (bench/seeding.py: `--contents`
emails, ten events each already stored): pixel opens of random emails, first
clicks of emails never clicked, repeat clicks (1,000 emails clicked in turn, so
the writer reads each one's recent hits to judge it: 4-5 clicks an email over
the default run, as the load benchmark's click spreads its hits over 10,000
links) and opens reported through the API. Each kind first runs half as many
events unmeasured (statements prepared, pages touched since the checkpoint),
then `--events` in batches of `--batch`. Per event: the CPU time of the writer's
server process (/proc/<pid>/stat: PostgreSQL must run on this machine), the WAL
it wrote (`pg_current_wal_lsn()` deltas: another database's writes add to it),
and per batch the statements PostgreSQL ran, foreign-key checks included, when
`pg_stat_statements` is loaded. Needs the PostgreSQL of bench/constants.py.

The hits carry a browser's user agent, so the classifier takes them for a
person's: opens and clicks set first times and move prospects' last activity.
With `--bare` they carry none, as wrk's requests in the load benchmarks: every
hit is then a machine's (`empty_user_agent`), and a click moves only its
email's `last_clicked_at`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import asyncpg

from bench.databases import fresh_database
from bench.seeding import seed_campaign, seed_events
from webapp.tracking.batch import write_events
from webapp.tracking.events import ClickEvent, Hit, OpenEvent, TrackedEvent
from webapp.tracking.hits import HitClassifier
from webapp.tracking.pglane import PostgresLane, asyncpg_dsn

TICK = os.sysconf("SC_CLK_TCK")
REPEATED = 1_000
"""Emails clicked again and again by `repeat_click`, each in turn."""


def _cpu_seconds(pid: int) -> float:
    """User and system time of process `pid` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0"


def _hit(n: int, agent: str | None = BROWSER) -> Hit:
    return Hit(
        user_agent=agent,
        ip_hash=f"{n % 977:064x}",
        ip_prefix=f"10.{n % 200}.{n % 97}.0/24",
        ip="10.1.2.3",
    )


async def _statements(connection: asyncpg.Connection) -> float | None:
    try:
        value = await connection.fetchval(
            "SELECT sum(calls) FROM pg_stat_statements WHERE dbid = "
            "(SELECT oid FROM pg_database WHERE datname = current_database())"
        )
    except asyncpg.PostgresError:
        return None
    return float(value or 0)


async def measure(
    url: str, events: int, batch: int, agent: str | None = BROWSER
) -> dict[str, dict[str, float | None]]:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await connection.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    except asyncpg.PostgresError:
        pass  # not loaded: no statement counts
    links = dict(await connection.fetch("SELECT content_id, id FROM links"))
    ids = sorted(links)
    # Sent two days ago: the classifier judges a hit by the time since sending, so
    # the verdicts, and what they write, do not depend on how long the seeding took.
    await connection.execute("UPDATE contents SET sent_at = now() - interval '2 days'")
    # That update wrote every email's row again; packed back as inserted rows are (the
    # load benchmarks' emails, never updated before their hits), or each page would
    # keep half of itself free for the hits' updates.
    await connection.execute("VACUUM FULL contents")
    await connection.execute("VACUUM ANALYZE")
    await connection.execute("CHECKPOINT")
    lane, classify, rng = PostgresLane(url, in_flight=1), HitClassifier(), random.Random(7)
    never_clicked, clicked_again = iter(ids[len(ids) // 2 :]), ids[:REPEATED]

    def click(content_id: int, n: int) -> ClickEvent:
        now = datetime.now(UTC)
        hit = _hit(n, agent)
        return ClickEvent(content_id, now, source="link", link_id=links[content_id], hit=hit)

    def reported(content_id: int) -> OpenEvent:  # seeded ids: the contact's is the email's
        return OpenEvent(content_id, contact_id=content_id, source="api")

    kinds: dict[str, Callable[[int], TrackedEvent]] = {
        "pixel": lambda n: OpenEvent(rng.choice(ids), source="pixel", hit=_hit(n, agent)),
        "first_click": lambda n: click(next(never_clicked), n),
        "repeat_click": lambda n: click(clicked_again[n % REPEATED], n),
        "api_open": lambda n: reported(rng.choice(ids)),
    }

    async def run(make: Callable[[int], TrackedEvent], count: int) -> None:
        for start in range(0, count, batch):
            planned = [make(start + n) for n in range(batch)]
            await lane.run(partial(write_events, events=planned, classify=classify))

    figures: dict[str, dict[str, float | None]] = {}
    try:
        for make in kinds.values():
            await run(make, events // 2)
        pid = await _writer_pid(connection)
        for name, make in kinds.items():
            wal = await connection.fetchval("SELECT pg_current_wal_lsn()")
            calls, cpu = await _statements(connection), _cpu_seconds(pid)
            await run(make, events)
            cpu = _cpu_seconds(pid) - cpu
            wal = await connection.fetchval("SELECT pg_current_wal_lsn() - $1::pg_lsn", wal)
            after = await _statements(connection)
            figures[name] = {
                "cpu_us_per_event": round(1e6 * cpu / events, 1),
                "wal_bytes_per_event": round(float(wal) / events),
                "statements_per_batch": (
                    None
                    if calls is None or after is None
                    else round((after - calls - 2) / (events / batch), 1)  # less our 2 reads
                ),
            }
    finally:
        await lane.close()
        await connection.close()
    return figures


async def _writer_pid(connection: asyncpg.Connection) -> int:
    pid = await connection.fetchval(
        "SELECT pid FROM pg_stat_activity WHERE application_name = 'tune-event-writer' "
        "AND datname = current_database()"
    )
    return int(pid)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.eventcost")
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--contents", type=int, default=20_000)
    parser.add_argument("--bare", action="store_true", help="hits without a user agent")
    args = parser.parse_args()
    # Half of them are clicked first, 1.5 times --events; the other half holds the
    # repeatedly clicked ones.
    if args.contents < max(3 * args.events, 2 * REPEATED):
        parser.error(f"--contents must be at least three times --events and {2 * REPEATED}")
    with (
        tempfile.TemporaryDirectory() as workdir,
        fresh_database("postgresql", Path(workdir)) as url,
    ):
        seeded = seed_campaign(url, args.contents)
        seed_events(url, seeded, 10 * args.contents)
        started = time.perf_counter()
        figures = asyncio.run(measure(url, args.events, args.batch, None if args.bare else BROWSER))
    print(f"events of each kind: {args.events}, batches of {args.batch}, "
          f"{'no user agent' if args.bare else 'a browser user agent'}, "
          f"{time.perf_counter() - started:.0f} s")  # fmt: skip
    for name, row in figures.items():
        print(f"{name:13s}", "  ".join(f"{key} {value}" for key, value in row.items()))


if __name__ == "__main__":
    main()
