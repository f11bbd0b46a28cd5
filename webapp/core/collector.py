"""The garbage collector's settings for a serving process: startup frozen, young collections rarer.

A serving process keeps a few long-lived things the collector would walk again
and again (Tune's modules, Quart, SQLAlchemy, the app and its services; later
the caches that fill as traffic comes: links, redirects, API keys), and under
load it always has the objects of the requests in flight (64 connections: 64
requests' contexts, coroutines and headers).

With CPython's default thresholds (700, 10, 10) a young collection runs every
700 net allocations, which under load is every few requests. Each one finds
the in-flight requests' objects alive and promotes them; every tenth promotes
them again into the oldest generation, and once those promotions exceed a
quarter of what the oldest generation holds, a full collection walks all of
it. Measured under `/api/health` load after pixel, click and API traffic
(10,000 links cached): 6–10 full collections in 4 s at 21–31 ms of CPU each,
24–36 µs of collection per request, and a 20–30 ms stall for every request in
flight (docs/benchmarks.md, "Health over HTTP").

So `settle()` (run once the app has started serving):
- freezes everything built at startup out of the collector's sight
  (`gc.freeze()`), so full collections no longer walk it;
- raises the young generation's threshold to `YOUNG_THRESHOLD`: reference
  counting frees nearly everything a request allocates, so young collections
  are only needed for cycles, and running them ~14 times less often promotes
  the in-flight requests' objects ~14 times less often, which is what drives
  the full collections. Garbage in cycles waits a little longer (tens of
  thousands of objects at most, a few MB).
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000
"""Net allocations of tracked objects between young collections (CPython's default: 700)."""


def settle() -> None:
    """Freeze the objects built so far and make young collections rarer (never more frequent)."""
    gc.freeze()
    young, middle, old = gc.get_threshold()
    if 0 < young < YOUNG_THRESHOLD:  # 0: collection turned off by the operator; leave it
        gc.set_threshold(YOUNG_THRESHOLD, middle, old)
