"""Both paths of an API request: the Quart route and the API layer in front of it
(`webapp/web/apilayer.py`), compared answer for answer.

A request the layer answers must get the Quart route's status, body bytes and
headers (less the per-request rate-limit values and date); one it leaves to
Quart must reach the app behind the layer untouched.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from quart import Quart

from tests.support.asgiclient import AsgiClient, AsgiResponse
from webapp.web.apilayer import ApiLayer
from webapp.web.services import Services

RID = {"X-Request-ID": "fixed-request-id"}
VARYING = {"ratelimit-remaining", "ratelimit-reset", "date"}

Answer = tuple[int, bytes, dict[str, str]]


def answer(response: Any, body: bytes) -> Answer:
    """(status, body, headers without the per-request values)."""
    headers = {
        name.lower(): value
        for name, value in response.headers.items()
        if name.lower() not in VARYING
    }
    return response.status_code, body, headers


async def keys_kept(tune: Services) -> None:
    """Wait until the process may keep verified keys (on PostgreSQL: its listener is live)."""
    if tune.key_cache.listener is not None:
        assert await tune.key_cache.listener.live()


async def both(app: Quart, method: str, path: str, headers: dict[str, str]) -> list[Answer]:
    """The Quart route's answer, then the ASGI entry point's (after a request that caches
    the key), each as `answer` gives it."""
    quart = app.test_client()
    asgi = AsgiClient(app)
    answers = []
    await keys_kept(app.extensions["tune"])
    for caller in (quart, asgi):
        await caller.get("/api/industries", headers=headers)  # verifies and caches the key
        response = await caller.open(path, method=method, headers={**headers, **RID})
        answers.append(answer(response, await response.get_data()))
    return answers


class FellThrough:
    """The app behind the layer when a test calls the layer itself: records what reached it."""

    def __init__(self, app: Quart) -> None:
        self.app = app
        self.paths: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.paths.append(scope["path"])
        await self.app(scope, receive, send)


async def through_layer(
    app: Quart, method: str, path: str, headers: dict[str, str]
) -> tuple[AsgiResponse, list[str]]:
    """Call a layer in front of the app, noting whether the request reached the app."""
    inner = FellThrough(app)
    serving: Any = app.asgi_app
    while not isinstance(serving, ApiLayer):
        serving = serving.inner
    layer = ApiLayer(app, inner, serving.request_log)
    client = AsgiClient(app)
    client.app = layer  # type: ignore[assignment]
    response = await client.open(path, method=method, headers=headers)
    return response, inner.paths


async def alike(
    app: Quart, path: str, auth: dict[str, str], *, method: str = "GET", in_front: bool = True
) -> Answer:
    """The Quart route's answer, the same through the ASGI entry point and through a layer
    alone, which answers it itself (`in_front`) or leaves it to Quart: that answer."""
    quart, asgi = await both(app, method, path, auth)
    assert quart == asgi
    response, fell = await through_layer(app, method, path, {**auth, **RID})
    assert fell == ([] if in_front else [unquote(path.partition("?")[0])])
    assert answer(response, await response.get_data()) == quart
    return quart
