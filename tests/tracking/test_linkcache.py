"""The link cache: bounded, most recently used kept, and invisible to the garbage collector."""

from __future__ import annotations

import gc

from webapp.tracking.hits import LinkCache, LinkTarget


def test_answers_what_was_put_and_forgets_the_least_recently_used() -> None:
    cache = LinkCache(size=2)
    cache.put((1, 1), LinkTarget(10, "https://a.example/"))
    cache.put((2, 1), LinkTarget(20, "https://b.example/"))
    assert cache.get((1, 1)) == LinkTarget(10, "https://a.example/")  # now the most recent
    cache.put((3, 1), LinkTarget(30, "https://c.example/"))
    assert cache.get((2, 1)) is None
    assert cache.get((1, 1)) == LinkTarget(10, "https://a.example/")
    assert cache.get((3, 1)) == LinkTarget(30, "https://c.example/")
    assert cache.get((4, 1)) is None


def test_cached_links_add_nothing_for_the_collector_to_walk() -> None:
    """Full collections walk every tracked object: 10,000 cached links must not be 10,000 more."""
    cache = LinkCache()
    gc.collect()
    before = len(gc.get_objects())
    for number in range(10_000):
        cache.put((number, 1), LinkTarget(number, f"https://example.com/{number}"))
    gc.collect()  # a collection stops tracking tuples that hold only untracked values
    assert len(gc.get_objects()) - before < 100
