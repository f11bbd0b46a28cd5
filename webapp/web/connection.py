"""Quart's ASGI HTTP connection, sending each answer under `asyncio.timeout`.

Quart sends every answer through `asyncio.wait_for(..., RESPONSE_TIMEOUT)`,
which on Python 3.11 wraps the send in a task of its own: a task created,
scheduled and awaited for every request. `asyncio.timeout` gives the same
bound (the response's own `timeout`, else `RESPONSE_TIMEOUT`; a send still
running then is cancelled and the request ends, as in Quart) with a timer on
the current task instead.

This overrides Quart's `ASGIHTTPConnection.handle_request` (and uses its
`_handle_exception`), so pyproject.toml bounds Quart to the versions the tests
cover (`tests/web/test_connection.py`).
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from quart import Quart
from quart.asgi import ASGIHTTPConnection, _handle_exception
from quart.wrappers import Request, Response


class TimedHttpConnection(ASGIHTTPConnection):
    """Quart's HTTP connection without the task `asyncio.wait_for` makes per answer."""

    async def handle_request(self, request: Request, send: Any) -> None:
        try:
            response = await self.app.handle_request(request)
        except Exception as error:
            response = await _handle_exception(self.app, error)
        if isinstance(response, Response) and response.timeout != Ellipsis:
            timeout = cast(float | None, response.timeout)
        else:
            timeout = self.app.config["RESPONSE_TIMEOUT"]
        try:
            async with asyncio.timeout(timeout):
                await self._send_response(send, response)
        except TimeoutError:
            pass


def install(app: Quart) -> None:
    app.asgi_http_class = TimedHttpConnection
