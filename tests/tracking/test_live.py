"""Live updates: one shared poller per process, SSE streams, polling, several processes."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client
from sqlalchemy import event

from tests.support.factories import make_campaign, make_recipient, make_user
from tests.support.paths import ARTIFACTS
from tests.support.servers import serve, tune_env
from tests.support.signin import csrf_of, login
from webapp.core.config import Config
from webapp.core.db import Database
from webapp.tracking.events import OpenEvent
from webapp.tracking.live import LiveHub, Snapshot, sse_message
from webapp.web.services import Services
from webapp.web.ui.live import HUB


class QueryCounter:
    """Counts the SELECTs an engine runs (what viewers cost the database)."""

    def __init__(self, db: Database) -> None:
        self.engine = db.engine.sync_engine
        self.selects = 0
        event.listen(self.engine, "before_cursor_execute", self._seen)

    def _seen(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            self.selects += 1

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)


@pytest.fixture
def queries(tune: Services) -> Iterator[QueryCounter]:
    counter = QueryCounter(tune.db)
    yield counter
    counter.close()


async def recipient(tune: Services) -> tuple[int, int]:
    async with tune.db.write() as session:
        content = await make_recipient(session)
        return content.campaign_id, content.id


async def test_two_hundred_viewers_cost_one_query_a_second(
    app: Quart, tune: Services, queries: QueryCounter
) -> None:
    campaign_id, content_id = await recipient(tune)
    hub: LiveHub = app.extensions[HUB]
    async with _subscribers(hub, campaign_id, 200) as queues:
        await asyncio.gather(*(hub.snapshot(campaign_id) for _ in range(200)))
        await asyncio.sleep(1.2)
        queries.selects = 0
        started = time.monotonic()
        await asyncio.sleep(5)
        idle_rate = queries.selects / (time.monotonic() - started)
        assert idle_rate <= 2, f"{idle_rate:.1f} queries/s with 200 idle viewers"
        # An event reaches all 200 within 2 s; the update is rendered once.
        renders_before = hub.stats.renders
        sent = time.monotonic()
        await tune.writer.record(OpenEvent(content_id, source="api"))
        snapshots = await asyncio.wait_for(asyncio.gather(*(q.get() for q in queues)), 2)
        latency = time.monotonic() - sent
        assert all(s is not None and 'data-counter="opened">1<' in s.html for s in snapshots)
        assert hub.stats.renders == renders_before + 1
        # A busy campaign: 20 events a second for 3 s, still a handful of queries a second.
        queries.selects = 0
        started = time.monotonic()
        for _ in range(60):
            await tune.writer.record(OpenEvent(content_id, source="api"))
            await asyncio.sleep(0.05)
        busy_seconds = time.monotonic() - started
        writer_selects = 60  # the writer reads each event's content once
        busy_rate = (queries.selects - writer_selects) / busy_seconds
        assert busy_rate <= 12, f"{busy_rate:.1f} live queries/s while busy"
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"live-load-{tune.db.engine.dialect.name}.json").write_text(
        json.dumps(
            {
                "viewers": 200,
                "idle_queries_per_second": round(idle_rate, 2),
                "event_to_all_viewers_seconds": round(latency, 3),
                "busy_live_queries_per_second": round(busy_rate, 2),
            }
        )
    )


async def test_no_viewers_no_queries(app: Quart, tune: Services, queries: QueryCounter) -> None:
    await recipient(tune)
    queries.selects = 0
    await asyncio.sleep(2.5)
    assert queries.selects == 0


async def test_events_of_unwatched_campaigns_render_nothing(app: Quart, tune: Services) -> None:
    watched, _ = await recipient(tune)
    _, other_content = await recipient(tune)
    hub: LiveHub = app.extensions[HUB]
    async with _subscribers(hub, watched, 1):
        await hub.snapshot(watched)
        renders = hub.stats.renders
        await tune.writer.record(OpenEvent(other_content, source="api"))
        await asyncio.sleep(1.5)
        assert hub.stats.renders == renders


async def test_a_slow_viewer_gets_the_newest_snapshot_not_a_backlog(
    app: Quart, tune: Services
) -> None:
    campaign_id, content_id = await recipient(tune)
    hub: LiveHub = app.extensions[HUB]
    async with hub.subscribe(campaign_id) as queue:
        await hub.snapshot(campaign_id)
        for _ in range(8):
            await tune.writer.record(OpenEvent(content_id, source="api"))
            await asyncio.sleep(0.35)
        # The viewer comes back once the hub has shown the last open (on a busy machine
        # the poller may be a tick behind the writer): the newest snapshot waits for it.
        deadline = time.monotonic() + 15
        while "8 opens" not in (await hub.snapshot(campaign_id)).html:
            assert time.monotonic() < deadline, "the hub never rendered the eighth open"
            await asyncio.sleep(0.1)
        assert queue.qsize() <= 4
        newest: Snapshot | None = None
        while not queue.empty():
            newest = queue.get_nowait()
        assert newest is not None and 'data-counter="opened">1<' in newest.html
        assert "8 opens" in newest.html


def test_sse_messages_put_every_line_in_a_data_field() -> None:
    message = sse_message("update", "<div>\n<p>a</p>\r\n</div>")
    assert message == b"event: update\ndata: <div>\ndata: <p>a</p>\ndata: </div>\n\n"


# --- the SSE endpoint through the app ------------------------------------------------------


async def test_sse_stream_pushes_the_new_counters(
    app: Quart, client: Client, tune: Services
) -> None:
    async with tune.db.write() as session:
        await make_user(session)
    campaign_id, content_id = await recipient(tune)
    await login(client)
    hub: LiveHub = app.extensions[HUB]
    async with client.request(
        f"/campaigns/{campaign_id}/live", headers={"Accept": "text/event-stream"}
    ) as connection:
        await connection.send_complete()
        first = await _read_until(connection, b"event: update")
        assert b'data-counter="opened">0<' in first
        assert hub.viewers(campaign_id) == 1
        sent = time.monotonic()
        await tune.writer.record(OpenEvent(content_id, source="api"))
        update = await asyncio.wait_for(_read_until(connection, b'opened">1<'), 2)
        assert b"event: update" in update
        assert time.monotonic() - sent < 2
        await connection.disconnect()  # the browser tab closes
    for _ in range(20):
        if hub.viewers(campaign_id) == 0:
            break
        await asyncio.sleep(0.05)
    assert hub.viewers(campaign_id) == 0


async def test_sse_of_a_missing_campaign_is_404(client: Client, tune: Services) -> None:
    async with tune.db.write() as session:
        await make_user(session)
    await login(client)
    response = await client.get("/campaigns/4242/live")
    assert response.status_code == 404


async def _read_until(connection: Any, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        data += await connection.receive()
    return data


class _subscribers:
    """Open `count` subscriptions to one campaign at once."""

    def __init__(self, hub: LiveHub, campaign_id: int, count: int) -> None:
        self.managers = [hub.subscribe(campaign_id) for _ in range(count)]

    async def __aenter__(self) -> list[Any]:
        return [await manager.__aenter__() for manager in self.managers]

    async def __aexit__(self, *exc: Any) -> None:
        for manager in self.managers:
            await manager.__aexit__(None, None, None)


# --- several processes ---------------------------------------------------------------------


API_KEY = "tune_live_test_key_0123456789abcdef"


def test_an_event_written_by_one_process_shows_on_a_page_served_by_another(
    database_url: str, tmp_path: Path, config: Config
) -> None:
    async def prepare() -> tuple[int, int, int]:
        db = Database(config)
        try:
            async with db.write() as session:
                await make_user(session)
                campaign = await make_campaign(session, "Shared")
                content = await make_recipient(session, campaign)
                return campaign.id, content.id, content.contact_id
        finally:
            await db.dispose()

    campaign_id, content_id, contact_id = asyncio.run(prepare())
    env = tune_env(database_url, tmp_path, TUNE_BOOTSTRAP_API_KEY=API_KEY)
    with serve(env, tmp_path) as server_a, serve(env, tmp_path) as server_b:
        with httpx.Client(base_url=server_a, timeout=10) as browser:
            page = browser.get("/login")
            signed = browser.post(
                "/login",
                data={
                    "email": "rep@example.com",
                    "password": "correct horse battery",
                    "csrf_token": csrf_of(page.text),
                },
            )
            assert signed.status_code == 303
            with browser.stream("GET", f"/campaigns/{campaign_id}/live") as stream:
                lines = stream.iter_lines()
                _wait_for(lines, 'data-counter="opened">0<', 5)
                sent = time.monotonic()
                answer = httpx.post(
                    f"{server_b}/api/tracking/email-opened",
                    json={"content_id": content_id, "contact_id": contact_id},
                    headers={"X-API-Key": API_KEY},
                )
                assert answer.status_code == 200
                _wait_for(lines, 'data-counter="opened">1<', 2.5)
                latency = time.monotonic() - sent
    assert latency < 2.0, f"{latency:.2f} s from process B's event to process A's stream"


def _wait_for(lines: Iterator[str], marker: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    for line in lines:
        if marker in line:
            return
        if time.monotonic() > deadline:
            break
    raise AssertionError(f"{marker!r} not seen within {seconds} s")
