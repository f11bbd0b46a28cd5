"""Live dashboard updates: one shared poller per process, fanned out to every viewer.

Browsers keep a Server-Sent Events stream open per campaign page (or poll every
5 s when streams are unavailable). Neither touches the database per viewer:

* The hub watches only campaigns somebody is looking at, and checks all of them
  with ONE query per tick (`interval`, 1 s): the sum of each campaign's
  aggregate counters. Counters only grow and every open or click bumps one, so
  a changed sum means new activity, whichever worker wrote it.
* Events committed by this process's own writer wake the poller at once
  (`notify`), so same-worker updates show without waiting for the tick.
* When a campaign's sum moved, its live fragments are rendered once and the
  same text is pushed to every subscriber, and kept for polling viewers.

So N viewers of M campaigns cost one small query per second per process while
nothing happens, plus one render (a few queries) per campaign that changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.core.db import Database
from webapp.core.logs import get_logger
from webapp.core.models import CampaignCounter

log = get_logger(__name__)

INTERVAL_SECONDS = 1.0
MIN_GAP_SECONDS = 0.5
"""Renders of one campaign are at least this far apart, however busy it is."""
LINGER_SECONDS = 15.0
"""How long a polling viewer keeps a campaign watched after its last poll."""
QUEUE_SIZE = 4

Renderer = Callable[[int], Awaitable[str]]
"""Renders a campaign's live fragments (HTML, out-of-band swaps) from the database."""
VersionReader = Callable[[AsyncSession, list[int]], Awaitable[dict[int, int]]]
"""Reads the current version of each watched key in one query (see `counter_sums`)."""


@dataclass(frozen=True)
class Snapshot:
    version: int
    html: str


@dataclass
class _Watch:
    subscribers: set[asyncio.Queue[Snapshot | None]] = field(default_factory=set)
    snapshot: Snapshot | None = None
    interest_until: float = 0.0

    def wanted(self, now: float) -> bool:
        return bool(self.subscribers) or now < self.interest_until


@dataclass
class HubStats:
    polls: int = 0
    renders: int = 0
    pushes: int = 0


class LiveHub:
    """Per-process hub: the shared poller, the latest fragments, and the subscriber queues."""

    def __init__(
        self,
        db: Database,
        render: Renderer,
        *,
        interval: float = INTERVAL_SECONDS,
        min_gap: float = MIN_GAP_SECONDS,
        linger: float = LINGER_SECONDS,
        versions: VersionReader | None = None,
    ) -> None:
        self.db = db
        self.render = render
        self.read_versions = versions or counter_sums
        self.interval = interval
        self.min_gap = min_gap
        self.linger = linger
        self.stats = HubStats()
        self._watches: dict[int, _Watch] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        self._closing = False
        self._task = asyncio.create_task(self._run(), name="tune-live-hub")

    async def stop(self) -> None:
        """End every open stream, then the poller."""
        self.close_streams()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def close_streams(self) -> None:
        """Tell every subscriber to finish (at shutdown, so streams do not hold it up)."""
        self._closing = True
        for watch in self._watches.values():
            for queue in watch.subscribers:
                _offer(queue, None)

    @property
    def closing(self) -> bool:
        return self._closing

    # --- viewers ---------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def subscribe(self, campaign_id: int) -> AsyncIterator[asyncio.Queue[Snapshot | None]]:
        """A queue that receives each new snapshot of the campaign (None: stream over)."""
        queue: asyncio.Queue[Snapshot | None] = asyncio.Queue(maxsize=QUEUE_SIZE)
        watch = self._watches.setdefault(campaign_id, _Watch())
        watch.subscribers.add(queue)
        if self._closing:
            _offer(queue, None)
        try:
            yield queue
        finally:
            watch.subscribers.discard(queue)

    def viewers(self, campaign_id: int | None = None) -> int:
        if campaign_id is not None:
            watch = self._watches.get(campaign_id)
            return len(watch.subscribers) if watch else 0
        return sum(len(watch.subscribers) for watch in self._watches.values())

    async def snapshot(self, campaign_id: int) -> Snapshot:
        """The campaign's current fragments: cached while the poller keeps them fresh."""
        now = time.monotonic()
        watch = self._watches.setdefault(campaign_id, _Watch())
        kept_fresh = watch.wanted(now) and self.alive
        watch.interest_until = max(watch.interest_until, now + self.linger)
        if watch.snapshot is not None and kept_fresh:
            return watch.snapshot
        versions = await self._versions([campaign_id])
        return await self._refresh(campaign_id, versions.get(campaign_id, 0), push=False)

    def notify(self, campaign_ids: Iterable[int]) -> None:
        """Events of these campaigns were committed in this process: check now."""
        if any(cid in self._watches for cid in campaign_ids):
            self._wake.set()

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    # --- the poller ------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.interval)
            self._wake.clear()
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a database hiccup must not end live updates
                log.warning("live_poll_failed", error=type(exc).__name__)
            await asyncio.sleep(self.min_gap)

    async def tick(self) -> None:
        """One round: check every watched campaign in one query, re-render the changed."""
        now = time.monotonic()
        for campaign_id in [cid for cid, w in self._watches.items() if not w.wanted(now)]:
            del self._watches[campaign_id]
            self._locks.pop(campaign_id, None)
        if not self._watches:
            return
        versions = await self._versions(list(self._watches))
        for campaign_id, watch in list(self._watches.items()):
            version = versions.get(campaign_id, 0)
            if watch.snapshot is None or watch.snapshot.version != version:
                await self._refresh(campaign_id, version, push=True)

    async def _versions(self, campaign_ids: list[int]) -> dict[int, int]:
        self.stats.polls += 1
        async with self.db.read() as session:
            return await self.read_versions(session, campaign_ids)

    async def _refresh(self, campaign_id: int, version: int, *, push: bool) -> Snapshot:
        lock = self._locks.setdefault(campaign_id, asyncio.Lock())
        async with lock:
            watch = self._watches.setdefault(campaign_id, _Watch())
            if watch.snapshot is not None and watch.snapshot.version == version:
                return watch.snapshot
            self.stats.renders += 1
            snapshot = Snapshot(version, await self.render(campaign_id))
            previous, watch.snapshot = watch.snapshot, snapshot
            if push and previous is not None:
                for queue in watch.subscribers:
                    _offer(queue, snapshot)
                    self.stats.pushes += 1
            return snapshot


async def counter_sums(session: AsyncSession, campaign_ids: list[int]) -> dict[int, int]:
    """Each campaign's version: the sum of its aggregate counters."""
    rows = await session.execute(
        select(CampaignCounter.campaign_id, func.sum(CampaignCounter.value))
        .where(CampaignCounter.campaign_id.in_(campaign_ids))
        .group_by(CampaignCounter.campaign_id)
    )
    return {campaign_id: int(total or 0) for campaign_id, total in rows}


async def all_counters_sum(session: AsyncSession, keys: list[int]) -> dict[int, int]:
    """One version for views over every campaign (the follow-up list): all counters summed."""
    total = await session.scalar(select(func.sum(CampaignCounter.value)))
    return dict.fromkeys(keys, int(total or 0))


def _offer(queue: asyncio.Queue[Snapshot | None], item: Snapshot | None) -> None:
    """Put without waiting: a slow viewer skips stale snapshots and gets the newest."""
    while True:
        try:
            queue.put_nowait(item)
            return
        except asyncio.QueueFull:
            with contextlib.suppress(asyncio.QueueEmpty):
                queue.get_nowait()


def sse_message(event: str, data: str) -> bytes:
    """One Server-Sent Events message; every line of `data` gets its own `data:` field."""
    lines = data.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return (f"event: {event}\n" + "".join(f"data: {line}\n" for line in lines) + "\n").encode()
