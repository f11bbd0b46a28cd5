"""Per-request plumbing: request id, one log line, metrics, security headers, CORS.

It runs on every request Quart answers, so it sits where it costs least: in
Quart's HTTP connection (`webapp/web/connection.py`), not in before/after-request
hooks editing werkzeug `Headers`. `Plumbing.begin` gives each request its id
(bound to its log lines) and a `RequestState`; once Quart has answered,
`Plumbing.finish` counts it and writes its log line under the route template;
`Plumbing.headers` appends the request id, the security defaults the route did
not set, the route's `extra_headers` (rate limits) and the CORS headers to the
raw header list that is sent. Routes reach their request's state through
`current()`. CORS preflights are still answered inside Quart (before any
before-request hook), so blueprints' after-request hooks and the session see
them as before.

Metric children are looked up once per route, the session cookie is only
opened where pages use it, and tracking hits log one line in
`LOG_TRACKING_SAMPLE` by default.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import random
import re
import time
from collections.abc import Iterable
from contextvars import ContextVar
from typing import Any

import structlog
from quart import Quart, Request, Response, request
from quart.ctx import RequestContext
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


class RequestState:
    """One request from its start to its answer: what the plumbing adds to the answer."""

    __slots__ = ("api_key_id", "extra_headers", "origin", "preflight", "request_id", "started")

    def __init__(self, started: float, rid: str, origin: str | None, preflight: bool) -> None:
        self.started = started
        self.request_id = rid
        self.origin = origin
        """The first `Origin` header, for CORS."""
        self.preflight = preflight
        """An OPTIONS request with `Access-Control-Request-Method`: a CORS preflight."""
        self.extra_headers: dict[str, str] | None = None
        """Set by the route (rate-limit headers): they replace the answer's own."""
        self.api_key_id: int | None = None
        """Set by the API's key check, for the log line."""


_CURRENT: ContextVar[RequestState | None] = ContextVar("tune_request", default=None)


def current() -> RequestState:
    """This request's state (a detached one outside a request Quart's connection runs)."""
    return _CURRENT.get() or RequestState(time.perf_counter(), "-", None, False)


ENCODED_SECURITY_HEADERS = tuple(
    (name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS
)
"""`SECURITY_HEADERS` as ASGI sends them (lower-case names, bytes)."""
_EXPOSED = EXPOSED_HEADERS.encode()


def encoded_cors(origin: str) -> list[tuple[bytes, bytes]]:
    """The CORS headers of an answer to an allowed `origin`, as ASGI sends them (the ASGI
    layers in front of Quart add these; `Plumbing` sets them on Quart's answers)."""
    return [
        (b"access-control-allow-origin", origin.encode()),
        (b"access-control-expose-headers", _EXPOSED),
        (b"vary", b"Origin"),
    ]


_PREFLIGHT = (
    ("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE"),
    ("Access-Control-Allow-Headers", "X-API-Key, Authorization, Content-Type, X-Request-ID"),
    ("Access-Control-Max-Age", "600"),
    ("Vary", "Origin"),
)


class Plumbing:
    """The start and end of every request Quart answers (see the module's docstring)."""

    def __init__(self, request_log: RequestLog, cors_origins: Iterable[str]) -> None:
        self.request_log = request_log
        self.cors_origins = frozenset(cors_origins)

    def begin(self, scope: dict[str, Any]) -> RequestState:
        """The request's id and state, bound to its log lines and to `current()`."""
        incoming = origin = None
        asked: bytes | None = None
        for name, value in scope["headers"]:  # the first of each, as Quart reads them
            if name == b"x-request-id":
                if incoming is None:
                    incoming = value.decode("latin-1")
            elif name == b"origin":
                if origin is None:
                    origin = value.decode("latin-1")
            elif name == b"access-control-request-method" and asked is None:
                asked = value
        preflight = scope["method"] == "OPTIONS" and bool(asked)
        state = RequestState(time.perf_counter(), request_id(incoming), origin, preflight)
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=state.request_id)
        _CURRENT.set(state)
        return state

    def preflight(self, state: RequestState) -> Response:
        """The answer to a CORS preflight (the headers only for an allowed origin)."""
        response = Response("", status=204)
        origin = state.origin
        if origin in self.cors_origins:
            assert origin is not None
            response.headers["Access-Control-Allow-Origin"] = origin
            for name, value in _PREFLIGHT:
                response.headers[name] = value
        return response

    def finish(self, state: RequestState, req: Request, status: int) -> None:
        """Count the answered request and write its log line, under its route template."""
        rule = req.url_rule  # the route template, never the raw path
        self.request_log.finish(
            req.method,
            rule.rule if rule is not None else "unmatched",
            status,
            time.perf_counter() - state.started,
            state.api_key_id,
        )

    def headers(
        self, raw: list[tuple[bytes, bytes]], state: RequestState
    ) -> list[tuple[bytes, bytes]]:
        """`raw` (the route's headers, encoded) with the request id, the security headers
        the route did not set, its extra headers and CORS, as werkzeug's `Headers.set`
        and `add` would have put them."""
        names = {name for name, _ in raw}
        _set(raw, names, b"x-request-id", state.request_id.encode())
        for name, value in ENCODED_SECURITY_HEADERS:
            if name not in names:
                raw.append((name, value))
                names.add(name)
        extra = state.extra_headers
        if extra:
            for key, text in extra.items():
                _set(raw, names, key.lower().encode(), text.encode())
        origin = state.origin
        if origin and origin in self.cors_origins:
            _set(raw, names, b"access-control-allow-origin", origin.encode())
            _set(raw, names, b"access-control-expose-headers", _EXPOSED)
            raw.append((b"vary", b"Origin"))
        return raw


def _set(raw: list[tuple[bytes, bytes]], names: set[bytes], name: bytes, value: bytes) -> None:
    """`Headers.set`: the first header of that name replaced in place, the others dropped;
    appended when there is none."""
    if name not in names:
        raw.append((name, value))
        names.add(name)
        return
    first = next(index for index, (key, _) in enumerate(raw) if key == name)
    raw[first] = (name, value)
    raw[first + 1 :] = [pair for pair in raw[first + 1 :] if pair[0] != name]


def install(app: Quart, config: Config) -> RequestLog:
    """Install the plumbing; return the request log the fast layers share."""
    from webapp.web import connection

    request_log = RequestLog(TrackingLog(config.log_tracking_hits, config.log_tracking_sample))
    app.session_interface = PageSessionInterface()
    plumbing = Plumbing(request_log, config.cors_origins)
    connection.install(app, plumbing)
    preprocess = app.preprocess_request

    async def preprocess_request(request_context: RequestContext | None = None) -> Any:
        """A CORS preflight is answered before any before-request hook, as the first
        hook used to answer it."""
        state = _CURRENT.get()
        if state is not None and state.preflight:
            return plumbing.preflight(state)
        return await preprocess(request_context)

    app.preprocess_request = preprocess_request  # type: ignore[method-assign]
    return request_log
