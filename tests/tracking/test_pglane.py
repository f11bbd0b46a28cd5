"""The PostgreSQL writer lane: two batches in flight, in the order their rows demand,
and the statements of each batch planned once per connection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from sqlalchemy.util import await_only

from tests.support.factories import make_campaign, make_recipient
from webapp.tracking.batch import write_events
from webapp.tracking.events import ClickEvent, Hit
from webapp.tracking.hits import HitClassifier
from webapp.tracking.machines import RAPID_REPEAT
from webapp.tracking.pglane import PostgresLane
from webapp.tracking.store import Statements
from webapp.web.services import Services


@pytest.fixture
async def lanes(pg: Services) -> AsyncIterator[Callable[[int], PostgresLane]]:
    """Lanes on the test's PostgreSQL database (the test is skipped on SQLite), each
    running `in_flight` batches at once; closed when the test ends."""
    made: list[PostgresLane] = []

    def lane(in_flight: int) -> PostgresLane:
        url = pg.db.engine.url.render_as_string(hide_password=False)
        made.append(PostgresLane(url, in_flight=in_flight))
        return made[-1]

    yield lane
    for each in made:
        await each.close()


async def test_a_batch_runs_while_another_waits_to_commit_and_a_shared_email_waits(
    pg: Services, lanes: Callable[[int], PostgresLane]
) -> None:
    # Not on SQLite: its writer runs one transaction at a time on its thread.
    async with pg.db.write() as session:
        campaign = await make_campaign(session)
        shared = (await make_recipient(session, campaign)).id
        other = (await make_recipient(session, campaign)).id
    lane = lanes(2)
    opened = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)
    release = asyncio.Event()
    written: list[str] = []

    def first(db: Statements) -> str:
        db.targets({shared})  # the email stays locked until this transaction ends
        db.execute("UPDATE contents SET first_opened_at = ? WHERE id = ?", (opened, shared))
        await_only(release.wait())  # still open: as if its commit took this long
        return "first"

    def read(content_id: int) -> asyncio.Task[datetime | None]:
        def work(db: Statements) -> datetime | None:
            return db.targets({content_id})[content_id].firsts["open"]

        return asyncio.create_task(lane.run(work))

    try:
        holding = asyncio.create_task(lane.run(first, lambda: written.append("first")))
        await asyncio.sleep(0.2)
        # Another email: written and committed while the first batch is still open.
        assert await asyncio.wait_for(read(other), 5) is None
        # The same email: waits for the first batch's commit, then sees what it wrote.
        waiting = read(shared)
        await asyncio.sleep(0.3)
        assert not waiting.done()
        release.set()
        assert await holding == "first"
        assert written == ["first"]
        assert await asyncio.wait_for(waiting, 5) == opened
    finally:
        release.set()


async def test_an_email_clicked_again_and_again_has_its_recent_hits_read_without_replanning(
    pg: Services, lanes: Callable[[int], PostgresLane]
) -> None:
    async with pg.db.write() as session:
        content_id = (await make_recipient(session)).id
    lane = lanes(1)
    start = datetime.now(UTC)
    verdicts: list[str | None] = []

    def clicks(db: Statements, batch: int) -> None:
        events = [
            ClickEvent(content_id, start + timedelta(seconds=5 * batch, milliseconds=100 * n),
                       source="link", hit=Hit("Mozilla/5.0", "a" * 64, "10.0.0.0/24"))
            for n in range(2)
        ]  # fmt: skip
        write_events(db, events, HitClassifier())

    def plans(db: Statements) -> list[Any]:
        verdicts.extend(
            row[0] for row in db.fetch(
                "SELECT flag_reason FROM events WHERE content_id = ? AND kind = 'click' "
                "ORDER BY occurred_at, id",
                (content_id,),
            )
        )  # fmt: skip
        return db.fetch(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
            "WHERE statement LIKE 'SELECT id, content_id, kind, source%'",
            (),
        )

    for batch in range(8):  # PostgreSQL settles on a plan after five runs
        await lane.run(partial(clicks, batch=batch))
    [(generic, custom)] = await lane.run(plans)
    # Every batch after the first read the email's earlier clicks, from one plan.
    assert (generic, custom) == (7, 0)
    # Batches 5 s apart; the second click of each came 100 ms after the first.
    assert verdicts == [None, RAPID_REPEAT] * 8
