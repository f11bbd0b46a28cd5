"""Judge an email's clicks together: bursts, the honeypot link, and sources caught scanning.

A hit judged alone (tracking/machines.py) cannot see that it is the first link of a
scanner's sweep. Here a click is judged with the email's other hits of the last few
seconds, and the earlier hits of a burst are re-flagged when the burst completes:

* **Burst**: clicks on two or more different links of one email (the honeypot
  counts as a link) from one network (IPv4 /24, IPv6 /48) within `BURST_SECONDS`.
  Scanners follow every link within a second or two; a person reading, clicking
  and coming back to click another link needs longer. Every click of the burst
  is flagged `multi_link_burst`, and so are the opens from that network in the
  `SURROUNDING_SECONDS` before it (a scanner that renders the message fetches the
  pixel too).
* **Honeypot**: a hit on the email's invisible link (`honeypot`) is a scanner's.
  The email's clicks within `SURROUNDING_SECONDS` either side, from any network
  (scanners spread a sweep over several addresses), and that network's opens,
  are flagged `honeypot_window`; the address is quarantined for
  `QUARANTINE_SECONDS`: its hits on any email are `scanner_source`.
* **Repeat**: the same link again from the same network within
  `RAPID_REPEAT_SECONDS` (a double click, a scanner's retry) is `rapid_repeat`;
  the first click stands.

The functions here are pure: the event writer applies their verdicts in the
transaction that records the later hit (tracking/batch.py), and
`tune events reclassify` replays stored events through the same code
(tracking/reclassify.py). A click's classification can change only while hits
within `SURROUNDING_SECONDS` can still arrive, which is why effects on people
wait `CLICK_SETTLE_SECONDS` (tracking/settle.py).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta

from webapp.tracking.machines import (
    HONEYPOT,
    HONEYPOT_WINDOW,
    MULTI_LINK_BURST,
    RAPID_REPEAT,
    SCANNER_SOURCE,
)

BURST_SECONDS = 2.0
SURROUNDING_SECONDS = 10.0
RAPID_REPEAT_SECONDS = 1.0
QUARANTINE_SECONDS = 600.0
LOOKBACK = timedelta(seconds=SURROUNDING_SECONDS)
"""How far back the writer reads an email's hits to judge a new one."""
JUDGED_SOURCES = frozenset({"pixel", "link", "honeypot"})
"""Hits from readers' (or scanners') requests; reported ones (api, smtp, ...) are trusted."""


@dataclass(slots=True)
class Seen:
    """One open or click of an email, as these rules see it."""

    kind: str
    source: str
    """pixel, link, honeypot, or inferred (the open a human click implied)."""
    link_id: int | None
    at: datetime
    prefix: str | None
    address: str | None
    """The salted hash of the client's address."""
    flag: str | None
    unique: bool
    event_id: int | None = None
    """The stored row's id; None while the row is still being planned in this batch."""
    row: int | None = None
    """Index of the planned row in the writer's batch."""

    def same_network(self, other: Seen) -> bool:
        if self.prefix is not None or other.prefix is not None:
            return self.prefix == other.prefix
        return self.address == other.address


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the email's recent hits say about a new one."""

    flag: str | None
    """The new hit's flag from these rules (None: nothing against it here)."""
    reflag: tuple[tuple[Seen, str], ...] = ()
    """Earlier hits that are now known to be a machine's, with their reason."""


def _within(a: datetime, b: datetime, seconds: float) -> bool:
    return abs((a - b).total_seconds()) <= seconds


def judge(recent: list[Seen], hit: Seen) -> Verdict:
    """Judge `hit` (an open or a click) against the email's `recent` hits, oldest first."""
    if hit.kind == "open":
        return _judge_open(recent, hit)
    if hit.source == "honeypot":
        return Verdict(HONEYPOT, tuple(_swept_by_honeypot(recent, hit)))
    flag: str | None = None
    reflag: list[tuple[Seen, str]] = []
    if any(s.source == "honeypot" and _within(s.at, hit.at, SURROUNDING_SECONDS) for s in recent):
        flag = HONEYPOT_WINDOW
    burst = [
        s
        for s in recent
        if s.kind == "click"
        and s.source in ("link", "honeypot")
        and s.same_network(hit)
        and _within(s.at, hit.at, BURST_SECONDS)
    ]
    links = {s.link_id if s.source == "link" else -1 for s in burst}
    if len(links | {hit.link_id}) >= 2:
        flag = flag or MULTI_LINK_BURST
        start = min(s.at for s in burst)
        reflag += [(s, MULTI_LINK_BURST) for s in burst if s.flag is None]
        reflag += [
            (s, MULTI_LINK_BURST)
            for s in recent
            if s.kind == "open"
            and s.source == "pixel"
            and s.flag is None
            and s.same_network(hit)
            and (start - s.at).total_seconds() <= SURROUNDING_SECONDS
        ]
    elif any(
        s.link_id == hit.link_id
        and s.source == "link"
        and s.same_network(hit)
        and _within(s.at, hit.at, RAPID_REPEAT_SECONDS)
        for s in burst
    ):
        flag = flag or RAPID_REPEAT
    return Verdict(flag, tuple(_unique_by_identity(reflag)))


def _judge_open(recent: list[Seen], hit: Seen) -> Verdict:
    for s in recent:
        if (
            s.kind == "click"
            and s.flag in (HONEYPOT, MULTI_LINK_BURST, HONEYPOT_WINDOW)
            and s.same_network(hit)
            and _within(s.at, hit.at, SURROUNDING_SECONDS)
        ):
            return Verdict(HONEYPOT_WINDOW if s.flag != MULTI_LINK_BURST else MULTI_LINK_BURST)
    return Verdict(None)


def _swept_by_honeypot(recent: list[Seen], hit: Seen) -> list[tuple[Seen, str]]:
    return [
        (s, HONEYPOT_WINDOW)
        for s in recent
        if s.flag is None
        and _within(s.at, hit.at, SURROUNDING_SECONDS)
        and (
            (s.kind == "click" and s.source == "link")
            or (s.kind == "open" and s.source == "pixel" and s.same_network(hit))
        )
    ]


def _unique_by_identity(items: list[tuple[Seen, str]]) -> list[tuple[Seen, str]]:
    seen: set[int] = set()
    kept = []
    for item in items:
        if id(item[0]) not in seen:
            seen.add(id(item[0]))
            kept.append(item)
    return kept


class Quarantine:
    """Addresses caught by the honeypot, until when (bounded; per process)."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._until: OrderedDict[str, datetime] = OrderedDict()

    def clear(self) -> None:
        self._until.clear()

    def catch(self, address: str | None, at: datetime) -> None:
        if address is None:
            return
        self._until[address] = at + timedelta(seconds=QUARANTINE_SECONDS)
        self._until.move_to_end(address)
        while len(self._until) > self.size:
            self._until.popitem(last=False)

    def flag(self, address: str | None, at: datetime) -> str | None:
        """`scanner_source` while `address` is quarantined at `at`."""
        if address is None or not self._until:
            return None
        until = self._until.get(address)
        return SCANNER_SOURCE if until is not None and at <= until else None


SOURCES = Quarantine()
"""The writer's quarantine: each process learns from the honeypot hits it records."""
