"""The SQL that stores a batch of tracked events and moves the counters the pages read.

Plain statements on the driver's connection, in the caller's transaction: through
the ORM, per-statement and per-row processing was most of the CPU a tracked event
added to its request (docs/benchmarks.md). The writer (tracking/writer.py) calls
`write_events` on SQLite's own connection and `store_events` on PostgreSQL; the
email sender calls `store_events` and `bump_counters` inside its own transactions.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from webapp.core import metrics
from webapp.core.db import numbered, read_time
from webapp.core.models import Event
from webapp.tracking.events import (
    Classifier,
    OpenEvent,
    Outcome,
    Target,
    TrackedEvent,
    hour_bucket,
    no_flags,
)
from webapp.webhooks.outbox import OutboxEvent, routes_here, write_outbox

T = TypeVar("T")


async def store_events(
    session: AsyncSession, events: Sequence[TrackedEvent], classify: Classifier = no_flags
) -> tuple[list[Outcome], set[int]]:
    """Write `events` and their counters in the caller's transaction.

    Returns each event's outcome and the ids of the campaigns whose counters moved.
    """
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
    "WHERE c.id IN ({ids}) ORDER BY c.id"
)
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
        ids = sorted(content_ids)
        params: list[Any]
        if self.sqlite:
            statement, params = TARGETS_SELECT.format(ids=", ".join("?" * len(ids))), ids
        else:
            # One statement text whatever the batch size: asyncpg prepares it once.
            statement, params = TARGETS_SELECT.format(ids="SELECT unnest(?::bigint[])"), [ids]
            statement += " FOR UPDATE OF c"
        found: dict[int, _Current] = {}
        for row in self.fetch(statement, params):
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
    db: Statements, events: Sequence[TrackedEvent], classify: Classifier = no_flags
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
    hot: dict[int, tuple[Target, datetime]] = {}
    routes = routes_here(db)
    outbox: list[OutboxEvent] = []
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
        position = len(outbox)
        if kind in routes:
            outbox.append(
                _outbox_event(kind, target, moment, flag, getattr(event, "link_id", None))
            )
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
                if "open" in routes:
                    # Before the click that inferred it, as it happened.
                    outbox.insert(position, _outbox_event("open", target, moment, None, None))
                counters[(*key, "open_total")] += 1
                counters[(*key, "open_unique")] += 1
                buckets[(target.campaign_id, hour_bucket(moment), "open")] += 1
        if flag is None and kind in {"open", "click", "reply"}:
            previous = activity.get(target.prospect_id)
            activity[target.prospect_id] = max(previous, moment) if previous else moment
        if kind == "reply":
            hot.setdefault(target.prospect_id, (target, moment))

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
    if hot and "prospect.hot" in routes:
        marks = ", ".join("?" * len(hot))
        for (pid,) in db.fetch(NOT_HOT.format(marks=marks), [*sorted(hot), False]):
            target, moment = hot[pid]
            outbox.append(_outbox_event("prospect.hot", target, moment, None, None))
    db.many(MAKE_HOT, [(pid,) for pid in sorted(hot)])
    if outbox:
        write_outbox(db, outbox, routes)
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


def _outbox_event(
    kind: str, target: Target, moment: datetime, flag: str | None, link_id: int | None
) -> OutboxEvent:
    return OutboxEvent(
        event_type=kind,
        occurred_at=moment,
        campaign_id=target.campaign_id,
        prospect_id=target.prospect_id,
        contact_id=target.contact_id,
        content_id=target.content_id,
        link_id=link_id,
        flag_reason=flag,
    )


def _event_row(
    db: Statements, event: TrackedEvent, target: Target, flag: str | None, unique: bool
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
