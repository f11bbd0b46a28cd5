"""Per-request plumbing: request id, one log line, metrics, security headers, CORS."""

from __future__ import annotations

import functools
import ipaddress
import re
import time
import uuid
from typing import Any

import structlog
from quart import Quart, Response, g, request

from webapp.core import metrics
from webapp.core.config import Config
from webapp.core.logs import get_logger

log = get_logger("webapp.request")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'; object-src 'none'"
)


def client_ip(config: Config) -> str | None:
    """The client's address, taking X-Forwarded-For only from configured proxies."""
    peer = request.remote_addr
    if not config.trusted_proxies or peer is None or not _is_trusted(peer, config.trusted_proxies):
        return peer
    forwarded = request.headers.get("X-Forwarded-For", "")
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    # Walk from the nearest hop; the first untrusted address is the client.
    for hop in reversed(hops):
        if not _is_trusted(hop, config.trusted_proxies):
            return hop
    return hops[0] if hops else peer


def _is_trusted(address: str, proxies: tuple[str, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in _networks(proxies))


@functools.cache
def _networks(
    proxies: tuple[str, ...],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """TRUSTED_PROXIES parsed once, not on every tracking hit."""
    return tuple(ipaddress.ip_network(proxy, strict=False) for proxy in proxies)


def route_label() -> str:
    """The route template (`/api/campaigns/<int:campaign_id>`), never the raw path."""
    rule = request.url_rule
    return rule.rule if rule is not None else "unmatched"


def install(app: Quart, config: Config) -> None:
    cors_origins = set(config.cors_origins)

    @app.before_request
    async def start_request() -> Any:
        g.started = time.perf_counter()
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if REQUEST_ID.match(incoming) else uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=g.request_id)
        if request.method == "OPTIONS" and request.headers.get("Access-Control-Request-Method"):
            response = Response("", status=204)
            origin = request.headers.get("Origin")
            if origin in cors_origins:
                response.headers["Access-Control-Allow-Origin"] = origin
                response.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, PATCH, DELETE"
                response.headers["Access-Control-Allow-Headers"] = (
                    "X-API-Key, Authorization, Content-Type, X-Request-ID"
                )
                response.headers["Access-Control-Max-Age"] = "600"
                response.headers["Vary"] = "Origin"
            return response
        return None

    @app.after_request
    async def finish_request(response: Response) -> Response:
        headers = response.headers
        headers["X-Request-ID"] = getattr(g, "request_id", "-")
        headers.setdefault("Content-Security-Policy", CSP)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        headers.setdefault("X-Frame-Options", "DENY")
        for name, value in getattr(g, "extra_headers", {}).items():
            headers[name] = value
        origin = request.headers.get("Origin")
        if origin and origin in cors_origins:
            headers["Access-Control-Allow-Origin"] = origin
            headers["Access-Control-Expose-Headers"] = (
                "RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Retry-After, X-Request-ID"
            )
            headers.add("Vary", "Origin")
        route = route_label()
        elapsed = time.perf_counter() - getattr(g, "started", time.perf_counter())
        metrics.HTTP_REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        metrics.HTTP_DURATION.labels(request.method, route).observe(elapsed)
        log.info(
            "request",
            method=request.method,
            route=route,
            status=response.status_code,
            duration_ms=round(elapsed * 1000, 2),
            key_id=getattr(g, "api_key_id", None),
        )
        return response
