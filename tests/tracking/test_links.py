"""Link look-ups for the click redirect: the misses waiting together are read in one query."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support.factories import make_campaign, make_recipient
from webapp.tracking.hits import LinkCache, LinkTarget
from webapp.tracking.links import LinkReads
from webapp.web.services import Services

URLS = ("https://example.com/a", "https://example.com/b")


class Counted:
    """`Database.fetch_all`, counting its calls (the database is the real one)."""

    def __init__(self, tune: Services) -> None:
        self.tune = tune
        self.calls = 0

    async def __call__(self, statement: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        self.calls += 1
        return await self.tune.db.fetch_all(statement, params)


async def _emails(tune: Services, count: int) -> list[int]:
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
        return [(await make_recipient(session, campaign, urls=URLS)).id for _ in range(count)]


async def test_misses_waiting_together_are_read_in_one_query(tune: Services) -> None:
    emails = await _emails(tune, 20)
    fetch = Counted(tune)
    reads = LinkReads(LinkCache(), fetch, sqlite=tune.db.is_sqlite)
    keys = [(cid, position) for cid in emails for position in (0, 1)] + [(emails[0], 7)]
    found = await asyncio.gather(*(reads.get(key) for key in keys))
    assert fetch.calls == 1
    assert [target.url if target else None for target in found] == [*URLS * 20, None]
    ids = {target.link_id for target in found if target is not None}
    assert len(ids) == 40
    # Cached now, every link of those emails: no query for the next clicks.
    assert await reads.get((emails[3], 1)) == found[7]
    assert await reads.get((emails[5], 0)) == found[10]
    assert fetch.calls == 1
    # A link that does not exist is read again each time (links may be added).
    assert await reads.get((emails[0], 7)) is None
    assert fetch.calls == 2


async def test_a_miss_during_a_read_waits_for_the_next_one(tune: Services) -> None:
    emails = await _emails(tune, 3)
    fetch = Counted(tune)
    reads = LinkReads(LinkCache(), fetch, sqlite=tune.db.is_sqlite, max_group=2)
    found = await asyncio.gather(*(reads.get((cid, 1)) for cid in emails))
    assert [target.url for target in found if target is not None] == [URLS[1]] * 3
    assert fetch.calls == 2  # at most two emails per query


async def test_a_failed_read_fails_its_callers_and_the_next_read_works(tune: Services) -> None:
    emails = await _emails(tune, 2)
    calls = 0

    async def once_broken(statement: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("PostgreSQL is not available (test)")
        return await tune.db.fetch_all(statement, params)

    reads = LinkReads(LinkCache(), once_broken, sqlite=tune.db.is_sqlite)
    failed = await asyncio.gather(*(reads.get((cid, 0)) for cid in emails), return_exceptions=True)
    assert [type(result) for result in failed] == [ConnectionError, ConnectionError]
    again = await reads.get((emails[1], 0))
    assert isinstance(again, LinkTarget) and again.url == URLS[0]


async def test_a_caller_that_goes_away_does_not_cancel_the_others(tune: Services) -> None:
    emails = await _emails(tune, 1)
    reads = LinkReads(LinkCache(), tune.db.fetch_all, sqlite=tune.db.is_sqlite)
    leaving = asyncio.create_task(reads.get((emails[0], 0)))
    staying = asyncio.create_task(reads.get((emails[0], 0)))
    await asyncio.sleep(0)
    leaving.cancel()
    target = await staying
    assert target is not None and target.url == URLS[0]
    with pytest.raises(asyncio.CancelledError):
        await leaving
