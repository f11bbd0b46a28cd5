"""The per-request plumbing (`webapp/web/hooks.py`), done in Quart's HTTP connection.

Every answer Quart gives, a route's, an error handler's or a 500, carries the
request id and the security headers the route did not set, its rate-limit and
CORS headers, and is counted and logged once under its route template. Each
test runs through Quart's test client and through the ASGI entry point a
server calls.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from prometheus_client import REGISTRY
from quart import Quart, Response

from tests.support.asgiclient import AsgiClient
from webapp import create_app
from webapp.core.config import Config
from webapp.web.hooks import CSP, current

ORIGIN = "https://crm.example"


@pytest.fixture(params=["quart", "asgi"])
def caller(request: pytest.FixtureRequest) -> Any:
    return request.param


def client_of(app: Quart, kind: str) -> Any:
    return app.test_client() if kind == "quart" else AsgiClient(app)


def plumbed_app(config: Config) -> Quart:
    """The real app (with a CORS origin) plus routes that fail or set their own headers."""
    application = create_app(config.with_changes(cors_origins=(ORIGIN,)))

    @application.get("/api/test-failure/<int:number>")
    async def api_failure(number: int) -> Any:
        raise RuntimeError("kaboom in the API")

    @application.get("/test-own-headers")
    async def own_headers() -> Response:
        current().extra_headers = {"X-Frame-Options": "SAMEORIGIN", "RateLimit-Limit": "7"}
        return Response(
            "mine",
            headers={
                "Content-Security-Policy": "default-src 'none'",
                "RateLimit-Limit": "1",
                "X-Request-ID": "the route's",
            },
        )

    return application


def request_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "webapp.request"]


def counted(route: str, status: int) -> float:
    labels = {"method": "GET", "route": route, "status": str(status)}
    return REGISTRY.get_sample_value("tune_http_requests_total", labels) or 0.0


async def test_a_500_carries_the_request_id_and_security_headers_and_is_logged_under_its_route(
    config: Config, caller: str, caplog: pytest.LogCaptureFixture
) -> None:
    application = plumbed_app(config)
    route = "/api/test-failure/<int:number>"
    async with application.test_app():
        before = counted(route, 500)
        caplog.set_level(logging.INFO)
        response = await client_of(application, caller).get(
            "/api/test-failure/7", headers={"X-Request-ID": "req-500", "Origin": ORIGIN}
        )
    assert response.status_code == 500
    assert response.headers["X-Request-ID"] == "req-500"
    assert "req-500" in (await response.get_json())["error"]["message"]
    assert response.headers["Content-Security-Policy"] == CSP
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert counted(route, 500) == before + 1
    [line] = request_lines(caplog)
    assert route in line and "500" in line and "req-500" in line


async def test_an_error_page_carries_the_security_headers_and_is_logged_as_unmatched(
    config: Config, caller: str, caplog: pytest.LogCaptureFixture
) -> None:
    application = plumbed_app(config)
    async with application.test_app():
        before = counted("unmatched", 404)
        caplog.set_level(logging.INFO)
        response = await client_of(application, caller).get(
            "/no/such/page", headers={"Accept": "text/html"}
        )
    assert response.status_code == 404
    assert "<html" in (await response.get_data(as_text=True)).lower()
    assert len(response.headers["X-Request-ID"]) == 32
    assert response.headers["Content-Security-Policy"] == CSP
    assert response.headers.getlist("X-Frame-Options") == ["DENY"]
    assert counted("unmatched", 404) == before + 1
    [line] = request_lines(caplog)
    assert "unmatched" in line and "404" in line


async def test_the_routes_headers_win_over_the_defaults_and_its_extra_headers_over_both(
    config: Config, caller: str
) -> None:
    application = plumbed_app(config)
    async with application.test_app():
        response = await client_of(application, caller).get(
            "/test-own-headers", headers={"X-Request-ID": "mine-1"}
        )
    assert response.status_code == 200
    assert response.headers.getlist("Content-Security-Policy") == ["default-src 'none'"]
    assert response.headers.getlist("X-Frame-Options") == ["SAMEORIGIN"]
    assert response.headers.getlist("RateLimit-Limit") == ["7"]
    assert response.headers.getlist("X-Request-ID") == ["mine-1"]
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


async def test_an_api_route_through_quart_sends_its_rate_limit_and_logs_its_key(
    app: Quart, auth: dict[str, str], caller: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    # A query string leaves the list to Quart (the API layer answers only the bare path).
    response = await client_of(app, caller).get("/api/campaigns?limit=5", headers=auth)
    assert response.status_code == 200
    assert response.headers["RateLimit-Limit"] == "100"
    assert int(response.headers["RateLimit-Remaining"]) < 100
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    [line] = request_lines(caplog)
    assert "'route': '/api/campaigns'" in line
    assert "'key_id': 1" in line


@pytest.mark.parametrize("path", ["/api/campaigns", "/login"])
async def test_a_cors_preflight_is_answered_before_any_hook_and_finished_like_any_answer(
    config: Config, caller: str, path: str
) -> None:
    application = plumbed_app(config)
    async with application.test_app():
        response = await client_of(application, caller).open(
            path,
            method="OPTIONS",
            headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
        )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert response.headers["Access-Control-Max-Age"] == "600"
    assert "X-API-Key" in response.headers["Access-Control-Allow-Headers"]
    assert "X-Request-ID" in response.headers["Access-Control-Expose-Headers"]
    assert response.headers["X-Frame-Options"] == "DENY"
    # The page's after-request hook still runs on a preflight to a page (never cached).
    page = path == "/login"
    assert (response.headers.get("Cache-Control") == "no-store") is page


async def test_a_request_id_is_kept_only_when_sane(app: Quart, caller: str) -> None:
    client = client_of(app, caller)
    kept = await client.get("/api/health", headers={"X-Request-ID": "abc.DEF_1-2"})
    replaced = await client.get("/api/health", headers={"X-Request-ID": "no spaces; please"})
    assert kept.headers["X-Request-ID"] == "abc.DEF_1-2"
    fresh = replaced.headers["X-Request-ID"]
    assert len(fresh) == 32 and int(fresh, 16) >= 0
