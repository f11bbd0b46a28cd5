"""The group-commit writer: one per process, it turns queued events into transactions.

A request builds one event (tracking/events.py) and awaits `EventWriter.record(event)`.
One writer task per process drains the queue into a single transaction: it
resolves each event's content (campaign, tier, contact, when it was sent),
flags machine opens and bot clicks, inserts the events with one prepared
statement, and bumps the aggregate counters the pages read (tracking/store.py).
Only then does it resolve the waiting requests, so an acknowledged event is
always committed. On SQLite the transaction runs on a thread of its own over a
plain `sqlite3` connection; on PostgreSQL on asyncpg connections of its own
(tracking/pglane.py), where the next batch starts as soon as the previous one
has written everything and waits only for its commit: row locks keep the two
in order wherever they share an email or a counter.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence

from webapp.core import metrics
from webapp.core.db import Database
from webapp.core.logs import get_logger
from webapp.core.sqlitedirect import DirectSqlite, begin_promptly
from webapp.tracking.batch import write_events
from webapp.tracking.events import Classifier, Outcome, TrackedEvent, no_flags
from webapp.tracking.pglane import PostgresLane
from webapp.tracking.store import Statements

log = get_logger(__name__)


class WriterStopped(RuntimeError):
    """The writer is shutting down and takes no new events."""


class EventWriter:
    """One per process: group-commits events, at most `max_batch` per transaction."""

    def __init__(
        self,
        db: Database,
        *,
        max_batch: int = 500,
        in_flight: int = 2,
        classify: Classifier = no_flags,
        on_commit: Callable[[set[int]], None] | None = None,
    ) -> None:
        self.db = db
        self.max_batch = max_batch
        self.classify = classify
        self.on_commit = on_commit
        self._queue: asyncio.Queue[tuple[TrackedEvent, asyncio.Future[Outcome]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._writing: set[asyncio.Task[None]] = set()
        self._overlap = in_flight > 1 and not db.sqlite_path
        """Start the next batch while this one commits (PostgreSQL only)."""
        self._accepting = False
        self._failures = 0
        self._direct = (
            DirectSqlite(db.sqlite_path, name="tune-event-writer", prompt=True)
            if db.sqlite_path
            else None
        )
        self._lane = (
            None
            if self._direct is not None
            else PostgresLane(
                db.engine.url.render_as_string(hide_password=False), in_flight=in_flight
            )
        )

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
            if not self._overlap:  # one batch after the other: no task, no future
                await self._write_in_turn(batch)
                continue
            written: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            task = asyncio.create_task(self._write_in_turn(batch, written))
            self._writing.add(task)
            task.add_done_callback(self._writing.discard)
            # On PostgreSQL the next batch starts while this one commits (tracking/pglane.py).
            await written

    async def _write_in_turn(
        self,
        batch: list[tuple[TrackedEvent, asyncio.Future[Outcome]]],
        written: asyncio.Future[None] | None = None,
    ) -> None:
        try:
            await self._write_batch(
                batch, (lambda: _done(written)) if written is not None else None
            )
        except Exception:  # the writer must outlive any batch
            log.exception("event_writer_crashed_batch", size=len(batch))
            _fail_all(batch, RuntimeError("event writer failure"))
        finally:
            if written is not None:
                _done(written)
            for _ in batch:
                self._queue.task_done()

    async def _write_batch(
        self,
        batch: list[tuple[TrackedEvent, asyncio.Future[Outcome]]],
        written: Callable[[], None] | None = None,
    ) -> None:
        """Commit `batch`, then answer its waiters; `written()` once only the commit is left."""
        started = time.perf_counter()
        try:
            outcomes, campaigns = await self._commit([event for event, _ in batch], written)
        except Exception as exc:
            metrics.WRITER_FAILURES.inc()
            if len(batch) > 1:
                # Isolate a poison event: retry one by one so only it fails. (Should the
                # commit itself fail, after `written()`, the next batch is already running.)
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

    async def _commit(
        self, events: Sequence[TrackedEvent], written: Callable[[], None] | None
    ) -> tuple[list[Outcome], set[int]]:
        if self._direct is not None:  # SQLite: the whole transaction in one hop to its thread
            return await self._direct.run(lambda connection: self._commit_here(connection, events))
        assert self._lane is not None  # PostgreSQL: its own asyncpg connections
        return await self._lane.run(lambda db: write_events(db, events, self.classify), written)

    def _commit_here(
        self, connection: sqlite3.Connection, events: Sequence[TrackedEvent]
    ) -> tuple[list[Outcome], set[int]]:
        begin_promptly(connection)
        try:
            result = write_events(Statements(connection, sqlite=True), events, self.classify)
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
        return result


def _done(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _fail_all(
    batch: Iterable[tuple[TrackedEvent, asyncio.Future[Outcome]]], exc: BaseException
) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(exc)
            # Mark retrieved: a waiter that went away must not log "never retrieved".
            future.exception()
