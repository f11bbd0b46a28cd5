"""Both paths of an API request: the Quart route and the API layer in front of it
(`webapp/web/apilayer.py`), compared answer for answer.

A request the layer answers must get the Quart route's status, body bytes and
headers (less the per-request rate-limit values and date); one it leaves to
Quart must reach the app behind the layer untouched; and either way a request counts
once against its key's rate limit.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from quart import Quart

from tests.support.asgiclient import AsgiClient, AsgiResponse
from tests.support.factories import make_campaign
from webapp.accounts.apikeys import create_key
from webapp.core.config import Config
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


async def limited_at_the_sixth(config: Config, path: str) -> list[AsgiResponse]:
    """Six GETs of `path` with one new key through the ASGI entry point of an app that
    allows a key five requests a minute (`{campaign}` in `path`: a campaign made for it);
    assert each was counted once: five answered, the sixth refused with its headers."""
    from webapp import create_app

    app = create_app(config.with_changes(rate_limit="5/minute"))
    async with app.test_app():
        services: Services = app.extensions["tune"]
        await keys_kept(services)
        async with services.db.write() as session:
            key = (await create_key(session, "a")).key
            if "{campaign}" in path:
                path = path.format(campaign=(await make_campaign(session)).id)
        asgi = AsgiClient(app)
        responses = [await asgi.get(path, headers={"X-API-Key": key}) for _ in range(6)]
    assert [r.status_code for r in responses] == [200] * 5 + [429]
    assert [r.headers["RateLimit-Remaining"] for r in responses] == list("432100")
    assert all(r.headers["RateLimit-Limit"] == "5" for r in responses)
    assert int(responses[-1].headers["Retry-After"]) > 0
    return responses
