"""Tracked events and the group-commit writer that stores them.

A request builds one event dataclass and awaits `EventWriter.record(event)`.
One writer task per process drains the queue into a single transaction: it
resolves each event's content (campaign, tier, contact, when it was sent),
flags machine opens and bot clicks, inserts the events in one multi-row
INSERT, and bumps the aggregate counters the pages read. Only then does it
resolve the waiting requests, so an acknowledged event is always committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, ClassVar

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from . import metrics
from .db import Database
from .logs import get_logger
from .models import ActivityBucket, Campaign, CampaignCounter, Contact, Content, Event, Prospect
from .models import utcnow as _utcnow

log = get_logger(__name__)


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
        async with self.db.write() as session:
            return await store_events(session, events, self.classify)


def _fail_all(
    batch: Iterable[tuple[TrackedEvent, asyncio.Future[Outcome]]], exc: BaseException
) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(exc)
            # Mark retrieved: a waiter that went away must not log "never retrieved".
            future.exception()


async def load_targets(session: AsyncSession, content_ids: Iterable[int]) -> dict[int, Target]:
    rows = await session.execute(
        select(
            Content.id,
            Content.campaign_id,
            Content.contact_id,
            Content.prospect_id,
            Content.tier,
            Content.sent_at,
            Content.last_clicked_at,
            Campaign.tracking_enabled,
        )
        .join(Campaign, Campaign.id == Content.campaign_id)
        .where(Content.id.in_(set(content_ids)))
    )
    return {row[0]: Target(*row) for row in rows}


async def store_events(
    session: AsyncSession, events: Sequence[TrackedEvent], classify: Classifier = no_flags
) -> tuple[list[Outcome], set[int]]:
    """Write `events` and their counters in the caller's transaction.

    Returns each event's outcome and the ids of the campaigns whose counters moved.
    """
    targets = await load_targets(session, (event.content_id for event in events))
    outcomes: list[Outcome] = []
    accepted: list[tuple[TrackedEvent, Target, str | None]] = []
    for event in events:
        target = targets.get(event.content_id)
        if target is None or (
            event.contact_id is not None and event.contact_id != target.contact_id
        ):
            outcomes.append(Outcome.UNKNOWN_TARGET)
        elif not target.tracking_enabled and event.source in {"pixel", "link"}:
            outcomes.append(Outcome.TRACKING_OFF)
        else:
            outcomes.append(Outcome.STORED)
            accepted.append((event, target, classify(event, target)))
    if not accepted:
        return outcomes, set()

    firsts = await _claim_firsts(session, accepted)
    rows: list[dict[str, Any]] = []
    counters: dict[tuple[int, int, str], int] = defaultdict(int)
    buckets: dict[tuple[int, datetime, str], int] = defaultdict(int)
    activity: dict[int, datetime] = {}
    for index, (event, target, flag) in enumerate(accepted):
        unique = index in firsts.unique
        rows.append(_event_row(event, target, flag, unique))
        key = (target.campaign_id, target.tier)
        for name in _counter_names(event.kind, flag, unique):
            counters[(*key, name)] += 1
        buckets[(target.campaign_id, hour_bucket(event.occurred_at), event.kind)] += 1
        if index in firsts.inferred_open:
            # A human click proves the email was opened even if images were blocked.
            rows.append(
                _event_row(
                    OpenEvent(event.content_id, event.occurred_at, "inferred"), target, None, True
                )
            )
            counters[(*key, "open_total")] += 1
            counters[(*key, "open_unique")] += 1
            buckets[(target.campaign_id, hour_bucket(event.occurred_at), "open")] += 1
        if flag is None and event.kind in {"open", "click", "reply"}:
            previous = activity.get(target.prospect_id)
            activity[target.prospect_id] = (
                max(previous, event.occurred_at) if previous else event.occurred_at
            )

    await session.execute(insert(Event.__table__), rows)  # type: ignore[arg-type]
    await _bump(session, CampaignCounter.__table__, ["campaign_id", "tier", "name"], counters)  # type: ignore[arg-type]
    await _bump(session, ActivityBucket.__table__, ["campaign_id", "bucket", "kind"], buckets)  # type: ignore[arg-type]
    await _apply_side_effects(session, accepted, activity)
    for row in rows:
        metrics.EVENTS.labels(kind=row["kind"], flagged=str(row["flagged"]).lower()).inc()
    return outcomes, {target.campaign_id for _, target, _ in accepted}


@dataclass
class _Firsts:
    unique: set[int]
    inferred_open: set[int]


async def _claim_firsts(
    session: AsyncSession, accepted: Sequence[tuple[TrackedEvent, Target, str | None]]
) -> _Firsts:
    """Mark the first human open/click/reply per content, and the first unsubscribe per
    contact, atomically in this transaction; the counters count only these as unique."""
    result = _Firsts(set(), set())
    wanted: dict[str, dict[int, int]] = defaultdict(dict)
    for index, (event, target, flag) in enumerate(accepted):
        if flag is None and event.kind in FIRST_COLUMNS:
            row_id = target.contact_id if event.kind == "unsubscribe" else target.content_id
            wanted[event.kind].setdefault(row_id, index)
    for kind, ids in wanted.items():
        claimed = await _set_if_null(
            session, kind, ids.keys(), accepted[min(ids.values())][0].occurred_at
        )
        result.unique.update(ids[row_id] for row_id in claimed)
    # A human click on an email with no human open yet also claims the open.
    clicks = {cid: i for cid, i in wanted["click"].items() if cid not in wanted["open"]}
    if clicks:
        moment = accepted[min(clicks.values())][0].occurred_at
        claimed = await _set_if_null(session, "open", clicks.keys(), moment)
        result.inferred_open.update(clicks[content_id] for content_id in claimed)
    return result


FIRST_COLUMNS = {
    "open": Content.first_opened_at,
    "click": Content.first_clicked_at,
    "reply": Content.replied_at,
    "unsubscribe": Contact.unsubscribed_at,
}


async def _set_if_null(
    session: AsyncSession, kind: str, ids: Iterable[int], moment: datetime
) -> list[int]:
    """Set the kind's "first" column where still empty; return the ids that changed."""
    column = FIRST_COLUMNS[kind]
    model = column.class_
    result = await session.scalars(
        update(model)
        .where(model.id.in_(list(ids)), column.is_(None))
        .values({column.key: moment})
        .returning(model.id)
    )
    return list(result)


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
    event: TrackedEvent, target: Target, flag: str | None, unique: bool
) -> dict[str, Any]:
    return {
        "kind": event.kind,
        "campaign_id": target.campaign_id,
        "content_id": target.content_id,
        "contact_id": target.contact_id,
        "prospect_id": target.prospect_id,
        "tier": target.tier,
        "link_id": getattr(event, "link_id", None),
        "occurred_at": event.occurred_at,
        "flagged": flag is not None,
        "flag_reason": flag,
        "unique_hit": unique,
        "source": event.source,
        "user_agent": (event.hit.user_agent or None) and event.hit.user_agent[:300],
        "ip_hash": event.hit.ip_hash,
        "ip_prefix": event.hit.ip_prefix,
    }


async def bump_counters(session: AsyncSession, deltas: dict[tuple[int, int, str], int]) -> None:
    """Add `deltas` keyed by (campaign_id, tier, counter name) in the caller's transaction."""
    table = CampaignCounter.__table__
    assert isinstance(table, Table)
    await _bump(session, table, ["campaign_id", "tier", "name"], deltas)


async def _bump(
    session: AsyncSession, table: Table, keys: list[str], deltas: dict[tuple[Any, ...], int]
) -> None:
    """Add `deltas` to counter rows, creating them as needed (one upsert statement)."""
    if not deltas:
        return
    dialect = session.get_bind().dialect.name
    upsert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    # Sorted, so that concurrent writers (several workers) lock rows in one order.
    values = [
        dict(zip(keys, key, strict=True), value=delta) for key, delta in sorted(deltas.items())
    ]
    statement = upsert.values(values)
    statement = statement.on_conflict_do_update(
        index_elements=keys, set_={"value": table.c.value + statement.excluded.value}
    )
    await session.execute(statement)


async def _apply_side_effects(
    session: AsyncSession,
    accepted: Sequence[tuple[TrackedEvent, Target, str | None]],
    activity: dict[int, datetime],
) -> None:
    prospects = Prospect.__table__
    assert isinstance(prospects, Table)
    if activity:
        await session.execute(
            update(prospects)
            .where(prospects.c.id == bindparam("pid"))
            .where(
                prospects.c.last_activity_at.is_(None)
                | (prospects.c.last_activity_at < bindparam("moment"))
            )
            .values(last_activity_at=bindparam("moment")),
            [{"pid": pid, "moment": moment} for pid, moment in sorted(activity.items())],
        )
    clicks: dict[int, datetime] = {}
    hot: set[int] = set()
    for event, target, flag in accepted:
        if event.kind == "click" and flag is None:
            clicks[target.content_id] = max(
                event.occurred_at, clicks.get(target.content_id, event.occurred_at)
            )
        elif event.kind == "reply":
            hot.add(target.prospect_id)
    if clicks:
        contents = Content.__table__
        assert isinstance(contents, Table)
        await session.execute(
            update(contents)
            .where(contents.c.id == bindparam("cid"))
            .values(last_clicked_at=bindparam("moment")),
            [{"cid": cid, "moment": moment} for cid, moment in sorted(clicks.items())],
        )
    if hot:
        await session.execute(update(Prospect).where(Prospect.id.in_(sorted(hot))).values(hot=True))


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
