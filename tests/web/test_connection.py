"""Quart's answer timeout still bounds how long an answer may take to send.

Tune sends answers under `asyncio.timeout` instead of Quart's `asyncio.wait_for`
(`webapp/web/connection.py`); a body that keeps the send going past the bound
(the response's own `timeout`, else `RESPONSE_TIMEOUT`) must still be cut off.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from quart import Quart, Response

from tests.support.asgiclient import AsgiClient


async def test_a_body_that_outlasts_the_response_timeout_is_cut_off(app: Quart) -> None:
    app.config["RESPONSE_TIMEOUT"] = 0.5

    async def endless() -> AsyncIterator[bytes]:
        while True:
            yield b"x"
            await asyncio.sleep(0.05)

    @app.get("/slow-body")
    async def slow_body() -> Response:
        return Response(endless(), content_type="text/plain")

    started = time.monotonic()
    answer = await asyncio.wait_for(AsgiClient(app).get("/slow-body"), timeout=10)
    took = time.monotonic() - started
    assert answer.status_code == 200
    assert 0.4 <= took < 3, took
    body = await answer.get_data()
    assert 3 <= len(body) <= 20  # what was sent in half a second, then nothing


async def test_ordinary_answers_are_sent_whole(app: Quart) -> None:
    # With a query string health is answered by Quart, through the connection.
    answer = await AsgiClient(app).get("/api/health?via=quart")
    assert answer.status_code == 200
    assert await answer.get_data() == b'{"status":"ok"}\n'
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert len(answer.headers["X-Request-ID"]) == 32
