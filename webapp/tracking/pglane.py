"""The event writer's PostgreSQL lane: asyncpg connections of its own, no session.

Through an SQLAlchemy async session each batch cost the event loop about
1 ms of Python (session, transaction, the DB-API adapter's per-statement
work) on top of its events. Here the writer holds plain asyncpg
connections: asyncpg prepares each statement once per connection and sends
`executemany` rows in one round trip, so the loop's share is mostly the
planning of the batch itself. The same `write_events` plans the batch as on
SQLite; its statements are run through SQLAlchemy's greenlet bridge
(`greenlet_spawn` / `await_only`), the way SQLAlchemy runs its own async
drivers.

A batch's common writes (its events, the counters and hourly buckets they
move, the emails' first and last times, the prospects' last activity) go in
one statement of data-modifying CTEs over arrays (`STORE`), so a batch is
four round trips (begin, lock the emails, write, commit) instead of eight:
on a machine whose cores PostgreSQL shares with the server, each round trip
waits for a process to be scheduled, and the batch's time is what bounds the
tracking routes' throughput.

The lane holds two connections so that two batches can be in flight: the
writer starts the next batch as soon as the previous one has written
everything and waits only for its commit (the WAL flush, and the event loop
and the scheduler getting back to it). Row locks keep them in order: the next
batch's `targets` (`SELECT ... FOR UPDATE` of its emails) waits for the
previous batch's commit whenever they share an email, and then reads the
emails and their recent hits as that commit left them, so bursts, repeats,
first opens and each email's order come out as with one batch after the
other; shared counter and bucket rows wait for that commit too. The one
read that can miss the other batch's hits is a prospect's last activity
recomputed after a re-flag (`ACTIVITY_AGAIN`) when the other batch holds a
hit of another email of the same prospect: the same as two workers.

Each statement is planned once per connection (`SERVER_SETTINGS`): at every
batch, planning the recent hits' read cost PostgreSQL about as much as running it.

A connection that breaks (PostgreSQL restarted, network gone) is dropped and
opened again for the next batch; the failed batch is reported to its waiters
like any other failure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.util import await_only, greenlet_spawn

from webapp.tracking.store import FIRST_RESETS, Statements, Writes

T = TypeVar("T")

STORE = """
WITH new_events AS (
    INSERT INTO events (kind, campaign_id, content_id, contact_id, prospect_id, tier, link_id,
        occurred_at, flagged, flag_reason, unique_hit, source, user_agent, ip_hash, ip_prefix,
        ruleset)
    SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[],
        $6::smallint[], $7::bigint[], $8::timestamptz[], $9::boolean[], $10::text[],
        $11::boolean[], $12::text[], $13::text[], $14::text[], $15::text[], $16::smallint[])
), counters AS (
    INSERT INTO campaign_counters (campaign_id, tier, name, value)
    SELECT * FROM unnest($17::bigint[], $18::smallint[], $19::text[], $20::bigint[])
    ON CONFLICT (campaign_id, tier, name)
    DO UPDATE SET value = campaign_counters.value + excluded.value
), buckets AS (
    INSERT INTO activity_buckets (campaign_id, bucket, kind, value)
    SELECT * FROM unnest($21::bigint[], $22::timestamptz[], $23::text[], $24::bigint[])
    ON CONFLICT (campaign_id, bucket, kind)
    DO UPDATE SET value = activity_buckets.value + excluded.value
), emails AS (
    UPDATE contents SET
        first_opened_at = coalesce(u.opened, contents.first_opened_at),
        first_clicked_at = coalesce(u.clicked, contents.first_clicked_at),
        replied_at = coalesce(u.replied, contents.replied_at),
        last_clicked_at = coalesce(u.last_click, contents.last_clicked_at)
    FROM unnest($25::bigint[], $26::timestamptz[], $27::timestamptz[], $28::timestamptz[],
        $29::timestamptz[]) AS u (id, opened, clicked, replied, last_click)
    WHERE contents.id = ANY($25::bigint[]) AND contents.id = u.id
), activity AS (
    UPDATE prospects SET last_activity_at = u.at
    FROM unnest($30::bigint[], $31::timestamptz[]) AS u (id, at)
    WHERE prospects.id = ANY($30::bigint[]) AND prospects.id = u.id
        AND (prospects.last_activity_at IS NULL OR prospects.last_activity_at < u.at)
)
SELECT 1
"""
"""`Statements.store` in one round trip: each part reads its rows from arrays (an empty
array writes nothing), and no two parts touch the same row. One text whatever the
batch holds, so asyncpg prepares it once per connection. The updates also match their
ids with `= ANY(...)`: joined to `unnest` alone, PostgreSQL planned a hash join over a
sequential scan of every content and every prospect, in each batch."""


SERVER_SETTINGS = {
    "application_name": "tune-event-writer",
    "plan_cache_mode": "force_generic_plan",
}
"""The lane's connections use each prepared statement's generic plan. Left to choose,
PostgreSQL planned the read of the emails' recent hits (batch.py, `RECENT_SELECT`) again
at every batch: its estimate for the generic plan (an array of ids, a time bound) was
above that of the plans made for the values at hand, though the plan is the same scan of
`ix_events_content_time` with the same conditions. The lane's other statements look rows
up by id (or write from arrays, `STORE`) and were already on their generic plans."""


def asyncpg_dsn(database_url: str) -> str:
    """The libpq-style DSN asyncpg takes, from Tune's `postgresql+asyncpg://` URL."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


class PostgresLane:
    """Runs the writer's transactions on dedicated asyncpg connections, at most
    `in_flight` at once (one connection each)."""

    def __init__(self, database_url: str, *, in_flight: int = 2) -> None:
        self.dsn = asyncpg_dsn(database_url)
        self.in_flight = in_flight
        self._idle: list[asyncpg.Connection | None] = [None] * in_flight
        self._free = asyncio.Semaphore(in_flight)
        self._busy: set[asyncpg.Connection] = set()

    async def run(
        self, work: Callable[[Statements], T], written: Callable[[], None] | None = None
    ) -> T:
        """`work(statements)` inside one transaction, committed when it returns.

        `written()` is called once `work` has returned, before the commit: the
        caller may start the next transaction then.
        """
        async with self._free:
            connection = await self._connect(self._idle.pop())
            self._busy.add(connection)
            keep = True
            try:
                async with connection.transaction():
                    result = await greenlet_spawn(work, AsyncpgStatements(connection))
                    if written is not None:
                        written()
                return result
            except BaseException as exc:
                keep = not connection.is_closed() and isinstance(exc, asyncpg.PostgresError)
                raise
            finally:
                self._busy.discard(connection)
                if not keep:
                    connection.terminate()  # a fresh connection for the next batch
                self._idle.append(connection if keep else None)

    async def _connect(self, connection: asyncpg.Connection | None) -> asyncpg.Connection:
        if connection is None or connection.is_closed():
            try:
                connection = await asyncpg.connect(
                    self.dsn,
                    timeout=10,
                    server_settings=SERVER_SETTINGS,
                )
            except BaseException:
                self._idle.append(None)
                raise
        return connection

    async def close(self) -> None:
        connections = [*self._idle, *self._busy]
        self._idle = [None] * self.in_flight
        self._busy.clear()
        for connection in connections:
            if connection is not None and not connection.is_closed():
                connection.terminate()


class AsyncpgStatements(Statements):
    """`Statements` over a raw asyncpg connection, called from inside `greenlet_spawn`."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection = connection
        self.sqlite = False

    def fetch(self, statement: str, params: Sequence[Any]) -> list[Any]:
        return list(await_only(self.connection.fetch(self.sql(statement), *params)))

    def execute(self, statement: str, params: Sequence[Any]) -> int:
        status: str = await_only(self.connection.execute(self.sql(statement), *params))
        return int(status.rsplit(" ", 1)[-1])

    def many(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            await_only(self.connection.executemany(self.sql(statement), rows))

    def store(self, writes: Writes) -> None:
        """The same writes as `Statements.store`, in one statement (`STORE`)."""
        for kind, contents in writes.resets.items():  # rare: a first time re-flagged
            self.many(FIRST_RESETS[kind], [(cid,) for cid in sorted(contents)])
        columns: list[list[Any]] = [list(c) for c in zip(*writes.rows, strict=True)] or [[]] * 16
        counters = sorted(writes.counters.items())
        buckets = sorted(writes.buckets.items())
        emails: dict[int, list[Any]] = {}
        for position, moments in enumerate(
            (
                writes.firsts.get("open", {}),
                writes.firsts.get("click", {}),
                writes.firsts.get("reply", {}),
                writes.last_clicks,
            )
        ):
            for content_id, moment in moments.items():
                emails.setdefault(content_id, [None] * 4)[position] = moment
        email_rows = sorted(emails.items())
        activity = sorted(writes.activity.items())
        await_only(
            self.connection.execute(
                STORE,
                *columns,
                [k[0] for k, _ in counters],
                [k[1] for k, _ in counters],
                [k[2] for k, _ in counters],
                [v for _, v in counters],
                [k[0] for k, _ in buckets],
                [k[1] for k, _ in buckets],
                [k[2] for k, _ in buckets],
                [v for _, v in buckets],
                [cid for cid, _ in email_rows],
                *([m[i] for _, m in email_rows] for i in range(4)),
                [pid for pid, _ in activity],
                [m for _, m in activity],
            )
        )
