"""Tracked events and the group-commit writer that stores them.

A request builds one event dataclass and awaits `EventWriter.record(event)`.
One writer task per process drains the queue into a single transaction: it
resolves each event's content (campaign, tier, contact, when it was sent),
flags machine opens and bot clicks, inserts the events with one prepared
statement, and bumps the aggregate counters the pages read. Only then does it
resolve the waiting requests, so an acknowledged event is always committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from webapp.core import metrics
from webapp.core.db import Database, DirectSqlite, numbered, read_time
from webapp.core.logs import get_logger
from webapp.core.models import Event
from webapp.core.models import utcnow as _utcnow

if TYPE_CHECKING:
    from webapp.tracking.pglane import PostgresLane

log = get_logger(__name__)
T = TypeVar("T")


class Outcome(Enum):
    """What became of a recorded event."""

    STORED = "stored"
    UNKNOWN_TARGET = "unknown_target"
    """No such content, or the contact given does not belong to it: nothing written."""
    TRACKING_OFF = "tracking_off"
    """The campaign has tracking switched off: nothing written."""


@dataclass(frozen=True, slots=True)
class Hit:
    """What a request knows about who asked: never a raw IP."""

    user_agent: str | None = None
    ip_hash: str | None = None
    ip_prefix: str | None = None
    ip: str | None = field(default=None, repr=False)
    """Only for the bot rules, in memory; never stored."""
    method: str = "GET"


@dataclass(frozen=True, slots=True)
class TrackedEvent:
    kind: ClassVar[str]
    content_id: int
    occurred_at: datetime = field(default_factory=_utcnow)
    source: str = "pixel"
    """pixel, link, unsubscribe page, api (a script reported it), smtp (a bounce)."""
    contact_id: int | None = None
    """When given (the JSON API), the content must belong to this contact."""
    hit: Hit = field(default_factory=Hit)


@dataclass(frozen=True, slots=True)
class OpenEvent(TrackedEvent):
    kind: ClassVar[str] = "open"


@dataclass(frozen=True, slots=True)
class ClickEvent(TrackedEvent):
    kind: ClassVar[str] = "click"
    link_id: int | None = None


@dataclass(frozen=True, slots=True)
class ReplyEvent(TrackedEvent):
    kind: ClassVar[str] = "reply"


@dataclass(frozen=True, slots=True)
class UnsubscribeEvent(TrackedEvent):
    kind: ClassVar[str] = "unsubscribe"


@dataclass(frozen=True, slots=True)
class BounceEvent(TrackedEvent):
    kind: ClassVar[str] = "bounce"


@dataclass(frozen=True, slots=True)
class Target:
    """The facts about a content that the writer needs, read once per batch."""

    content_id: int
    campaign_id: int
    contact_id: int
    prospect_id: int
    tier: int
    sent_at: datetime | None
    last_clicked_at: datetime | None
    tracking_enabled: bool


Classifier = Callable[[TrackedEvent, Target], str | None]
"""Returns a flag reason (machine open, bot click) or None for a likely human."""


def no_flags(event: TrackedEvent, target: Target) -> str | None:
    return None


def hour_bucket(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


class WriterStopped(RuntimeError):
    """The writer is shutting down and takes no new events."""


class EventWriter:
    """One per process: group-commits events, at most `max_batch` per transaction."""

    def __init__(
        self,
        db: Database,
        *,
        max_batch: int = 500,
        classify: Classifier = no_flags,
        on_commit: Callable[[set[int]], None] | None = None,
    ) -> None:
        self.db = db
        self.max_batch = max_batch
        self.classify = classify
        self.on_commit = on_commit
        self._queue: asyncio.Queue[tuple[TrackedEvent, asyncio.Future[Outcome]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._accepting = False
        self._failures = 0
        self._direct = (
            DirectSqlite(db.sqlite_path, name="tune-event-writer") if db.sqlite_path else None
        )
        self._lane: PostgresLane | None = None
        if self._direct is None:
            from webapp.tracking.pglane import PostgresLane

            self._lane = PostgresLane(db.engine.url.render_as_string(hide_password=False))

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    def start(self) -> None:
        self._accepting = True
        self._task = asyncio.create_task(self._run(), name="tune-event-writer")

    async def stop(self) -> None:
        """Stop taking events, commit everything queued, then end the task."""
        self._accepting = False
        if self._task is None:
            return
        await self._queue.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        if self._direct is not None:
            await asyncio.to_thread(self._direct.close)
        if self._lane is not None:
            await self._lane.close()

    async def record(self, event: TrackedEvent) -> Outcome:
        """Queue `event` and return once its transaction has committed.

        Raises the database error when the transaction failed. When the caller
        is cancelled (client gone), the event is still written.
        """
        if not self._accepting or not self.alive:
            raise WriterStopped("the event writer is not running")
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((event, future))
        metrics.WRITER_QUEUE_DEPTH.set(self._queue.qsize())
        return await future

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except asyncio.QueueEmpty:
                    break
            metrics.WRITER_QUEUE_DEPTH.set(self._queue.qsize())
            try:
                await self._write_batch(batch)
            except Exception:  # the writer must outlive any batch
                log.exception("event_writer_crashed_batch", size=len(batch))
                _fail_all(batch, RuntimeError("event writer failure"))
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _write_batch(self, batch: list[tuple[TrackedEvent, asyncio.Future[Outcome]]]) -> None:
        started = time.perf_counter()
        try:
            outcomes, campaigns = await self._commit([event for event, _ in batch])
        except Exception as exc:
            metrics.WRITER_FAILURES.inc()
            if len(batch) > 1:
                # Isolate a poison event: retry one by one so only it fails.
                for item in batch:
                    await self._write_batch([item])
                return
            self._failures += 1
            log.warning("event_write_failed", error=type(exc).__name__, kind=batch[0][0].kind)
            _fail_all(batch, exc)
            await asyncio.sleep(min(1.0, 0.05 * self._failures))
            return
        self._failures = 0
        metrics.WRITER_BATCH_SIZE.observe(len(batch))
        metrics.WRITER_COMMIT_SECONDS.observe(time.perf_counter() - started)
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if not future.done():  # a cancelled waiter: its event is stored all the same
                future.set_result(outcome)
        if self.on_commit and campaigns:
            self.on_commit(campaigns)

    async def _commit(self, events: Sequence[TrackedEvent]) -> tuple[list[Outcome], set[int]]:
        if self._direct is not None:  # SQLite: the whole transaction in one hop to its thread
            return await self._direct.run(lambda connection: self._commit_here(connection, events))
        assert self._lane is not None  # PostgreSQL: its own asyncpg connection
        return await self._lane.run(lambda db: write_events(db, events, self.classify))

    def _commit_here(
        self, connection: sqlite3.Connection, events: Sequence[TrackedEvent]
    ) -> tuple[list[Outcome], set[int]]:
        connection.execute("BEGIN IMMEDIATE")
        try:
            result = write_events(_Statements(connection, sqlite=True), events, self.classify)
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        return result


def _fail_all(
    batch: Iterable[tuple[TrackedEvent, asyncio.Future[Outcome]]], exc: BaseException
) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(exc)
            # Mark retrieved: a waiter that went away must not log "never retrieved".
            future.exception()


async def store_events(
    session: AsyncSession, events: Sequence[TrackedEvent], classify: Classifier = no_flags
) -> tuple[list[Outcome], set[int]]:
    """Write `events` and their counters in the caller's transaction.

    Returns each event's outcome and the ids of the campaigns whose counters moved.
    The work runs as plain SQL on the driver's connection: through the ORM,
    per-statement and per-row processing was most of the CPU a tracked event
    added to its request (docs/benchmarks.md).
    """
    return await _on_driver(session, lambda db: write_events(db, events, classify))


async def bump_counters(session: AsyncSession, deltas: dict[tuple[int, int, str], int]) -> None:
    """Add `deltas` keyed by (campaign_id, tier, counter name) in the caller's transaction."""
    await _on_driver(session, lambda db: db.bump(COUNTERS_UPSERT, deltas))


async def _on_driver(session: AsyncSession, work: Callable[[_Statements], T]) -> T:
    """Run `work` on the session's DB-API connection (SQLAlchemy's adapter over
    aiosqlite or asyncpg), inside the session's transaction."""
    sqlite = session.get_bind().dialect.name == "sqlite"

    def run(sync_session: Session) -> T:
        connection = sync_session.connection().connection.dbapi_connection
        return work(_Statements(connection, sqlite=sqlite))

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
    "flagged, flag_reason, unique_hit, source, user_agent, ip_hash, ip_prefix"
)
EVENT_INSERT = f"INSERT INTO events ({EVENT_COLUMNS}) VALUES ({', '.join('?' * 15)})"  # noqa: S608 (constants only)
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
    "WHERE c.id IN ({marks}) ORDER BY c.id"
)
MAKE_HOT = "UPDATE prospects SET hot = TRUE WHERE id = ?"


class _Statements:
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

    def targets(self, content_ids: set[int]) -> dict[int, _Current]:
        """The contents named, with their campaign's tracking switch and "first" times.

        On PostgreSQL the rows stay locked to the end of the transaction, so two
        workers cannot both count the same first open (SQLite's BEGIN IMMEDIATE
        already serialises writers).
        """
        marks = ", ".join("?" * len(content_ids))
        statement = TARGETS_SELECT.format(marks=marks)
        if not self.sqlite:
            statement += " FOR UPDATE OF c"
        found: dict[int, _Current] = {}
        for row in self.fetch(statement, sorted(content_ids)):
            target = Target(
                row[0],
                row[1],
                row[2],
                row[3],
                row[4],
                read_time(row[5]),
                read_time(row[6]),
                bool(row[7]),
            )
            found[row[0]] = _Current(
                target,
                {
                    "open": read_time(row[8]),
                    "click": read_time(row[9]),
                    "reply": read_time(row[10]),
                },
            )
        return found


@dataclass(slots=True)
class _Current:
    """A content as this transaction sees it: facts, and its first open/click/reply so far."""

    target: Target
    firsts: dict[str, datetime | None]


def write_events(
    db: _Statements, events: Sequence[TrackedEvent], classify: Classifier = no_flags
) -> tuple[list[Outcome], set[int]]:
    """The body of `store_events`, on a DB-API connection inside an open transaction."""
    current = db.targets({event.content_id for event in events}) if events else {}
    outcomes: list[Outcome] = []
    accepted: list[tuple[TrackedEvent, _Current, str | None]] = []
    for event in events:
        found = current.get(event.content_id)
        if found is None or (
            event.contact_id is not None and event.contact_id != found.target.contact_id
        ):
            outcomes.append(Outcome.UNKNOWN_TARGET)
        elif not found.target.tracking_enabled and event.source in {"pixel", "link"}:
            outcomes.append(Outcome.TRACKING_OFF)
        else:
            outcomes.append(Outcome.STORED)
            accepted.append((event, found, classify(event, found.target)))
    if not accepted:
        return outcomes, set()

    # A human click proves the email was opened even if images were blocked, unless
    # this batch also holds a human open of it.
    opened_here = {
        event.content_id for event, _, flag in accepted if flag is None and event.kind == "open"
    }
    rows: list[tuple[Any, ...]] = []
    counters: dict[tuple[int, int, str], int] = defaultdict(int)
    buckets: dict[tuple[int, datetime, str], int] = defaultdict(int)
    firsts: dict[str, dict[int, datetime]] = defaultdict(dict)
    unsubscribed: set[int] = set()
    activity: dict[int, datetime] = {}
    last_clicks: dict[int, datetime] = {}
    hot: set[int] = set()
    for event, found, flag in accepted:
        target, moment, kind = found.target, event.occurred_at, event.kind
        unique = False
        if flag is None and kind in found.firsts and found.firsts[kind] is None:
            found.firsts[kind] = firsts[kind][target.content_id] = moment
            unique = True
        elif flag is None and kind == "unsubscribe" and target.contact_id not in unsubscribed:
            unsubscribed.add(target.contact_id)
            unique = bool(db.execute(UNSUBSCRIBE_FIRST, (db.time(moment), target.contact_id)))
        rows.append(_event_row(db, event, target, flag, unique))
        key = (target.campaign_id, target.tier)
        for name in _counter_names(kind, flag, unique):
            counters[(*key, name)] += 1
        buckets[(target.campaign_id, hour_bucket(moment), kind)] += 1
        if flag is None and kind == "click":
            last_clicks[target.content_id] = max(moment, last_clicks.get(target.content_id, moment))
            if found.firsts["open"] is None and target.content_id not in opened_here:
                found.firsts["open"] = firsts["open"][target.content_id] = moment
                rows.append(
                    _event_row(
                        db, OpenEvent(target.content_id, moment, "inferred"), target, None, True
                    )
                )
                counters[(*key, "open_total")] += 1
                counters[(*key, "open_unique")] += 1
                buckets[(target.campaign_id, hour_bucket(moment), "open")] += 1
        if flag is None and kind in {"open", "click", "reply"}:
            previous = activity.get(target.prospect_id)
            activity[target.prospect_id] = max(previous, moment) if previous else moment
        if kind == "reply":
            hot.add(target.prospect_id)

    db.many(EVENT_INSERT, rows)
    db.bump(COUNTERS_UPSERT, counters)
    db.bump(BUCKETS_UPSERT, buckets)
    for kind, moments in firsts.items():
        db.many(FIRST_UPDATES[kind], [(db.time(m), cid) for cid, m in sorted(moments.items())])
    db.many(LAST_CLICKED, [(db.time(m), cid) for cid, m in sorted(last_clicks.items())])
    db.many(
        LAST_ACTIVITY,
        [(db.time(m), pid, db.time(m)) for pid, m in sorted(activity.items())],
    )
    db.many(MAKE_HOT, [(pid,) for pid in sorted(hot)])
    tally: dict[tuple[str, bool], int] = defaultdict(int)
    for row in rows:
        tally[(row[0], bool(row[8]))] += 1
    for (kind, flagged), count in tally.items():
        metrics.EVENTS.labels(kind=kind, flagged=str(flagged).lower()).inc(count)
    return outcomes, {found.target.campaign_id for _, found, _ in accepted}


def _counter_names(kind: str, flag: str | None, unique: bool) -> list[str]:
    if kind == "open":
        return ["open_total", "open_machine" if flag else "open_unique"][
            : 1 + (flag is not None or unique)
        ]
    if kind == "click":
        return ["click_total", "click_bot" if flag else "click_unique"][
            : 1 + (flag is not None or unique)
        ]
    if kind in {"reply", "unsubscribe"}:
        return [kind] if unique else []
    return [kind]


def _event_row(
    db: _Statements, event: TrackedEvent, target: Target, flag: str | None, unique: bool
) -> tuple[Any, ...]:
    agent = event.hit.user_agent
    return (
        event.kind,
        target.campaign_id,
        target.content_id,
        target.contact_id,
        target.prospect_id,
        target.tier,
        getattr(event, "link_id", None),
        db.time(event.occurred_at),
        flag is not None,
        flag,
        unique,
        event.source,
        agent[:300] if agent else None,
        event.hit.ip_hash,
        event.hit.ip_prefix,
    )


def seconds_between(later: datetime, earlier: datetime | None) -> float | None:
    return None if earlier is None else (later - earlier) / timedelta(seconds=1)


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
