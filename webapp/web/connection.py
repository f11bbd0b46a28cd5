"""Quart's ASGI HTTP connection, carrying Tune's per-request plumbing, sending each
answer under `asyncio.timeout`.

Every request Quart answers starts and ends here (`webapp/web/hooks.py`'s
`Plumbing`): its id and state before Quart builds the request, its metric and
log line once Quart has answered, and the request id, security, rate-limit
and CORS headers appended to the encoded header list that is sent. Doing this
around Quart rather than in its before/after-request hooks saves the hooks'
dispatch and the edits of a werkzeug `Headers` object on every request.

`TuneRequest` is Quart's request with `blueprints` read straight from the
matched rule: Quart works it out from two properties and an import on each of
the three times it asks for it per request.

Quart sends every answer through `asyncio.wait_for(..., RESPONSE_TIMEOUT)`,
which on Python 3.11 wraps the send in a task of its own: a task created,
scheduled and awaited for every request. `asyncio.timeout` gives the same
bound (the response's own `timeout`, else `RESPONSE_TIMEOUT`; a send still
running then is cancelled and the request ends, as in Quart) with a timer on
the current task instead.

This overrides Quart's `ASGIHTTPConnection.__call__`, `handle_request` and
`_send_response` (and uses its `_handle_exception`), so pyproject.toml bounds
Quart to the versions the tests cover (`tests/web/test_connection.py`).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, cast

from quart import Quart
from quart.asgi import ASGIHTTPConnection, _handle_exception
from quart.helpers import _split_blueprint_path
from quart.utils import encode_headers
from quart.wrappers import Request, Response
from werkzeug.wrappers import Response as WerkzeugResponse

if TYPE_CHECKING:
    from webapp.web.hooks import Plumbing, RequestState


class TuneRequest(Request):
    """Quart's request, with `blueprints` as Quart's property reads it, in one step."""

    @property
    def blueprints(self) -> list[str]:
        rule = self.url_rule
        endpoint = rule.endpoint if rule is not None else None
        if not endpoint or "." not in endpoint:
            return []
        return _split_blueprint_path(endpoint.rpartition(".")[0])


class TimedHttpConnection(ASGIHTTPConnection):
    """Quart's HTTP connection with Tune's plumbing, without the task `asyncio.wait_for`
    makes per answer."""

    plumbing: Plumbing
    state: RequestState

    async def __call__(self, receive: Any, send: Any) -> None:
        # Before Quart's tasks are made: they see this request's state and log context.
        self.state = self.plumbing.begin(cast(dict[str, Any], self.scope))
        await super().__call__(receive, send)

    async def handle_request(self, request: Request, send: Any) -> None:
        try:
            response = await self.app.handle_request(request)
        except Exception as error:
            response = await _handle_exception(self.app, error)
        self.plumbing.finish(self.state, request, response.status_code)
        if isinstance(response, Response) and response.timeout != Ellipsis:
            timeout = cast(float | None, response.timeout)
        else:
            timeout = self.app.config["RESPONSE_TIMEOUT"]
        try:
            async with asyncio.timeout(timeout):
                await self._send_response(send, response)
        except TimeoutError:
            pass

    async def _send_response(self, send: Any, response: Any) -> None:
        """Quart's, with the plumbing's headers after the route's."""
        headers = self.plumbing.headers(encode_headers(response.headers), self.state)
        await send(
            {"type": "http.response.start", "status": response.status_code, "headers": headers}
        )
        if isinstance(response, WerkzeugResponse):
            for data in response.response:
                body = data.encode() if isinstance(data, str) else data
                await send({"type": "http.response.body", "body": body, "more_body": True})
        else:
            async with response.response as response_body:
                async for data in response_body:
                    body = data.encode() if isinstance(data, str) else data
                    await send({"type": "http.response.body", "body": body, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def install(app: Quart, plumbing: Plumbing) -> None:
    """Quart's HTTP connections for `app` carry `plumbing`; its requests are `TuneRequest`s."""
    app.request_class = TuneRequest
    app.asgi_http_class = type(
        "TimedHttpConnection", (TimedHttpConnection,), {"plumbing": plumbing}
    )
