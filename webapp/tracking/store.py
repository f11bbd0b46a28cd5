"""The SQL that stores a batch of tracked events and moves the counters the pages read.

Plain statements on the driver's connection, in the caller's transaction: through
the ORM, per-statement and per-row processing was most of the CPU a tracked event
added to its request (docs/benchmarks.md). The writer (tracking/writer.py) runs
`write_events` (tracking/batch.py, which plans a batch with these statements) on its
own connection; the email sender and the inbox call `store_events` and
`bump_counters` inside their own transactions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from webapp.core.db import numbered, read_time
from webapp.core.models import Event
from webapp.tracking.events import (
    Classifier,
    Outcome,
    Target,
    TrackedEvent,
    no_flags,
)

T = TypeVar("T")


async def store_events(
    session: AsyncSession, events: Sequence[TrackedEvent], classify: Classifier = no_flags
) -> tuple[list[Outcome], set[int]]:
    """Write `events` and their counters in the caller's transaction.

    Returns each event's outcome and the ids of the campaigns whose counters moved.
    """
    from webapp.tracking.batch import write_events  # it builds on the statements here

    return await _on_driver(session, lambda db: write_events(db, events, classify))


async def bump_counters(session: AsyncSession, deltas: dict[tuple[int, int, str], int]) -> None:
    """Add `deltas` keyed by (campaign_id, tier, counter name) in the caller's transaction."""
    await _on_driver(session, lambda db: db.bump(COUNTERS_UPSERT, deltas))


async def _on_driver(session: AsyncSession, work: Callable[[Statements], T]) -> T:
    """Run `work` on the session's DB-API connection (SQLAlchemy's adapter over
    aiosqlite or asyncpg), inside the session's transaction."""
    sqlite = session.get_bind().dialect.name == "sqlite"

    def run(sync_session: Session) -> T:
        connection = sync_session.connection().connection.dbapi_connection
        return work(Statements(connection, sqlite=sqlite))

    return await session.run_sync(run)


COUNTERS_UPSERT = (
    "INSERT INTO campaign_counters (campaign_id, tier, name, value) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (campaign_id, tier, name) "
    "DO UPDATE SET value = campaign_counters.value + excluded.value"
)
BUCKETS_UPSERT = (
    "INSERT INTO activity_buckets (campaign_id, bucket, kind, value) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (campaign_id, bucket, kind) "
    "DO UPDATE SET value = activity_buckets.value + excluded.value"
)
EVENT_COLUMNS = (
    "kind, campaign_id, content_id, contact_id, prospect_id, tier, link_id, occurred_at, "
    "flagged, flag_reason, unique_hit, source, user_agent, ip_hash, ip_prefix, ruleset"
)
EVENT_INSERT = f"INSERT INTO events ({EVENT_COLUMNS}) VALUES ({', '.join('?' * 16)})"  # noqa: S608 (constants only)
FIRST_UPDATES = {
    "open": "UPDATE contents SET first_opened_at = ? WHERE id = ?",
    "click": "UPDATE contents SET first_clicked_at = ? WHERE id = ?",
    "reply": "UPDATE contents SET replied_at = ? WHERE id = ?",
}
UNSUBSCRIBE_FIRST = (
    "UPDATE contacts SET unsubscribed_at = ? WHERE id = ? AND unsubscribed_at IS NULL"
)
LAST_CLICKED = "UPDATE contents SET last_clicked_at = ? WHERE id = ?"
LAST_ACTIVITY = (
    "UPDATE prospects SET last_activity_at = ? "
    "WHERE id = ? AND (last_activity_at IS NULL OR last_activity_at < ?)"
)
TARGETS_SELECT = (
    "SELECT c.id, c.campaign_id, c.contact_id, c.prospect_id, c.tier, c.sent_at, "
    "c.last_clicked_at, k.tracking_enabled, c.first_opened_at, c.first_clicked_at, "
    "c.replied_at FROM contents c JOIN campaigns k ON k.id = c.campaign_id "
    "WHERE c.id {ids} ORDER BY c.id"
)
"""`{ids}` is `IN (?, ...)` on SQLite, `= ANY(?::bigint[])` on PostgreSQL: one statement
text, and an index scan (`IN (SELECT unnest(...))` planned a hash join over every content)."""
FIRST_RESETS = {
    "open": "UPDATE contents SET first_opened_at = NULL WHERE id = ?",
    "click": "UPDATE contents SET first_clicked_at = NULL WHERE id = ?",
}
MAKE_HOT = "UPDATE prospects SET hot = TRUE WHERE id = ?"
NOT_HOT = "SELECT id FROM prospects WHERE id IN ({marks}) AND hot = ? ORDER BY id"


class Statements:
    """Plain SQL on a DB-API connection: SQLite's own, or SQLAlchemy's asyncpg adapter.

    Statements are written with `?`; PostgreSQL gets `$1, $2, ...`. SQLite stores
    UTC times as naive text (as SQLAlchemy's DateTime does), PostgreSQL as timestamptz.
    """

    def __init__(self, connection: Any, *, sqlite: bool) -> None:
        self.cursor = connection.cursor()
        self.sqlite = sqlite

    def sql(self, statement: str) -> str:
        return statement if self.sqlite else numbered(statement)

    def time(self, moment: datetime | None) -> Any:
        if moment is None or not self.sqlite:
            return moment
        if moment.tzinfo is UTC:  # the common case, in one call: "...+00:00" without the offset
            return moment.isoformat(" ", "microseconds")[:-6]
        return moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")

    def fetch(self, statement: str, params: Sequence[Any]) -> list[Any]:
        self.cursor.execute(self.sql(statement), params)
        return list(self.cursor.fetchall())

    def execute(self, statement: str, params: Sequence[Any]) -> int:
        self.cursor.execute(self.sql(statement), params)
        return int(self.cursor.rowcount)

    def many(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self.cursor.executemany(self.sql(statement), rows)

    def bump(self, upsert: str, deltas: dict[tuple[Any, ...], int]) -> None:
        """Add deltas to counter rows, creating them as needed.

        Sorted, so that concurrent writers (several workers) lock rows in one order.
        """
        self.many(
            upsert,
            [
                (*(self.time(k) if isinstance(k, datetime) else k for k in key), delta)
                for key, delta in sorted(deltas.items())
            ],
        )

    def store(self, writes: Writes) -> None:
        """The batch's events, counters, buckets, first times and last activity, in this order."""
        self.many(EVENT_INSERT, writes.rows)
        self.bump(COUNTERS_UPSERT, writes.counters)
        self.bump(BUCKETS_UPSERT, writes.buckets)
        for kind, contents in writes.resets.items():
            self.many(FIRST_RESETS[kind], [(cid,) for cid in sorted(contents)])
        for kind, moments in writes.firsts.items():
            self.many(FIRST_UPDATES[kind], [(self.time(m), c) for c, m in sorted(moments.items())])
        self.many(LAST_CLICKED, [(self.time(m), c) for c, m in sorted(writes.last_clicks.items())])
        self.many(
            LAST_ACTIVITY,
            [(self.time(m), pid, self.time(m)) for pid, m in sorted(writes.activity.items())],
        )

    def targets(self, content_ids: set[int]) -> dict[int, _Current]:
        """The contents named, with their campaign's tracking switch and "first" times.

        On PostgreSQL the rows stay locked to the end of the transaction, so two
        workers cannot both count the same first open (SQLite's BEGIN IMMEDIATE
        already serialises writers).
        """
        ids = sorted(content_ids)
        params: list[Any]
        if self.sqlite:
            statement, params = TARGETS_SELECT.format(ids=f"IN ({', '.join('?' * len(ids))})"), ids
        else:
            # One statement text whatever the batch size: asyncpg prepares it once.
            statement, params = TARGETS_SELECT.format(ids="= ANY(?::bigint[])"), [ids]
            statement += " FOR UPDATE OF c"
        found: dict[int, _Current] = {}
        for row in self.fetch(statement, params):
            opened = read_time(row[8])
            target = Target(
                row[0],
                row[1],
                row[2],
                row[3],
                row[4],
                read_time(row[5]),
                read_time(row[6]),
                bool(row[7]),
                opened,
            )
            found[row[0]] = _Current(
                target,
                {
                    "open": opened,
                    "click": read_time(row[9]),
                    "reply": read_time(row[10]),
                },
            )
        return found


@dataclass(slots=True)
class Writes:
    """What every batch writes: its event rows and the figures they move."""

    rows: list[list[Any]]
    """Event rows in `EVENT_COLUMNS` order."""
    counters: dict[tuple[int, int, str], int]
    buckets: dict[tuple[int, datetime, str], int]
    resets: dict[str, set[int]]
    """Per kind (open, click), the contents whose first time goes back to NULL."""
    firsts: dict[str, dict[int, datetime]]
    """Per kind (open, click, reply), each content's new first time."""
    last_clicks: dict[int, datetime]
    activity: dict[int, datetime]
    """Per prospect, its latest activity in the batch (kept when later than the stored one)."""


@dataclass(slots=True)
class _Current:
    """A content as this transaction sees it: facts, and its first open/click/reply so far."""

    target: Target
    firsts: dict[str, datetime | None]


async def anonymise_events(session: AsyncSession, before: datetime) -> int:
    """Forget who made events older than `before` (user agent, IP hash and network).

    The events and every counter stay; only the request details go.
    """
    result = await session.execute(
        update(Event)
        .where(
            Event.occurred_at < before,
            (Event.user_agent.is_not(None))
            | (Event.ip_hash.is_not(None))
            | (Event.ip_prefix.is_not(None)),
        )
        .values(user_agent=None, ip_hash=None, ip_prefix=None)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
