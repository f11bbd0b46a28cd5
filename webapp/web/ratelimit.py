"""Per-API-key rate limiting across all routes, with the `limits` library.

The moving-window strategy counts every request of the last window exactly;
with `memory://` storage the count is per process, with `redis://` it is shared
by every worker and machine. When Redis is unreachable Tune fails open: the
request is served, a warning is logged and `tune_rate_limit_storage_errors_total`
counts it (availability of tracking and the API matters more than the limit).
"""

from __future__ import annotations

import math
import time
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


class RateLimiter:
    """Wraps a `limits` moving window over async storage for one rate."""

    def __init__(self, rate: str, storage_uri: str, namespace: str = "tune") -> None:
        self.item: RateLimitItem = parse(rate)
        self.storage_uri = storage_uri
        self.namespace = namespace
        self.storage = storage_from_string(_async_uri(storage_uri))
        self.strategy = MovingWindowRateLimiter(self.storage)

    async def hit(self, identity: str) -> Decision:
        """Count one request for `identity`; fail open if the storage is down."""
        limit = self.item.amount
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
        await self.storage.reset()  # type: ignore[misc]


def _async_uri(uri: str) -> str:
    return uri if uri.startswith("async+") else "async+" + uri
