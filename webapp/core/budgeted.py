"""A map bounded by the total size of its values: the one written longest ago goes first.

The API layer keeps answers and fields written from rows (`apireads.KeptBodies`,
`apipages.EmailFields`) so that a poll whose rows did not change costs no writing; each
is bounded by the bytes or characters it holds, and forgetting the entry written longest
ago first means a client sweeping thousands of prospects does not cost the polled stats
and pages their kept answers. Both used the same bookkeeping; it lives here once.

Ordered by an `OrderedDict`, whose oldest entry goes in O(1): taking the first key of a
plain dict again and again steps over every slot its earlier deletions left, up to the
table's size: with 20,000 entries kept, a put that forgets one cost 6.8 µs that way
against 0.44 µs here (`timeit`, the entries' values of size 1).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Budgeted(Generic[K, V]):
    """Values by key, each with its size, at most `budget` in all (0 keeps none)."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.size = 0
        """The sizes of the values kept, added up."""
        self.kept: OrderedDict[K, tuple[V, int]] = OrderedDict()
        """key -> (value, its size), written longest ago first."""

    def put(self, key: K, value: V, size: int) -> None:
        """Keep `value` under `key` (replacing what was there), forgetting the values written
        longest ago until it fits; a value larger than the whole budget is not kept."""
        self.discard(key)
        if size > self.budget:
            return
        kept = self.kept
        while self.size + size > self.budget:
            self.size -= kept.popitem(last=False)[1][1]
        kept[key] = (value, size)
        self.size += size

    def discard(self, key: K) -> None:
        """Forget the value under `key`, if any."""
        old = self.kept.pop(key, None)
        if old is not None:
            self.size -= old[1]

    def clear(self) -> None:
        self.kept.clear()
        self.size = 0
