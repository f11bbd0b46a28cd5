"""`SharedReads`: concurrent identical reads share a query, never one sent before they arrived."""

from __future__ import annotations

import asyncio

import pytest

from webapp.core.shared import SharedReads


class Source:
    """A value that changes (a commit), read by queries the test lets finish one by one."""

    def __init__(self) -> None:
        self.value = 0
        self.queries: list[asyncio.Event] = []

    async def fetch(self, key: str) -> int:
        seen = self.value  # what the query sees is fixed when it is sent
        done = asyncio.Event()
        self.queries.append(done)
        await done.wait()
        if key == "broken":
            raise ConnectionError("the database went away")
        return seen

    async def sent(self, count: int) -> None:
        for _ in range(100):
            if len(self.queries) >= count:
                return
            await asyncio.sleep(0)
        raise AssertionError(f"{len(self.queries)} queries sent, not {count}")


async def test_a_read_arriving_during_a_query_waits_for_the_next_one_and_shares_it() -> None:
    source = Source()
    reads = SharedReads(source.fetch)
    first = asyncio.ensure_future(reads("campaign"))
    await source.sent(1)
    source.value = 1  # committed after the first query was sent
    second = asyncio.ensure_future(reads("campaign"))
    third = asyncio.ensure_future(reads("campaign"))
    await asyncio.sleep(0)
    assert len(source.queries) == 1  # they wait: the running query may predate them
    source.queries[0].set()
    assert await first == 0
    await source.sent(2)
    source.queries[1].set()
    assert (await second, await third) == (1, 1)  # both see the commit
    assert len(source.queries) == 2  # one query for the two of them
    fourth = asyncio.ensure_future(reads("campaign"))  # nothing running: sent at once
    await source.sent(3)
    source.queries[2].set()
    assert await fourth == 1


async def test_a_reader_that_goes_away_leaves_the_others_their_answer_and_errors_reach_all() -> (
    None
):
    source = Source()
    reads = SharedReads(source.fetch)
    first = asyncio.ensure_future(reads("campaign"))
    await source.sent(1)
    second = asyncio.ensure_future(reads("campaign"))
    third = asyncio.ensure_future(reads("campaign"))
    await asyncio.sleep(0)
    second.cancel()  # its client went away: the query it waits for still runs for the third
    source.queries[0].set()
    assert await first == 0
    await source.sent(2)
    source.queries[1].set()
    assert await third == 0
    with pytest.raises(asyncio.CancelledError):
        await second
    failing = [asyncio.ensure_future(reads("broken")) for _ in range(3)]
    await source.sent(3)
    source.queries[2].set()
    await source.sent(4)  # the two that arrived during the first query share the next
    source.queries[3].set()
    for read in failing:
        with pytest.raises(ConnectionError):
            await read
    assert len(source.queries) == 4
