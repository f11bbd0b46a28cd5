"""The PostgreSQL writer lane: two batches in flight, in the order their rows demand."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy.util import await_only

from tests.support.factories import make_campaign, make_recipient
from webapp.tracking.pglane import PostgresLane
from webapp.tracking.store import Statements
from webapp.web.services import Services


async def test_a_batch_runs_while_another_waits_to_commit_and_a_shared_email_waits(
    tune: Services,
) -> None:
    if tune.db.sqlite_path is not None:
        pytest.skip("SQLite's writer runs one transaction at a time on its thread")
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
        shared = (await make_recipient(session, campaign)).id
        other = (await make_recipient(session, campaign)).id
    lane = PostgresLane(tune.db.engine.url.render_as_string(hide_password=False), in_flight=2)
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
        await lane.close()
