"""`GET /api/health` answered by the API layer in front of Quart (`webapp/web/apilayer.py`).

Its answer must be the Quart route's with the connection's plumbing: the same
status, body bytes and headers in the same order (the request id, the security
headers, CORS for an allowed origin only), one log line under the route with
the request id, and the same metric. With a query string, or as HEAD, it is
left to Quart.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from quart import Quart

from tests.support.apipaths import RID, alike, through_layer
from tests.support.asgiclient import AsgiClient
from tests.support.requestlog import logged_and_counted

ORIGIN = "https://crm.example"


async def test_health_is_answered_in_front_of_quart_with_the_quart_routes_bytes(
    app: Quart,
) -> None:
    status, body, headers = await alike(app, "/api/health", {})
    assert status == 200 and body == b'{"status":"ok"}\n'
    assert list(headers) == [
        "content-type",
        "content-length",
        "x-request-id",
        "content-security-policy",
        "x-content-type-options",
        "referrer-policy",
        "x-frame-options",
    ]
    assert headers["content-type"] == "application/json"
    assert headers["x-request-id"] == RID["X-Request-ID"]


@pytest.mark.parametrize("origin", [ORIGIN, "https://evil.example"])
async def test_health_sends_cors_headers_to_allowed_origins_only_on_both_paths(
    config: Any, origin: str
) -> None:
    from webapp import create_app

    application = create_app(config.with_changes(cors_origins=(ORIGIN,)))
    async with application.test_app():
        _, _, headers = await alike(application, "/api/health", {"Origin": origin})
    allowed = origin == ORIGIN
    assert headers.get("access-control-allow-origin") == (origin if allowed else None)
    assert ("vary" in headers) is allowed
    assert ("x-request-id" in headers.get("access-control-expose-headers", "").lower()) is allowed


@pytest.mark.parametrize("caller", ["quart", "asgi"])
async def test_health_logs_one_line_and_counts_one_request_on_either_path(
    app: Quart, caller: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = app.test_client() if caller == "quart" else AsgiClient(app)
    line = await logged_and_counted(client, "/api/health", {}, "/api/health", caplog)
    assert "'key_id': None" in line or '"key_id": null' in line


@pytest.mark.parametrize(("method", "path"), [("GET", "/api/health?x=1"), ("HEAD", "/api/health")])
async def test_health_with_a_query_or_as_head_is_left_to_quart(
    app: Quart, method: str, path: str
) -> None:
    response, fell = await through_layer(app, method, path, RID)
    assert fell == ["/api/health"]
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == RID["X-Request-ID"]
    if method == "GET":
        assert json.loads(await response.get_data()) == {"status": "ok"}
