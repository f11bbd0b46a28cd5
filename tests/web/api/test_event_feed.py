"""`GET /api/events` never skips an event a client paging with its cursor has not seen.

On PostgreSQL the events' ids come from a sequence when they are inserted, but their
transactions commit in any order: an event with a lower id can become visible after
a client's cursor has passed it. The feed serves only events whose transactions can
no longer be joined by an earlier one (webapp/campaigns/feed.py), so a client reads,
keeps its last cursor, and later finds every event after it. SQLite has one writer at
a time: its pages are in id order, as before.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

from quart.typing import TestClientProtocol
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from tests.support.dashboard import BROWSER
from tests.support.databases import POSTGRES_URL
from tests.support.factories import make_recipient
from webapp.core.models import Content
from webapp.tracking.events import OpenEvent
from webapp.tracking.store import store_events
from webapp.web.services import Services


async def emails(tune: Services, count: int) -> list[Content]:
    """`count` sent emails, each in a campaign of its own, so that writers storing their
    events share no counter row and never wait for each other."""
    found = []
    async with tune.db.write() as session:
        for _ in range(count):
            found.append(await make_recipient(session, send_status="sent"))
    return found


async def opened(session: AsyncSession, email: Content, times: int = 1) -> None:
    await store_events(session, [OpenEvent(email.id, source="api") for _ in range(times)])


async def read_to_the_end(
    client: TestClientProtocol, auth: dict[str, str], cursor: str | None
) -> tuple[list[int], str | None]:
    """Pages of one event until `next_cursor` is null, as docs/api.md tells a client to:
    the events' ids, and the last cursor it had (to resume from next time)."""
    ids: list[int] = []
    while True:
        query: dict[str, Any] = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        answer = await client.get("/api/events", query_string=query, headers=auth)
        assert answer.status_code == 200, await answer.get_data()
        page = await answer.get_json()
        ids += [item["id"] for item in page["items"]]
        if page["next_cursor"] is None:
            return ids, cursor
        cursor = page["next_cursor"]


async def test_an_event_committed_late_under_a_lower_id_is_not_skipped(
    client: TestClientProtocol, auth: dict[str, str], pg: Services
) -> None:
    first, slow, quick = await emails(pg, 3)
    async with pg.db.write() as session:
        await opened(session, first)
    async with pg.db.write() as late:
        await opened(late, slow)  # takes the lower id; its transaction stays open
        async with pg.db.write() as session:
            await opened(session, quick, times=2)  # higher ids, committed at once
        seen, cursor = await read_to_the_end(client, auth, None)
        assert len(seen) == 1  # the feed waits for the slow transaction, newer events too
    # Now the slow transaction has committed: the client comes back with its cursor.
    more, _ = await read_to_the_end(client, auth, cursor)

    everything, _ = await read_to_the_end(client, auth, None)
    assert len(everything) == 4 and sorted(everything) == sorted(set(everything))
    assert set(seen) | set(more) == set(everything)
    assert len(seen) == len(set(seen)) and len(more) == len(set(more))


async def test_an_older_transactions_event_under_a_higher_id_is_served_once(
    client: TestClientProtocol, auth: dict[str, str], pg: Services
) -> None:
    """A transaction that began writing before another can insert its event after it:
    the older one commits its higher id while the younger one's lower ids are in flight."""
    older_email, younger_email, newest_email = await emails(pg, 3)
    async with AsyncExitStack() as later, AsyncExitStack() as sooner:
        older = await sooner.enter_async_context(pg.db.write())
        await opened(older, older_email)  # begins writing first
        younger = await later.enter_async_context(pg.db.write())
        await opened(younger, younger_email, times=2)
        await opened(older, older_email)
        await sooner.aclose()  # commits a higher id, the younger ones still in flight
        async with pg.db.write() as newest:
            await opened(newest, newest_email)
        seen, cursor = await read_to_the_end(client, auth, None)
    more, _ = await read_to_the_end(client, auth, cursor)

    everything, _ = await read_to_the_end(client, auth, None)
    assert len(everything) == 5
    assert set(seen) | set(more) == set(everything)
    assert len(seen) == len(set(seen)) and len(more) == len(set(more))


async def test_the_tracking_writer_commits_past_a_slower_transaction(
    client: TestClientProtocol, auth: dict[str, str], pg: Services
) -> None:
    """The pixel's writer stores hits while another writer's lower id is in flight."""
    slow, *pixels = await emails(pg, 3)
    async with pg.db.write() as late:
        await opened(late, slow)
        for email in pixels:
            hit = await client.get(f"/t/o/{pg.signer.open_token(email.id)}.gif", headers=BROWSER)
            assert hit.status_code == 200
        seen, cursor = await read_to_the_end(client, auth, None)
    more, _ = await read_to_the_end(client, auth, cursor)

    everything, _ = await read_to_the_end(client, auth, None)
    assert len(everything) == 3
    assert set(seen) | set(more) == set(everything)


async def test_a_transaction_open_in_another_database_holds_nothing_back(
    client: TestClientProtocol, auth: dict[str, str], pg: Services
) -> None:
    """PostgreSQL's oldest running transaction is the whole server's: one left open in
    another database (another application, a script) never writes Tune's events."""
    [email] = await emails(pg, 1)
    assert POSTGRES_URL is not None and pg.db.engine.url.database != make_url(POSTGRES_URL).database
    elsewhere = create_async_engine(POSTGRES_URL)
    async with elsewhere.begin() as other:
        await other.execute(text("SELECT pg_current_xact_id()"))  # running, with an id
        async with pg.db.write() as session:
            await opened(session, email)
        seen, _ = await read_to_the_end(client, auth, None)
    await elsewhere.dispose()
    assert len(seen) == 1


async def test_pages_follow_the_ids_and_end_with_a_null_cursor(
    client: TestClientProtocol, auth: dict[str, str], tune: Services
) -> None:
    """With nothing in flight, the feed is every event in id order, on both databases."""
    emailed = await emails(tune, 3)
    for email in emailed:
        async with tune.db.write() as session:
            await opened(session, email)
    seen, cursor = await read_to_the_end(client, auth, None)
    assert len(seen) == 3 and seen == sorted(seen)
    again, _ = await read_to_the_end(client, auth, cursor)
    assert again == seen[-1:]  # the last cursor re-reads the last page, nothing is skipped
    whole = await (await client.get("/api/events", headers=auth)).get_json()
    assert [item["id"] for item in whole["items"]] == seen and whole["next_cursor"] is None
