"""Per-API-key rate limiting across all routes, with the `limits` library.

The moving-window strategy counts every request of the last window exactly;
with `memory://` storage the count is per process, with `redis://` it is shared
by every worker and machine. When Redis is unreachable Tune fails open: the
request is served, a warning is logged and `tune_rate_limit_storage_errors_total`
counts it (availability of tracking and the API matters more than the limit).

With `memory://` the same exact moving window is kept here (`MemoryWindow`), a
queue of hit times per key: `limits`' memory storage inserts every hit at the
front of a list holding the whole window, which costs time proportional to the
hits in the window (60,000 at 1,000 requests/s under a per-minute limit).
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from webapp.core.logs import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_after: int
    """Seconds until a slot frees up (for `Retry-After` and `RateLimit-Reset`)."""

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_after),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.reset_after)
        return headers


class MemoryWindow:
    """An exact moving window in this process: each key's hit times in a queue.

    A hit drops the times older than the window from the front and adds its own
    at the back, so it costs the same however many hits the window holds. It
    answers exactly as `limits`' moving window does: allowed while fewer than
    `limit` hits fall in the last `seconds`, reset when the oldest of them leaves.
    """

    SWEEP_EVERY = 10_000
    """Hits between sweeps that forget keys with nothing left in their window."""

    def __init__(self, limit: int, seconds: int) -> None:
        self.limit = limit
        self.seconds = seconds
        self._hits: dict[str, deque[float]] = {}
        self._until_sweep = self.SWEEP_EVERY

    def hit(self, identity: str) -> tuple[bool, int, float]:
        """Count a hit: (allowed, remaining, time the window next frees a slot)."""
        now = time.time()
        start = now - self.seconds
        hits = self._hits.get(identity)
        if hits is None:
            hits = self._hits[identity] = deque()
        while hits and hits[0] < start:
            hits.popleft()
        allowed = len(hits) < self.limit
        if allowed:
            hits.append(now)
        self._until_sweep -= 1
        if self._until_sweep <= 0:
            self._sweep(start)
        return allowed, self.limit - len(hits), hits[0] + self.seconds if hits else now

    def _sweep(self, start: float) -> None:
        self._until_sweep = self.SWEEP_EVERY
        for identity in [key for key, hits in self._hits.items() if not hits or hits[-1] < start]:
            del self._hits[identity]

    def reset(self) -> None:
        self._hits.clear()


class RateLimiter:
    """A moving window for one rate: `limits` over Redis, or `MemoryWindow` in process."""

    def __init__(self, rate: str, storage_uri: str, namespace: str = "tune") -> None:
        self.item: RateLimitItem = parse(rate)
        self.storage_uri = storage_uri
        self.namespace = namespace
        self.memory = (
            MemoryWindow(self.item.amount, self.item.get_expiry())
            if _async_uri(storage_uri).startswith("async+memory://")
            else None
        )
        self.storage = storage_from_string(_async_uri(storage_uri))
        self.strategy = MovingWindowRateLimiter(self.storage)

    async def hit(self, identity: str) -> Decision:
        """Count one request for `identity`; fail open if the storage is down."""
        limit = self.item.amount
        if self.memory is not None:
            allowed, remaining, reset_time = self.memory.hit(identity)
            reset_after = max(0, math.ceil(reset_time - time.time()))
            return Decision(allowed, limit, max(0, remaining), reset_after)
        try:
            allowed = await self.strategy.hit(self.item, self.namespace, identity)
            stats = await self.strategy.get_window_stats(self.item, self.namespace, identity)
        except Exception as exc:  # storage down: serve rather than refuse everyone
            log.warning("rate_limit_storage_error", error=type(exc).__name__)
            from webapp.core import metrics

            metrics.RATE_LIMIT_STORAGE_ERRORS.inc()
            return Decision(True, limit, limit, 0)
        reset_after = max(0, math.ceil(stats.reset_time - time.time()))
        return Decision(allowed, limit, max(0, stats.remaining), reset_after)

    async def reset(self) -> None:
        if self.memory is not None:
            self.memory.reset()
        await self.storage.reset()  # type: ignore[misc]


def _async_uri(uri: str) -> str:
    return uri if uri.startswith("async+") else "async+" + uri
