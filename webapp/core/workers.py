"""The background loop every Tune worker runs: start, step until stopped, stop with grace.

The sender, the webhook dispatcher, each inbox poller and the set of pollers are
all the same shape: a task that repeats one `_step` until `stop()` is asked for,
which may start work in tasks of its own (`_spawn`, at most as many as it lets
itself), waits while there is nothing to do (`_idle`, cut short by `wake()` or a
task ending), and on shutdown gives the tasks still running `stop_grace` seconds
before cancelling them (their leases then expire and another worker retries).
`Worker` is that shape once; a subclass says what one step does and what to
close after (`_stopped`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any

from webapp.core.logs import get_logger

log = get_logger(__name__)


class Worker:
    """One background loop; subclasses write `_step` (and, if they need, the hooks)."""

    kind: str = "worker"
    """Names the task and the log lines: `{kind}_started`, `{kind}_left_leases`, …"""
    stop_grace: float = 30.0
    """On stop, how long the tasks in flight may finish before they are cancelled."""

    def __init__(self) -> None:
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None

    # --- the life cycle --------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def task_name(self) -> str:
        return f"tune-{self.kind}"

    def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self.run(), name=self.task_name())
        self._started()

    def wake(self) -> None:
        """Look for work now (rather than at the end of the idle wait)."""
        self._wake.set()

    async def stop(self) -> None:
        """Stop stepping; tasks in flight get `stop_grace` seconds; then `_stopped`."""
        self._stopping.set()
        self._wake.set()
        self._stop_asked()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._stopped()

    async def run(self) -> None:
        """Step until stopped; then let the work in flight finish."""
        try:
            while not self._stopping.is_set():
                await self._step()
        finally:
            await self._finish()

    # --- what a subclass writes ------------------------------------------------------

    async def _step(self) -> None:
        raise NotImplementedError

    def _started(self) -> None:
        """Called once the loop's task is created (a log line, say)."""

    def _stop_asked(self) -> None:
        """Called as `stop()` begins, to cut short a wait the loop is in."""

    async def _stopped(self) -> None:
        """Called after the loop ended: close connections, log."""

    async def _finish(self) -> None:
        """The loop's last act: by default, let the tasks in flight finish."""
        await self._finish_in_flight()

    # --- tools for a step ------------------------------------------------------------

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` in a task of its own, counted in flight until it ends."""
        task = asyncio.create_task(work)
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _one_done(self) -> None:
        """Until one of the tasks in flight ends."""
        await asyncio.wait(self._in_flight, return_when=asyncio.FIRST_COMPLETED)

    async def _sleep(self, seconds: float) -> None:
        """`seconds`, or less if `stop()` is asked for."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _idle(self, seconds: float) -> None:
        """Nothing to do: until `wake()`, a task in flight ends, or `seconds` pass."""
        self._wake.clear()
        waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(self._wake.wait())]
        waits.extend(self._in_flight)
        done, _ = await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        if waits[0] not in done:
            waits[0].cancel()

    async def _finish_in_flight(self) -> None:
        if not self._in_flight:
            return
        _, still = await asyncio.wait(self._in_flight, timeout=self.stop_grace)
        for task in still:
            task.cancel()
        if still:
            await asyncio.wait(still)
            log.warning(f"{self.kind}_left_leases", count=len(still), task=self.task_name())
