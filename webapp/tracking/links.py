"""The stored URL behind a click: the link cache, and one query for the misses waiting at once.

Most clicks are the first click of their link (a reader clicks an email's link
once, a scanner once more), so the click redirect usually misses the link cache
(tracking/hits.py) and must read the link. One read per miss was one round
trip on PostgreSQL's read pool (a thread hop on SQLite) per click: under a
burst of first clicks on PostgreSQL a third of the server's samples were in
that read. Here the misses that arrive while a read is out wait for the next
one, which reads them all in one query (like the event writer's batches), and
it keeps every link of the emails it read, so a scanner following each link
of an email reads them once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from webapp.tracking.hits import LinkCache, LinkTarget

LINKS_SELECT = "SELECT content_id, position, id, url FROM links WHERE content_id {ids}"
"""Every link of the emails named: `{ids}` is `IN (?, ...)` on SQLite, `= ANY(?::bigint[])`
on PostgreSQL (one statement text, prepared once per connection; an index scan of
`uq_links_content_position` either way)."""

Fetch = Callable[[str, tuple[Any, ...]], Awaitable[list[tuple[Any, ...]]]]
"""`Database.fetch_all`: the rows of a small indexed query with `?` placeholders."""

Key = tuple[int, int]
"""(content id, link position), as a click token names a link."""


class LinkReads:
    """Link look-ups through `cache`; the misses waiting together are read in one query."""

    def __init__(
        self, cache: LinkCache, fetch: Fetch, *, sqlite: bool, max_group: int = 500
    ) -> None:
        self.cache = cache
        self.fetch = fetch
        self.sqlite = sqlite
        self.max_group = max_group
        self._waiting: dict[Key, asyncio.Future[LinkTarget | None]] = {}
        self._reading: asyncio.Task[None] | None = None

    async def get(self, key: Key) -> LinkTarget | None:
        """The link `key` names, or None when there is no such link.

        Raises what the read raised (`ConnectionError` when the database is
        unavailable) to every caller waiting for that read.
        """
        found = self.cache.get(key)
        if found is not None:
            return found
        future = self._waiting.get(key)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._waiting[key] = future
            if self._reading is None:
                self._reading = asyncio.create_task(self._read(), name="tune-link-reads")
        # Shielded: a caller that goes away must not cancel the others' answer.
        return await asyncio.shield(future)

    async def _read(self) -> None:
        try:
            while self._waiting:
                keys = list(self._waiting)[: self.max_group]
                group = {key: self._waiting.pop(key) for key in keys}
                try:
                    rows = await self._links(sorted({content_id for content_id, _ in keys}))
                except BaseException as exc:
                    for future in group.values():
                        if not future.done():
                            future.set_exception(exc)
                            future.exception()  # retrieved: a caller may have gone away
                    if not isinstance(exc, Exception):
                        raise
                    continue
                read = {(row[0], row[1]): LinkTarget(link_id=row[2], url=row[3]) for row in rows}
                for key, target in read.items():
                    self.cache.put(key, target)
                for key, future in group.items():
                    if not future.done():
                        future.set_result(read.get(key))
        finally:
            self._reading = None
            if self._waiting:  # cancelled (shutdown) with callers still waiting
                waiting, self._waiting = self._waiting, {}
                for future in waiting.values():
                    future.cancel()

    async def _links(self, content_ids: list[int]) -> list[tuple[Any, ...]]:
        if self.sqlite:
            marks = ", ".join("?" * len(content_ids))
            return await self.fetch(LINKS_SELECT.format(ids=f"IN ({marks})"), tuple(content_ids))
        return await self.fetch(LINKS_SELECT.format(ids="= ANY(?::bigint[])"), (content_ids,))
