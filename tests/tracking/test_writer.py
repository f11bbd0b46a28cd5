"""The group-commit event writer: nothing acknowledged is lost, nothing crashes it."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select, text

from tests.support.counts import counters, event_count
from tests.support.factories import make_campaign, make_recipient
from webapp.core.db import Database
from webapp.core.models import Event
from webapp.tracking.events import (
    ClickEvent,
    OpenEvent,
    Outcome,
    TrackedEvent,
)
from webapp.tracking.writer import EventWriter
from webapp.web.services import Services


async def test_1000_concurrent_hits_with_cancelled_clients_are_all_stored(tune: Services) -> None:
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
        contents = [await make_recipient(session, campaign) for _ in range(20)]
        ids = [content.id for content in contents]
    tasks = [
        asyncio.create_task(tune.writer.record(OpenEvent(ids[n % 20], source="api")))
        for n in range(1000)
    ]
    await asyncio.sleep(0)
    for task in tasks[::3]:
        task.cancel()  # the mail client hung up mid-wait
    results = await asyncio.gather(*tasks, return_exceptions=True)
    finished = [result for result in results if not isinstance(result, BaseException)]
    assert all(result is Outcome.STORED for result in finished)
    await asyncio.sleep(0.5)
    assert tune.writer.alive
    assert await event_count(tune) == 1000
    assert await counters(tune) == {"open_total": 1000, "open_unique": 20}
    # Still serving after all that.
    assert await tune.writer.record(OpenEvent(ids[0])) is Outcome.STORED


async def test_stop_drains_the_queue_before_returning(tune: Services) -> None:
    async with tune.db.write() as session:
        content_id = (await make_recipient(session)).id
    tasks = [asyncio.create_task(tune.writer.record(OpenEvent(content_id))) for _ in range(300)]
    await asyncio.sleep(0)
    await tune.writer.stop()
    assert all(task.done() for task in tasks)
    assert await event_count(tune) == 300


async def test_a_poison_event_fails_alone_and_the_writer_lives_on(tune: Services) -> None:
    async with tune.db.write() as session:
        content_id = (await make_recipient(session)).id
    good = [asyncio.create_task(tune.writer.record(OpenEvent(content_id))) for _ in range(50)]
    poison = asyncio.create_task(tune.writer.record(ClickEvent(content_id, link_id=987654)))
    more = [asyncio.create_task(tune.writer.record(OpenEvent(content_id))) for _ in range(50)]
    results = await asyncio.gather(*good, *more)
    assert all(result is Outcome.STORED for result in results)
    try:
        await poison
        raised = False
    except Exception:
        raised = True
    assert raised
    assert tune.writer.alive
    assert await event_count(tune) == 100


async def test_two_writers_racing_count_each_first_open_and_click_once(tune: Services) -> None:
    """Two processes' writers (two engines, like two workers) storing hits on the same
    emails at once: each email's first open and first click is unique exactly once."""
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
        ids = [(await make_recipient(session, campaign)).id for _ in range(10)]
    other_db = Database(tune.config)
    other = EventWriter(other_db, max_batch=7)
    other.start()
    try:
        hits: list[TrackedEvent] = []
        for round_ in range(10):
            hits += [OpenEvent(cid, source="api") for cid in ids]
            hits += [ClickEvent(cid, source="api") for cid in ids[round_ % 2 :: 2]]
        writers = (tune.writer, other)
        await asyncio.gather(*(writers[n % 2].record(hit) for n, hit in enumerate(hits)))
    finally:
        await other.stop()
        await other_db.dispose()
    totals = await counters(tune)
    assert totals["open_unique"] == 10
    assert totals["click_unique"] == 10
    async with tune.db.read() as session:
        unique = await session.execute(
            select(Event.content_id, Event.kind, func.count())
            .where(Event.unique_hit)
            .group_by(Event.content_id, Event.kind)
        )
        assert {(cid, kind): n for cid, kind, n in unique} == {
            **{(cid, "open"): 1 for cid in ids},
            **{(cid, "click"): 1 for cid in ids},
        }


async def test_the_postgres_writer_reconnects_when_its_connection_is_killed(
    tune: Services,
) -> None:
    if tune.db.sqlite_path is not None:
        pytest.skip("SQLite has no connection to lose: its writer holds the file")

    async with tune.db.write() as session:
        campaign = await make_campaign(session)
        content_id = (await make_recipient(session, campaign)).id
    assert await tune.writer.record(OpenEvent(content_id, source="api")) is Outcome.STORED
    async with tune.db.write() as session:
        killed = await session.scalar(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = 'tune-event-writer' AND datname = current_database()"
            )
        )
    assert killed == 1
    outcomes: list[object] = []
    for _ in range(3):
        try:
            outcomes.append(await tune.writer.record(OpenEvent(content_id, source="api")))
        except Exception as exc:  # the batch on the dead connection fails, and says so
            outcomes.append(type(exc).__name__)
    assert outcomes[-2:] == [Outcome.STORED, Outcome.STORED]
    assert tune.writer.alive
    stored = sum(1 for outcome in outcomes if outcome is Outcome.STORED)
    assert await event_count(tune) == 1 + stored
