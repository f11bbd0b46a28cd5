"""Identical reads in flight at once share one query, and never one sent before they arrived.

API clients poll the same campaign's stats from many connections at once; each
read is one small query, and on PostgreSQL its round trip (the driver's work,
the server's parse and execute, the context switches) is most of the request.
`SharedReads` runs at most one query per key at a time: requests that arrive
while it runs wait for the next one, which starts when it ends and answers all
of them. Every answer therefore comes from a query sent after its request
arrived, so it counts every commit the client saw before asking.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


class _Slot(Generic[T]):
    __slots__ = ("queued", "running")

    def __init__(self) -> None:
        self.running: asyncio.Task[T] | None = None
        self.queued: asyncio.Task[T] | None = None
        """The next query, not sent yet: the requests arriving now wait for it."""


class SharedReads(Generic[K, T]):
    """`await reads(key)`: `fetch(key)`, shared with the identical requests waiting now."""

    def __init__(self, fetch: Callable[[K], Awaitable[T]]) -> None:
        self.fetch = fetch
        self._slots: dict[K, _Slot[T]] = {}

    async def __call__(self, key: K) -> T:
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = _Slot()
        if slot.queued is not None:
            task = slot.queued
        elif slot.running is not None:
            task = slot.queued = self._start(self._after(key, slot, slot.running))
        else:
            task = slot.running = self._start(self._first(key, slot))
        # A request that goes away (client gone) does not cancel the others' query.
        return await asyncio.shield(task)

    def _start(self, work: Awaitable[T]) -> asyncio.Task[T]:
        task = asyncio.ensure_future(work)
        task.add_done_callback(_retrieve)
        return task

    async def _first(self, key: K, slot: _Slot[T]) -> T:
        try:
            return await self.fetch(key)
        finally:
            self._done(key, slot)

    async def _after(self, key: K, slot: _Slot[T], running: asyncio.Task[T]) -> T:
        await asyncio.wait([running])
        # From here on this query is running: later arrivals queue behind it.
        slot.running, slot.queued = slot.queued, None
        try:
            return await self.fetch(key)
        finally:
            self._done(key, slot)

    def _done(self, key: K, slot: _Slot[T]) -> None:
        if slot.queued is None:
            slot.running = None
            if self._slots.get(key) is slot:
                del self._slots[key]


def _retrieve(task: asyncio.Task[object]) -> None:
    """Mark a failure as seen: every waiter may have gone, and it is theirs to report."""
    if not task.cancelled():
        task.exception()
