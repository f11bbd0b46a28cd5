"""Plan one batch of tracked events and write it, with every counter it moves, at once.

The writer (tracking/writer.py) and `store_events` call `write_events` inside an open
transaction. Each event is judged alone (the classifier: user agent, network,
timing), then with its email's hits of the last seconds (tracking/bursts.py). When a
later hit shows that earlier ones were a scanner's, they are re-flagged here, in the
same transaction: the human unique click becomes a bot click, the open it implied is
removed (with its hourly bucket), the email's first open/click times are cleared, the
prospect's last activity is read again from its human events, and the hits' webhook
deliveries, still waiting for the hit to settle, are withdrawn. So the
counters are never left wrong, and nothing has acted on the hit yet.

The email's recent hits are read only when it may have had a click in the last
`SURROUNDING_SECONDS` (the content's `last_clicked_at`), so a pixel hit or a first
click costs no extra query. `last_clicked_at` is moved only by a click more than
`LAST_CLICK_STEP` after it, so it lags the email's last click by at most that much
and the read is made when it is no older than `LOOKBACK + LAST_CLICK_STEP`: an email
clicked again and again (a scanner's retries, a reader's double clicks, the load
benchmark) has its row rewritten once per step instead of at every click.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from webapp.core import metrics
from webapp.core.db import read_time
from webapp.tracking import settle
from webapp.tracking.bursts import JUDGED_SOURCES, LOOKBACK, SOURCES, Seen, judge
from webapp.tracking.events import (
    Classifier,
    Outcome,
    Target,
    TrackedEvent,
    hour_bucket,
    no_flags,
)
from webapp.tracking.machines import RULESET
from webapp.tracking.store import (
    MAKE_HOT,
    NOT_HOT,
    UNSUBSCRIBE_FIRST,
    Statements,
    Writes,
    _Current,
)
from webapp.webhooks.outbox import OUTBOX_DROP, OutboxEvent, routes_here, write_outbox

RECENT_SELECT = (
    "SELECT id, content_id, kind, source, link_id, occurred_at, flag_reason, unique_hit, "
    "ip_prefix, ip_hash FROM events WHERE content_id {ids} AND occurred_at >= ? "
    "AND kind IN ('open', 'click') ORDER BY occurred_at, id"
)
EVENT_REFLAG = (
    "UPDATE events SET flagged = ?, flag_reason = ?, unique_hit = ?, ruleset = ? WHERE id = ?"
)
EVENT_DELETE = "DELETE FROM events WHERE id = ?"
ACTIVITY_AGAIN = (
    "UPDATE prospects SET last_activity_at = (SELECT max(occurred_at) FROM events "
    "WHERE prospect_id = ? AND kind IN ('open', 'click', 'reply') AND flagged = FALSE) "
    "WHERE id = ?"
)
"""A prospect's last activity read again from its human events, after a re-flag."""
LAST_CLICK_STEP = LOOKBACK
"""How far a click must be after the stored `last_clicked_at` to move it."""
HUMAN = {"open": "open_unique", "click": "click_unique"}
MACHINE = {"open": "open_machine", "click": "click_bot"}
JUDGED_ROWS = JUDGED_SOURCES | {"inferred"}


def write_events(
    db: Statements, events: Sequence[TrackedEvent], classify: Classifier = no_flags
) -> tuple[list[Outcome], set[int]]:
    """Store `events` and their counters on a DB-API connection inside an open transaction.

    Returns each event's outcome and the ids of the campaigns whose counters moved.
    """
    current = db.targets({event.content_id for event in events}) if events else {}
    outcomes: list[Outcome] = []
    accepted: list[tuple[TrackedEvent, _Current]] = []
    for event in events:
        found = current.get(event.content_id)
        if found is None or (
            event.contact_id is not None and event.contact_id != found.target.contact_id
        ):
            outcomes.append(Outcome.UNKNOWN_TARGET)
        elif not found.target.tracking_enabled and event.source in JUDGED_SOURCES:
            outcomes.append(Outcome.TRACKING_OFF)
        else:
            outcomes.append(Outcome.STORED)
            accepted.append((event, found))
    if not accepted:
        return outcomes, set()
    plan = _Plan(db, _recent_hits(db, accepted))
    for event, found in accepted:
        plan.add(event, found, classify)
    plan.write()
    return outcomes, {found.target.campaign_id for _, found in accepted}


def _recent_hits(
    db: Statements, accepted: list[tuple[TrackedEvent, _Current]]
) -> dict[int, list[Seen]]:
    """The stored opens and clicks of the emails that had a click in the last seconds."""
    needed: dict[int, datetime] = {}
    for event, found in accepted:
        last = found.target.last_clicked_at
        if (
            last is not None
            and event.source in JUDGED_SOURCES
            and event.occurred_at - last <= LOOKBACK + LAST_CLICK_STEP
        ):
            since = event.occurred_at - LOOKBACK
            needed[event.content_id] = min(since, needed.get(event.content_id, since))
    windows: dict[int, list[Seen]] = {}
    if not needed:
        return windows
    since = db.time(min(needed.values()))
    ids: list[Any]
    if db.sqlite:
        match, ids = f"IN ({', '.join('?' * len(needed))})", sorted(needed)
    else:  # one statement text whatever the count: asyncpg prepares it once per connection
        match, ids = "= ANY(?::bigint[])", [sorted(needed)]
    rows = db.fetch(RECENT_SELECT.format(ids=match), [*ids, since])
    for row in rows:
        if row[3] not in JUDGED_ROWS:
            continue
        windows.setdefault(row[1], []).append(
            Seen(
                kind=row[2],
                source=row[3],
                link_id=row[4],
                at=read_time(row[5]),  # type: ignore[arg-type]
                prefix=row[8],
                address=row[9],
                flag=row[6],
                unique=bool(row[7]),
                event_id=row[0],
            )
        )
    return windows


@dataclass
class _Plan:
    """Everything one batch writes, gathered first and written in a fixed order."""

    db: Statements
    windows: dict[int, list[Seen]]
    routes: Any = None
    rows: list[list[Any] | None] = field(default_factory=list)
    counters: dict[tuple[int, int, str], int] = field(default_factory=lambda: defaultdict(int))
    buckets: dict[tuple[int, datetime, str], int] = field(default_factory=lambda: defaultdict(int))
    firsts: dict[str, dict[int, datetime]] = field(default_factory=lambda: defaultdict(dict))
    resets: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    unsubscribed: set[int] = field(default_factory=set)
    activity: dict[int, datetime] = field(default_factory=dict)
    activity_again: set[int] = field(default_factory=set)
    """Prospects whose last activity may have been a hit re-flagged in this batch."""
    last_clicks: dict[int, datetime] = field(default_factory=dict)
    hot: dict[int, tuple[Target, datetime]] = field(default_factory=dict)
    outbox: list[OutboxEvent | None] = field(default_factory=list)
    outbox_of: dict[int, list[int]] = field(default_factory=dict)
    """Per planned Seen (by id()), the indexes of its outbox entries."""
    inferred: dict[int, Seen] = field(default_factory=dict)
    """Per planned human click (by id()), the open it implied."""
    reflags: list[tuple[Any, ...]] = field(default_factory=list)
    deletes: list[tuple[int]] = field(default_factory=list)
    drops: list[tuple[Any, ...]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.routes = routes_here(self.db)

    def add(self, event: TrackedEvent, found: _Current, classify: Classifier) -> None:
        target, moment, kind = found.target, event.occurred_at, event.kind
        judged = event.source in JUDGED_SOURCES and kind in ("open", "click")
        if judged and kind == "click" and target.first_opened_at != found.firsts["open"]:
            target = replace(target, first_opened_at=found.firsts["open"])
        flag = classify(event, target)
        target = found.target
        seen: Seen | None = None
        window: list[Seen] = []
        if judged:
            hit = event.hit
            flag = flag or SOURCES.flag(hit.ip_hash, moment)
            link_id = getattr(event, "link_id", None)
            seen = Seen(
                kind, event.source, link_id, moment, hit.ip_prefix, hit.ip_hash, None, False
            )
            window = self.windows.setdefault(target.content_id, [])
            verdict = judge(window, seen)
            flag = verdict.flag or flag  # the email's other hits say more than one hit
            for earlier, reason in verdict.reflag:
                self.reflag(earlier, reason, found, window)
            if event.source == "honeypot":
                SOURCES.catch(hit.ip_hash, moment)
        unique = False
        if flag is None and kind in found.firsts and found.firsts[kind] is None:
            found.firsts[kind] = self.firsts[kind][target.content_id] = moment
            unique = True
        elif flag is None and kind == "unsubscribe" and target.contact_id not in self.unsubscribed:
            self.unsubscribed.add(target.contact_id)
            unique = bool(
                self.db.execute(UNSUBSCRIBE_FIRST, (self.db.time(moment), target.contact_id))
            )
        link_id = getattr(event, "link_id", None)
        self.rows.append(_event_row(self.db, event, target, flag, unique, judged))
        if seen is not None:
            seen.flag, seen.unique, seen.row = flag, unique, len(self.rows) - 1
            window.append(seen)
        position = len(self.outbox)  # where this hit's webhook goes, if any
        self._outbox(kind, target, moment, flag, link_id, seen, judged, detail=event.detail)
        key = (target.campaign_id, target.tier)
        for name in _counter_names(kind, flag, unique):
            self.counters[(*key, name)] += 1
        self.buckets[(target.campaign_id, hour_bucket(moment), kind)] += 1
        if judged and kind == "click":
            self._last_click(target, moment)
        if flag is None and kind == "click" and found.firsts["open"] is None:
            self._infer_open(event, found, seen, window, position)
        if flag is None and kind in {"open", "click", "reply"}:
            previous_activity = self.activity.get(target.prospect_id)
            self.activity[target.prospect_id] = (
                max(previous_activity, moment) if previous_activity else moment
            )
        if kind == "reply":
            self.hot.setdefault(target.prospect_id, (target, moment))

    def _last_click(self, target: Target, moment: datetime) -> None:
        """Move the email's `last_clicked_at` to `moment` when it is `LAST_CLICK_STEP`
        or more behind (or when this batch moves it anyway)."""
        planned = self.last_clicks.get(target.content_id)
        if planned is not None:
            self.last_clicks[target.content_id] = max(moment, planned)
        elif target.last_clicked_at is None or moment - target.last_clicked_at > LAST_CLICK_STEP:
            self.last_clicks[target.content_id] = moment

    def _outbox(
        self,
        kind: str,
        target: Target,
        moment: datetime,
        flag: str | None,
        link_id: int | None,
        seen: Seen | None,
        judged: bool,
        *,
        before: int | None = None,
        detail: str | None = None,
    ) -> None:
        if kind not in self.routes:
            return
        entry = _outbox_event(kind, target, moment, flag, link_id, detail)
        if judged:
            entry = replace(entry, due_at=settle.due_at(moment))
        position = len(self.outbox) if before is None else before
        self.outbox.insert(position, entry)
        if before is not None:  # entries after it moved one place on
            for positions in self.outbox_of.values():
                positions[:] = [p + 1 if p >= position else p for p in positions]
        if seen is not None:
            self.outbox_of.setdefault(id(seen), []).append(position)

    def _infer_open(
        self,
        event: TrackedEvent,
        found: _Current,
        click: Seen | None,
        window: list[Seen],
        before: int,
    ) -> None:
        """A human click proves the email was opened even if images were blocked."""
        target, moment = found.target, event.occurred_at
        found.firsts["open"] = self.firsts["open"][target.content_id] = moment
        opened = Seen("open", "inferred", None, moment, click.prefix if click else None,
                      click.address if click else None, None, True)  # fmt: skip
        self.rows.append(_event_row(self.db, _Inferred(target.content_id, moment), target,
                                    None, True, True))  # fmt: skip
        opened.row = len(self.rows) - 1
        if click is not None:
            window.append(opened)
            self.inferred[id(click)] = opened
        # Before the click that inferred it, as it happened.
        self._outbox("open", target, moment, None, None, opened, click is not None, before=before)
        key = (target.campaign_id, target.tier)
        self.counters[(*key, "open_total")] += 1
        self.counters[(*key, "open_unique")] += 1
        self.buckets[(target.campaign_id, hour_bucket(moment), "open")] += 1

    def reflag(self, seen: Seen, reason: str, found: _Current, window: list[Seen]) -> None:
        """`seen`, judged human before, is a machine's after all: move every figure."""
        if seen.flag is not None:
            return
        target = found.target
        cid, key, kind = target.content_id, (target.campaign_id, target.tier), seen.kind
        was_unique = seen.unique
        self.activity_again.add(target.prospect_id)
        seen.flag, seen.unique = reason, False
        if seen.row is not None:
            row = self.rows[seen.row]
            assert row is not None
            row[8], row[9], row[10] = True, reason, False
            for position in self.outbox_of.get(id(seen), []):
                entry = self.outbox[position]
                if entry is not None:
                    self.outbox[position] = replace(entry, flag_reason=reason)
        else:
            self.reflags.append((True, reason, False, RULESET, seen.event_id))
            self._withdraw(cid, kind, seen.at)
            if kind in self.routes:
                self.outbox.append(
                    replace(
                        _outbox_event(kind, target, seen.at, reason, seen.link_id),
                        due_at=settle.due_at(seen.at),
                    )
                )
        self.counters[(*key, MACHINE[kind])] += 1
        if was_unique:
            self.counters[(*key, HUMAN[kind])] -= 1
            self._clear_first(found, kind, seen)
        if kind == "click":
            implied = self.inferred.pop(id(seen), None) or next(
                (
                    s
                    for s in window
                    if s.kind == "open" and s.source == "inferred" and s.at == seen.at
                ),
                None,
            )
            if implied is not None:
                self._undo_inferred(implied, found, window)

    def _undo_inferred(self, opened: Seen, found: _Current, window: list[Seen]) -> None:
        target = found.target
        key = (target.campaign_id, target.tier)
        window.remove(opened)
        if opened.row is not None:
            self.rows[opened.row] = None
            for position in self.outbox_of.get(id(opened), []):
                self.outbox[position] = None
        else:
            assert opened.event_id is not None
            self.deletes.append((opened.event_id,))
            self._withdraw(target.content_id, "open", opened.at)
        self.counters[(*key, "open_total")] -= 1
        self.buckets[(target.campaign_id, hour_bucket(opened.at), "open")] -= 1
        if opened.unique:
            self.counters[(*key, "open_unique")] -= 1
            self._clear_first(found, "open", opened)

    def _clear_first(self, found: _Current, kind: str, seen: Seen) -> None:
        cid = found.target.content_id
        found.firsts[kind] = None
        self.firsts[kind].pop(cid, None)
        if seen.row is None:
            self.resets[kind].add(cid)

    def _withdraw(self, content_id: int, kind: str, moment: datetime) -> None:
        if kind in self.routes:
            self.drops.append((content_id, kind, self.db.time(moment)))

    def write(self) -> None:
        db = self.db
        db.many(EVENT_DELETE, self.deletes)
        db.many(EVENT_REFLAG, self.reflags)
        rows = [row for row in self.rows if row is not None]
        db.store(
            Writes(
                rows=rows,
                counters={k: v for k, v in self.counters.items() if v},
                buckets={k: v for k, v in self.buckets.items() if v},
                resets=self.resets,
                firsts=self.firsts,
                last_clicks=self.last_clicks,
                activity=self.activity,
            )
        )
        db.many(ACTIVITY_AGAIN, [(pid, pid) for pid in sorted(self.activity_again)])
        if self.hot and "prospect.hot" in self.routes:
            marks = ", ".join("?" * len(self.hot))
            for (pid,) in db.fetch(NOT_HOT.format(marks=marks), [*sorted(self.hot), False]):
                target, moment = self.hot[pid]
                self.outbox.append(_outbox_event("prospect.hot", target, moment, None, None))
        db.many(MAKE_HOT, [(pid,) for pid in sorted(self.hot)])
        db.many(OUTBOX_DROP, self.drops)
        outbox = [entry for entry in self.outbox if entry is not None]
        if outbox:
            write_outbox(db, outbox, self.routes)
        tally: dict[tuple[str, bool], int] = defaultdict(int)
        for row in rows:
            tally[(row[0], bool(row[8]))] += 1
        for (kind, flagged), count in tally.items():
            metrics.EVENTS.labels(kind=kind, flagged=str(flagged).lower()).inc(count)


@dataclass(frozen=True, slots=True)
class _Inferred:
    """The open a human click implies, shaped like an event for `_event_row`."""

    content_id: int
    occurred_at: datetime
    kind: str = "open"
    source: str = "inferred"
    hit: Any = None


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
    kind: str,
    target: Target,
    moment: datetime,
    flag: str | None,
    link_id: int | None,
    detail: str | None = None,
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
        detail=detail,
    )


def _event_row(
    db: Statements, event: Any, target: Target, flag: str | None, unique: bool, judged: bool
) -> list[Any]:
    hit = event.hit
    agent = hit.user_agent if hit is not None else None
    return [
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
        hit.ip_hash if hit is not None else None,
        hit.ip_prefix if hit is not None else None,
        RULESET if judged else None,
    ]
