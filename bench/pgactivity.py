"""What PostgreSQL did while a load benchmark measured: its statistics read between runs.

The same route measured against the same yardstick can score differently in two
suites of one run on PostgreSQL (the pixel at x0.86 of bare Quart in `pixel`,
x1.51 in `concurrency`). A growing `events` table, checkpoints, the background
writer, autovacuum or another database's work on the same server may take CPU
during some runs and not others; these snapshots say which did, run by run.

A snapshot is read before a round and after each side's run, never during one:
the cluster's checkpoints and buffer writes (`pg_stat_bgwriter`), its WAL
(`pg_stat_wal`), the benchmark database's transactions, blocks and temporary
files (`pg_stat_database`) and the other databases' commits, the vacuum and
analyze counts of the tables tracking writes, autovacuum workers running at the
time, and the CPU time of the server's processes by kind (from /proc, when the
server runs on this machine). Backends publish their counts within about a
second of going idle, so a run's transactions may show in the next one's delta.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from bench.constants import CLOCK_TICKS

TABLES = ("events", "contents", "prospects", "campaign_counters", "activity_buckets")
"""The tables tracking hits and API writes touch."""

SETTINGS = ("autovacuum", "checkpoint_timeout", "max_wal_size", "shared_buffers", "fsync")

_DATABASE = """
    SELECT xact_commit, xact_rollback, blks_read, blks_hit, tup_returned, tup_fetched,
           tup_inserted, tup_updated, tup_deleted, temp_files, temp_bytes, deadlocks
    FROM pg_stat_database WHERE datname = current_database()"""
_OTHERS = """
    SELECT datname, xact_commit AS other_databases_xact_commit,
           tup_inserted + tup_updated + tup_deleted AS other_databases_rows_written
    FROM pg_stat_database WHERE datname IS NOT NULL AND datname <> current_database()"""
_TABLES = """
    SELECT relname, autovacuum_count, autoanalyze_count, vacuum_count, analyze_count,
           n_live_tup, n_dead_tup
    FROM pg_stat_user_tables WHERE relname = ANY($1::text[])"""
_PROCESSES = """
    SELECT pid, backend_type, datname = current_database() AS ours FROM pg_stat_activity"""
_PROCESS_KINDS = {
    "checkpointer": "checkpointer",
    "background writer": "bgwriter",
    "walwriter": "walwriter",
    "autovacuum worker": "autovacuum",
}
_GAUGES = {"n_live_tup", "n_dead_tup", "autovacuum_running", "events_rows"}
"""Levels at the snapshot, kept as they are rather than subtracted."""


def _ticks(pid: int) -> tuple[int, int, int] | None:
    """(ppid, utime + stime, cutime + cstime) of a local process, in clock ticks."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])


class Activity:
    """Snapshots of one PostgreSQL database's statistics, grouped by round and side.

    `round_started()` opens a round (and counts `events`), `side_done(name)` records
    what happened since the last snapshot under `name`; `rounds` holds the result.
    """

    def __init__(self, url: str) -> None:
        self.dsn = make_url(url).set(drivername="postgresql").render_as_string(False)
        self.loop = asyncio.new_event_loop()
        self.connection: Any = self.loop.run_until_complete(self._connect())
        self.settings: dict[str, str] = self.loop.run_until_complete(self._settings())
        self.rounds: list[dict[str, Any]] = []
        self.last: dict[str, Any] = {}
        self.pids: dict[int, tuple[str, int]] = {}
        """Each server process seen at the last snapshot: its kind and CPU ticks."""
        self.postmaster = 0
        self.parent: tuple[int, int, int] | None = None
        """The postmaster's (ppid, CPU ticks, reaped children's CPU ticks) at the last one."""
        self.processes: list[Any] = []

    async def _connect(self) -> Any:
        import asyncpg

        return await asyncpg.connect(self.dsn)

    async def _settings(self) -> dict[str, str]:
        rows = await self.connection.fetch(
            "SELECT name, setting, unit FROM pg_settings WHERE name = ANY($1::text[])",
            list(SETTINGS),
        )
        return {row["name"]: row["setting"] + (row["unit"] or "") for row in rows}

    def close(self) -> None:
        self.loop.run_until_complete(self.connection.close())
        self.loop.close()

    def round_started(self) -> None:
        snapshot = self.loop.run_until_complete(self._snapshot(count_events=True))
        self._cpu_since()
        self.rounds.append(
            {
                "events_rows_at_start": snapshot["events_rows"],
                "load_1min_at_start": round(os.getloadavg()[0], 2),
                "sides": {},
            }
        )
        self.last = snapshot

    def side_done(self, name: str) -> dict[str, Any]:
        """What PostgreSQL did since the last snapshot, recorded as `name`'s run."""
        snapshot = self.loop.run_until_complete(self._snapshot())
        delta = _delta(self.last, snapshot)
        delta["cpu_s"] = self._cpu_since()
        self.rounds[-1]["sides"][name] = delta
        self.last = snapshot
        return delta

    async def _snapshot(self, *, count_events: bool = False) -> dict[str, Any]:
        fetch = self.connection.fetchrow
        values: dict[str, Any] = {}
        for query in ("SELECT * FROM pg_stat_bgwriter", "SELECT * FROM pg_stat_wal"):
            row = await fetch(query)
            values |= {k: v for k, v in row.items() if k != "stats_reset"}
        values |= dict(await fetch(_DATABASE))
        values["others"] = {
            row["datname"]: {k: v for k, v in row.items() if k != "datname"}
            for row in await self.connection.fetch(_OTHERS)
        }
        tables = await self.connection.fetch(_TABLES, list(TABLES))
        values["tables"] = {row["relname"]: dict(row) for row in tables}
        for row in values["tables"].values():
            row.pop("relname")
        values["autovacuum_running"] = await self.connection.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'"
        )
        self.processes = await self.connection.fetch(_PROCESSES)
        if count_events:
            values["events_rows"] = await self.connection.fetchval("SELECT count(*) FROM events")
        return values

    def _cpu_since(self) -> dict[str, float]:
        """CPU seconds of the server's processes since the last call, by kind: this
        database's backends (`ours`), the checkpointer, background writer, WAL writer,
        autovacuum workers, every other process (`other`, the postmaster included), and
        processes that ended meanwhile (`ended`: the postmaster's reaped children, less
        what they had used by the last call). Empty the first time, or for a remote server."""
        seen: dict[int, tuple[str, int]] = {}
        spent: dict[str, int] = {}
        for row in self.processes:
            ticks = _ticks(row["pid"])
            if ticks is None:
                continue
            self.postmaster = self.postmaster or ticks[0]
            kind = _PROCESS_KINDS.get(row["backend_type"]) or ("ours" if row["ours"] else "other")
            seen[row["pid"]] = (kind, ticks[1])
            spent[kind] = spent.get(kind, 0) + ticks[1] - self.pids.get(row["pid"], (kind, 0))[1]
        parent = _ticks(self.postmaster) if self.postmaster else None
        earlier, before = self.parent, self.pids
        self.parent, self.pids = parent, seen
        if parent is None or earlier is None:
            return {}
        gone = sum(ticks for pid, (_, ticks) in before.items() if pid not in seen)
        spent["ended"] = parent[2] - earlier[2] - gone
        spent["other"] = spent.get("other", 0) + parent[1] - earlier[1]
        return {k: round(v / CLOCK_TICKS, 2) for k, v in sorted(spent.items())}

    def as_json(self) -> dict[str, Any]:
        return {"postgres_settings": self.settings, "postgres_rounds": self.rounds}


def _delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """`after - before` for counters (nested per table), levels as they are in `after`."""
    delta: dict[str, Any] = {}
    for key, value in after.items():
        if key == "others":
            # Other databases (tests' among them) come and go: each one's own counts since
            # the last snapshot, or since it was created; a dropped one's are gone.
            for name, row in value.items():
                for field, count in row.items():
                    since = count - before.get(key, {}).get(name, {}).get(field, 0)
                    delta[field] = delta.get(field, 0) + since
        elif isinstance(value, dict):
            delta[key] = {
                name: _delta(before.get(key, {}).get(name, {}), row) for name, row in value.items()
            }
        elif key in _GAUGES:
            delta[key] = value
        elif isinstance(value, int | float) or hasattr(value, "as_integer_ratio"):
            delta[key] = float(value - before.get(key, 0))
            delta[key] = int(delta[key]) if delta[key].is_integer() else round(delta[key], 1)
    return delta


def combined(deltas: list[dict[str, Any]]) -> dict[str, Any]:
    """Several runs' deltas as one: counters and CPU summed, levels as in the last."""
    total: dict[str, Any] = {}
    for delta in deltas:
        for key, value in delta.items():
            if isinstance(value, dict):
                inner = total.setdefault(key, {})
                for name, item in value.items():
                    if isinstance(item, dict):
                        inner[name] = combined([inner.get(name, {}), item])
                    else:
                        inner[name] = round(inner.get(name, 0) + item, 2)
            elif key in _GAUGES:
                total[key] = value
            else:
                total[key] = round(total.get(key, 0) + value, 2)
    return total


def round_rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    """(figure, value) for each round of a benchmark's result on PostgreSQL: what the
    server did over the round, and its CPU during each side's run."""
    rows = []
    for number, recorded in enumerate(result.get("postgres_rounds", []), 1):
        sides = recorded["sides"]
        cpu = ", ".join(
            f"{name} {sum(d.get('cpu_s', {}).values()):.2f}" for name, d in sides.items()
        )
        rows.append(
            (
                f"PostgreSQL in round {number} ({recorded['events_rows_at_start']:,} events rows "
                f"at start, load {recorded['load_1min_at_start']})",
                f"{summary(combined(list(sides.values())))}; pg CPU s by side: {cpu}",
            )
        )
    return rows


def summary(delta: dict[str, Any]) -> str:
    """One run's delta in a line: what could have taken CPU from the server measured."""
    tables = delta.get("tables", {})
    vacuums = sum(t.get("autovacuum_count", 0) + t.get("vacuum_count", 0) for t in tables.values())
    analyses = sum(
        t.get("autoanalyze_count", 0) + t.get("analyze_count", 0) for t in tables.values()
    )
    cpu = delta.get("cpu_s", {})
    return (
        f"pg CPU {sum(cpu.values()):.2f} s ("
        + ", ".join(f"{k} {v}" for k, v in cpu.items() if v)
        + f"); checkpoints {delta.get('checkpoints_timed', 0)}+{delta.get('checkpoints_req', 0)}"
        f", buffers ckpt/clean/backend {delta.get('buffers_checkpoint', 0)}/"
        f"{delta.get('buffers_clean', 0)}/{delta.get('buffers_backend', 0)}"
        f", WAL {delta.get('wal_bytes', 0) / 2**20:.1f} MB, commits {delta.get('xact_commit', 0)}"
        f" (other dbs {delta.get('other_databases_xact_commit', 0)})"
        f", blks read {delta.get('blks_read', 0)}, temp files {delta.get('temp_files', 0)}"
        f", (auto)vacuums {vacuums}, (auto)analyzes {analyses}"
        f", autovacuum running {delta.get('autovacuum_running', 0)}"
    )


@contextmanager
def watching(url: str) -> Iterator[Activity | None]:
    """An `Activity` on a PostgreSQL `url` (None on SQLite), closed afterwards."""
    if not url.startswith("postgresql"):
        yield None
        return
    activity = Activity(url)
    try:
        yield activity
    finally:
        activity.close()


def figures(activity: Activity | None) -> dict[str, Any]:
    """The snapshots' results for a benchmark's JSON (nothing on SQLite)."""
    return {} if activity is None else activity.as_json()
