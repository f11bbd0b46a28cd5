"""The group-commit event writer: nothing acknowledged is lost, nothing crashes it."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from tests.support.counts import counters, event_count
from tests.support.factories import make_campaign, make_recipient
from webapp.core import metrics
from webapp.core.db import Database
from webapp.core.models import ActivityBucket, Content, Event, Prospect
from webapp.tracking.events import (
    ClickEvent,
    OpenEvent,
    Outcome,
    ReplyEvent,
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
    # A link id no database column holds (PostgreSQL's events no longer check theirs).
    poison = asyncio.create_task(tune.writer.record(ClickEvent(content_id, link_id=2**63)))
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
    pg: Services,
) -> None:
    # Not on SQLite: it has no connection to lose, its writer holds the file.
    async with pg.db.write() as session:
        campaign = await make_campaign(session)
        content_id = (await make_recipient(session, campaign)).id
    assert await pg.writer.record(OpenEvent(content_id, source="api")) is Outcome.STORED
    async with pg.db.write() as session:
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
            outcomes.append(await pg.writer.record(OpenEvent(content_id, source="api")))
        except Exception as exc:  # the batch on the dead connection fails, and says so
            outcomes.append(type(exc).__name__)
    assert outcomes[-2:] == [Outcome.STORED, Outcome.STORED]
    assert pg.writer.alive
    stored = sum(1 for outcome in outcomes if outcome is Outcome.STORED)
    assert await event_count(pg) == 1 + stored


async def test_one_batch_moves_every_figure_its_events_move(tune: Services) -> None:
    """Opens, clicks and a reply on several emails committed in one transaction: the
    emails' first and last times, the prospects' last activity, the counters and the
    hourly buckets are what the same events recorded one by one give."""
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
        contents = [await make_recipient(session, campaign) for _ in range(3)]
    ids = [content.id for content in contents]
    start = datetime.now(UTC).replace(minute=30, second=0, microsecond=0) - timedelta(hours=2)
    at = [start + timedelta(minutes=n) for n in range(6)]
    hits: list[TrackedEvent] = [
        OpenEvent(ids[0], occurred_at=at[0], source="api"),
        OpenEvent(ids[0], occurred_at=at[1], source="api"),
        ClickEvent(ids[1], occurred_at=at[2], source="link"),
        ReplyEvent(ids[2], occurred_at=at[3], source="api"),
        ClickEvent(ids[0], occurred_at=at[4], source="link"),
        OpenEvent(ids[2], occurred_at=at[5] + timedelta(hours=1), source="api"),
    ]
    writer = EventWriter(tune.db, max_batch=100)
    writer.start()
    batches = _batches()
    try:  # queued in one go, before the writer wakes: one transaction
        assert await asyncio.gather(*map(writer.record, hits)) == [Outcome.STORED] * len(hits)
        assert _batches() == batches + 1
    finally:
        await writer.stop()
    assert await counters(tune) == {
        "open_total": 4,  # three opens and the open the click on email 2 implies
        "open_unique": 3,
        "click_total": 2,
        "click_unique": 2,
        "reply": 1,
    }
    async with tune.db.read() as session:
        emails = {
            row.id: row
            for row in await session.execute(
                select(
                    Content.id,
                    Content.first_opened_at,
                    Content.first_clicked_at,
                    Content.replied_at,
                    Content.last_clicked_at,
                ).where(Content.id.in_(ids))
            )
        }
        activity = dict(
            (
                await session.execute(
                    select(Prospect.id, Prospect.last_activity_at).where(
                        Prospect.id.in_([content.prospect_id for content in contents])
                    )
                )
            ).all()
        )
        buckets = {
            (row.bucket, row.kind): row.value
            for row in await session.execute(
                select(ActivityBucket.bucket, ActivityBucket.kind, ActivityBucket.value).where(
                    ActivityBucket.campaign_id == campaign.id
                )
            )
        }
    assert tuple(emails[ids[0]][1:]) == (at[0], at[4], None, at[4])
    assert tuple(emails[ids[1]][1:]) == (at[2], at[2], None, at[2])
    assert tuple(emails[ids[2]][1:]) == (at[5] + timedelta(hours=1), None, at[3], None)
    assert activity == {
        contents[0].prospect_id: at[4],
        contents[1].prospect_id: at[2],
        contents[2].prospect_id: at[5] + timedelta(hours=1),
    }
    hour = start.replace(minute=0)
    assert buckets == {
        (hour, "open"): 3,
        (hour, "click"): 2,
        (hour, "reply"): 1,
        (hour + timedelta(hours=1), "open"): 1,
    }


def _batches() -> float:
    """Transactions the writers of this process have committed so far."""
    for family in metrics.WRITER_BATCH_SIZE.collect():
        for sample in family.samples:
            if sample.name.endswith("_count"):
                return sample.value
    return 0.0


async def test_the_writer_gets_in_when_another_writer_pauses_briefly(tune: Services) -> None:
    """An import on SQLite pauses between its batches for a share of a batch's time; the
    event writer, waiting for the lock, takes it in that pause rather than at the next
    try of SQLite's busy handler (every 100 ms after a long wait), which would leave it
    waiting through the batch after and every pixel of its batch with it."""
    if not tune.db.is_sqlite:
        pytest.skip("SQLite's one write lock")
    async with tune.db.write() as session:
        content_id = (await make_recipient(session)).id
    assert tune.db.sqlite_path is not None
    other = sqlite3.connect(tune.db.sqlite_path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # a batch of the import
    waiting = asyncio.create_task(tune.writer.record(OpenEvent(content_id, source="api")))
    began = time.monotonic()

    def pause_and_take_it_back() -> None:
        # SQLite's handler, waiting since `began`, tries at +528 and +628 ms: the pause
        # falls between them.
        time.sleep(max(0.0, began + 0.555 - time.monotonic()))
        other.execute("COMMIT")
        time.sleep(0.025)
        other.execute("BEGIN IMMEDIATE")  # the next batch (after the writer's, if it got in)

    try:
        await asyncio.to_thread(pause_and_take_it_back)
        done, _ = await asyncio.wait({waiting}, timeout=1.0)
    finally:
        if other.in_transaction:
            other.execute("COMMIT")
        other.close()
    assert done, "the writer waited through the next batch"
    assert waiting.result() is Outcome.STORED
    assert await event_count(tune) == 1
