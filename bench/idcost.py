"""What AUTOINCREMENT (migration 0023) costs SQLite: the migration itself, and the event
writer's inserts after it.

    python -m bench.idcost [--contents 20000] [--events 1000000] [--rounds 6]
                           [--batches 200] [--batch 20]

Seeds one SQLite file at revision 0022 (bench/seeding.py: `--contents` emails with a
link each and `--events` stored opens), copies it, and times migration 0023 on the
copy. That copy, taken back down to 0022 (its tables created again without the
keyword), gives the other file: both are then packed (VACUUM) and hold the same rows
in the same layout, one without AUTOINCREMENT, one with.
Then the event writer's SQLite path (`write_events` on a DB-API connection, one
transaction a batch, as tracking/writer.py runs it) stores pixel opens of random
emails and first clicks of emails never clicked, in turns on each file (A B, then
B A, ... for `--rounds`), `--batches` batches of `--batch` events a turn. Per event:
this process's CPU time (SQLite runs in it) and the wall time, medians over the rounds.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

from alembic import command

from bench.seeding import seed_campaign, seed_events
from webapp.core.migrate import alembic_config, upgrade
from webapp.core.sqlitedirect import sqlite_pragmas
from webapp.tracking.batch import write_events
from webapp.tracking.events import ClickEvent, Hit, OpenEvent, TrackedEvent
from webapp.tracking.hits import HitClassifier
from webapp.tracking.store import Statements

BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0"


def _hit(n: int) -> Hit:
    return Hit(
        user_agent=BROWSER,
        ip_hash=f"{n % 977:064x}",
        ip_prefix=f"10.{n % 200}.{n % 97}.0/24",
        ip="10.1.2.3",
    )


def _connect(path: Path) -> sqlite3.Connection:
    """A connection set up by Tune's own pragmas, transactions begun by hand."""
    connection = sqlite3.connect(path, isolation_level=None)
    sqlite_pragmas(connection)
    return connection


def _copy(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite file, what its write-ahead log holds included."""
    with closing(sqlite3.connect(source)) as reading, closing(sqlite3.connect(target)) as copy:
        reading.backup(copy)


class Writer:
    """The event writer's SQLite path on one file, fed pixel opens or first clicks."""

    def __init__(self, path: Path) -> None:
        self.connection = _connect(path)
        links = self.connection.execute("SELECT content_id, id FROM links ORDER BY content_id")
        self.links = dict(links.fetchall())
        self.ids = sorted(self.links)
        self.never_clicked = iter(self.ids)
        self.classify = HitClassifier()
        self.rng = random.Random(7)

    def pixel(self, n: int) -> TrackedEvent:
        return OpenEvent(self.rng.choice(self.ids), source="pixel", hit=_hit(n))

    def first_click(self, n: int) -> TrackedEvent:
        content_id = next(self.never_clicked)
        now = datetime.now(UTC)
        return ClickEvent(
            content_id, now, source="link", link_id=self.links[content_id], hit=_hit(n)
        )

    def run(
        self, make: Callable[[int], TrackedEvent], batches: int, size: int
    ) -> tuple[float, float]:
        """CPU and wall seconds for `batches` batches of `size` events."""
        cpu, wall = time.process_time(), time.perf_counter()
        for start in range(0, batches * size, size):
            planned = [make(start + n) for n in range(size)]
            self.connection.execute("BEGIN IMMEDIATE")
            write_events(Statements(self.connection, sqlite=True), planned, self.classify)
            self.connection.execute("COMMIT")
        return time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.idcost")
    parser.add_argument("--contents", type=int, default=20_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--batch", type=int, default=20)
    args = parser.parse_args()
    if args.contents < args.rounds * args.batches * args.batch:
        parser.error("--contents must cover every first click: rounds x batches x batch")
    with tempfile.TemporaryDirectory() as workdir:
        plain, stable = Path(workdir) / "plain.db", Path(workdir) / "stable.db"
        url = f"sqlite+aiosqlite:///{plain}"
        upgrade(url, "0022")
        seed_events(url, seed_campaign(url, args.contents), args.events)
        with closing(_connect(plain)) as connection:
            connection.execute("UPDATE contents SET sent_at = datetime('now', '-2 days')")
        _copy(plain, stable)
        load = os.getloadavg()
        started = time.perf_counter()
        upgrade(f"sqlite+aiosqlite:///{stable}", "0023")
        migrated = time.perf_counter() - started
        print(f"migration 0023 on {args.contents} emails and links, {args.events} events: "
              f"{migrated:.1f} s (load {load[0]:.2f})")  # fmt: skip
        # The same rows in the same layout but for the key: the plain file is the migrated
        # one taken back down, and both are packed.
        plain.unlink()
        _copy(stable, plain)
        command.downgrade(alembic_config(f"sqlite+aiosqlite:///{plain}"), "0022")
        for path in (plain, stable):
            with closing(_connect(path)) as connection:
                connection.execute("VACUUM")
                connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")

        writers = {"plain": Writer(plain), "autoincrement": Writer(stable)}
        figures: dict[tuple[str, str], list[tuple[float, float]]] = {}
        load = os.getloadavg()
        for number in range(args.rounds):
            order = list(writers) if number % 2 == 0 else list(reversed(writers))
            for kind in ("pixel", "first_click"):
                for name in order:
                    writer = writers[name]
                    make = writer.pixel if kind == "pixel" else writer.first_click
                    figures.setdefault((kind, name), []).append(
                        writer.run(make, args.batches, args.batch)
                    )
        events = args.batches * args.batch
        after = os.getloadavg()[0]
        print(f"{args.rounds} rounds of {events} events a kind and file, batches of "
              f"{args.batch}; load {load[0]:.2f} before, {after:.2f} after")  # fmt: skip
        for (kind, name), runs in figures.items():
            cpu = statistics.median(1e6 * c / events for c, _ in runs)
            wall = statistics.median(1e6 * w / events for _, w in runs)
            rounds = " ".join(f"{1e6 * c / events:.0f}" for c, _ in runs)
            print(f"{kind:12s} {name:14s} cpu {cpu:6.1f} us/event  wall {wall:6.1f} us/event"
                  f"  (cpu by round: {rounds})")  # fmt: skip


if __name__ == "__main__":
    main()
