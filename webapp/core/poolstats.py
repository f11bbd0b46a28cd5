"""Connection-pool instrumentation: wait time, timeouts, and the pool gauges.

`TimedQueuePool` is the engine's pool class. It times `_do_get`, the step that
waits for a free connection (or opens a new one while the pool may grow), so
`tune_db_pool_wait_seconds` is exactly how long a caller waited for its
connection, and it counts the `sqlalchemy.exc.TimeoutError` raised after
`DB_POOL_TIMEOUT` in `tune_db_pool_timeouts_total`. Pre-ping and checkout
hooks are not part of the wait.

The gauges are read from the pool (`size()`, `checkedout()`, `overflow()`,
`checkedin()`) when `/metrics` is scraped and, with several workers, every
`PUBLISH_INTERVAL_SECONDS` by each worker so the merged sums stay current.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from greenlet import getcurrent
from sqlalchemy import exc
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry, Pool

from webapp.core import metrics

PUBLISH_INTERVAL_SECONDS = 1.0
# SQLAlchemy names a pool's logger after its class; keep it as quiet as its own pools.
logging.getLogger(f"{__name__}.TimedQueuePool").setLevel(logging.WARNING)


class TimedQueuePool(AsyncAdaptedQueuePool):
    """The asyncio queue pool, timing each wait for a connection."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._waiting: set[Any] = set()

    def _do_get(self) -> ConnectionPoolEntry:
        # QueuePool._do_get retries by calling itself: time only the outermost call.
        caller = getcurrent()
        if caller in self._waiting:
            return super()._do_get()
        self._waiting.add(caller)
        started = time.perf_counter()
        try:
            return super()._do_get()
        except exc.TimeoutError:
            metrics.DB_POOL_TIMEOUTS.inc()
            raise
        finally:
            self._waiting.discard(caller)
            metrics.DB_POOL_WAIT.observe(time.perf_counter() - started)


def snapshot(pool: Pool) -> dict[str, int]:
    """The pool's numbers now; `overflow` counts only connections beyond the size."""
    size = int(getattr(pool, "size", lambda: 0)())
    max_overflow = max(0, int(getattr(pool, "_max_overflow", 0)))
    checked_out = int(getattr(pool, "checkedout", lambda: 0)())
    return {
        "size": size,
        "max": size + max_overflow,
        "checked_out": checked_out,
        "checked_in": int(getattr(pool, "checkedin", lambda: 0)()),
        "overflow": max(0, int(getattr(pool, "overflow", lambda: 0)())),
    }


def publish(engine: AsyncEngine) -> dict[str, int]:
    """Set the pool gauges of this process from the engine's pool."""
    numbers = snapshot(engine.pool)
    metrics.DB_POOL_SIZE.set(numbers["size"])
    metrics.DB_POOL_MAX.set(numbers["max"])
    metrics.DB_POOL_CHECKED_OUT.set(numbers["checked_out"])
    metrics.DB_POOL_CHECKED_IN.set(numbers["checked_in"])
    metrics.DB_POOL_OVERFLOW.set(numbers["overflow"])
    metrics.DB_POOL_WORKER_CHECKED_OUT.set(numbers["checked_out"])
    return numbers


class PoolPublisher:
    """With several workers: each worker writes its pool gauges every interval."""

    def __init__(self, engine: AsyncEngine, interval: float = PUBLISH_INTERVAL_SECONDS) -> None:
        self.engine = engine
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        publish(self.engine)
        if metrics.multiprocess_dir() is not None:
            self._task = asyncio.create_task(self._run(), name="tune-pool-publisher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            publish(self.engine)
