"""Per-request plumbing: request id, one log line, metrics, security headers, CORS.

Kept cheap because it runs on every request: metric children are looked up
once per route, the session cookie is only opened where pages use it, and
tracking hits log one line in `LOG_TRACKING_SAMPLE` by default.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import random
import re
import time
from typing import Any

import structlog
from quart import Quart, Request, Response, g, request
from quart.sessions import SecureCookieSession, SecureCookieSessionInterface

from webapp.core import metrics
from webapp.core.config import Config
from webapp.core.logs import TrackingLog, get_logger

log = get_logger("webapp.request")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'; object-src 'none'"
)


def client_ip(config: Config) -> str | None:
    """The client's address, taking X-Forwarded-For only from configured proxies."""
    return client_address(request.remote_addr, request.headers.get("X-Forwarded-For"), config)


def client_address(peer: str | None, forwarded: str | None, config: Config) -> str | None:
    """The client's address from the peer and X-Forwarded-For (trusted proxies only)."""
    if not config.trusted_proxies or peer is None or not _is_trusted(peer, config.trusted_proxies):
        return peer
    hops = [hop.strip() for hop in (forwarded or "").split(",") if hop.strip()]
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


_IDS = random.Random(os.urandom(32))
"""Request ids need to be unique, not secret: 128 bits from a generator seeded once per
process. `os.urandom` is a system call that lets other threads (the database's) take
the interpreter lock in the middle of every request."""


def request_id(incoming: str | None) -> str:
    """The client's X-Request-ID when it is sane, else a new one (32 hex digits)."""
    if incoming and REQUEST_ID.match(incoming):
        return incoming
    return f"{_IDS.getrandbits(128):032x}"


SECURITY_HEADERS = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("X-Frame-Options", "DENY"),
)
"""Sent on every answer unless the route set its own value."""

EXPOSED_HEADERS = "RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset, Retry-After, X-Request-ID"
"""Access-Control-Expose-Headers for allowed cross-origin callers."""

TRACKING_ROUTES = frozenset({"/t/o/<token>.gif", "/t/c/<token>"})
"""Routes whose per-hit log line follows LOG_TRACKING_HITS."""


class RequestLog:
    """The end of every request: its metrics and (for tracking hits, maybe) its log line."""

    def __init__(self, tracking: TrackingLog) -> None:
        self.tracking = tracking

    def finish(
        self, method: str, route: str, status: int, elapsed: float, key_id: int | None = None
    ) -> None:
        metrics.observe_request(method, route, status, elapsed)
        sampled = self.tracking.pick() if route in TRACKING_ROUTES else 1
        if not sampled:
            return
        fields: dict[str, Any] = {
            "method": method,
            "route": route,
            "status": status,
            "duration_ms": round(elapsed * 1000, 2),
            "key_id": key_id,
        }
        if sampled > 1:
            fields["sampled"] = sampled
        log.info("request", **fields)


SESSIONLESS = ("/api/", "/t/", "/static/", "/metrics", "/openapi.json")
"""Paths whose handlers never read the signed session cookie."""


class PageSessionInterface(SecureCookieSessionInterface):
    """Opens the session cookie only on paths where a page may use it."""

    async def open_session(self, app: Quart, request: Any) -> SecureCookieSession | None:
        if request.path.startswith(SESSIONLESS):
            return None  # Quart substitutes a null session, and never saves it
        return await super().open_session(app, request)


def install(app: Quart, config: Config) -> RequestLog:
    """Install the request hooks; return the request log the tracking layer shares."""
    cors_origins = set(config.cors_origins)
    request_log = RequestLog(TrackingLog(config.log_tracking_hits, config.log_tracking_sample))
    app.session_interface = PageSessionInterface()

    @app.before_request
    async def start_request() -> Any:
        state = g._get_current_object()
        req: Request = request._get_current_object()  # type: ignore[attr-defined]
        state.started = time.perf_counter()
        state.request_id = request_id(req.headers.get("X-Request-ID"))
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=state.request_id)
        if req.method == "OPTIONS" and req.headers.get("Access-Control-Request-Method"):
            response = Response("", status=204)
            origin = req.headers.get("Origin")
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
        state = g._get_current_object()
        req: Request = request._get_current_object()  # type: ignore[attr-defined]
        headers = response.headers
        headers["X-Request-ID"] = getattr(state, "request_id", "-")
        present = {name.lower() for name in headers.keys()}
        for name, value in SECURITY_HEADERS:
            if name.lower() not in present:
                headers.add(name, value)
        extra = getattr(state, "extra_headers", None)
        if extra:
            headers.update(extra)
        origin = req.headers.get("Origin")
        if origin and origin in cors_origins:
            headers["Access-Control-Allow-Origin"] = origin
            headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
            headers.add("Vary", "Origin")
        now = time.perf_counter()
        rule = req.url_rule  # the route template, never the raw path
        request_log.finish(
            req.method,
            rule.rule if rule is not None else "unmatched",
            response.status_code,
            now - getattr(state, "started", now),
            getattr(state, "api_key_id", None),
        )
        return response

    return request_log
