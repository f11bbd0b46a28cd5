"""The API's hot routes answered in front of Quart: the reads API clients poll, tracked events.

API clients poll a few reads (`webapp/web/apireads.py`: a campaign, its stats,
emails and flag reasons, an email, the industries, the first pages of campaigns
and of a tier's prospects, a prospect; plain-SQL reads) and report opens, clicks and replies
with `POST /api/tracking/<kind>` far more often than they call anything else,
and Quart's request machinery (contexts, routing, hooks, quart-schema's
wrappers) costs more than those routes' own work. This ASGI layer answers them
when the request is the ordinary case: a key this process verified recently
(`KeyCache`: on SQLite, or on PostgreSQL while the process's revocation listener
is live) whose `last_used_at` needs no write, the in-memory rate limit, ids in
digits (a tier as 1, 2 or 3), no query string for a read, and for the POST its
two ids in the query string and no body. It then does what the Quart
route does with the same services: counts the hit against the key's limit,
reads (the table's read function) or hands the event to the writer and awaits
its commit, and answers the same bytes, headers, metrics and log line
(`tests/web/api/test_apilayer.py` and `test_apireads*.py` run both paths against
the same expectations).

`GET /api/health` (liveness: it touches no database and needs no key) is
answered here too when it has no query string: the route's body with the
headers, metric and log line the connection's plumbing gives it in Quart
(`webapp/web/hooks.py`), at a fraction of the cost of Quart's request
machinery. Pages and every other Quart route keep that machinery.

Anything else goes to the Quart routes untouched, before anything is counted:
an unknown, revoked or stale key, a limit over Redis, a refused hit (the
memory window keeps no trace of it, so Quart counts it once and answers 429),
a JSON body, odd parameters, CORS preflights. The Quart routes stay the
reference and the only source of `/openapi.json`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from pydantic import BaseModel, ValidationError
from quart import Quart

from webapp.accounts import apikeys
from webapp.core.errors import NotFound, ServiceUnavailable, TuneError
from webapp.core.models import utcnow
from webapp.tracking import events
from webapp.web.api import plain_json
from webapp.web.api.tracking import TRACKING_KINDS, Tracked, TrackedEvent
from webapp.web.apireads import ReadTable, Route, body
from webapp.web.hooks import ENCODED_SECURITY_HEADERS, RequestLog, encoded_cors, request_id
from webapp.web.ops import HEALTHY
from webapp.web.services import Services

ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]

TRACKING_PREFIX = "/api/tracking/"

_JSON = (b"content-type", b"application/json")
TRACKED = plain_json(Tracked(status="tracked"))
HEALTH_PATH = "/api/health"
_HEALTH_LENGTH = (b"content-length", str(len(HEALTHY)).encode())
_HEALTH_BODY = {"type": "http.response.body", "body": HEALTHY}


class ApiLayer:
    """ASGI app in front of Quart's: answers the ordinary reads (`apireads.READS`) and
    tracked events."""

    def __init__(self, app: Quart, inner: ASGIApp, request_log: RequestLog) -> None:
        self.app = app
        self.inner = inner
        self.request_log = request_log
        self.reads = ReadTable(app)
        """The reads answered here, each under its Quart route's rule (log line, metrics)."""
        rules = {rule.endpoint: rule.rule for rule in app.url_map.iter_rules()}
        self.tracking_route = rules["api.track"]
        self.health_route = rules["ops.health"]
        self.cors_origins = frozenset(app.config["TUNE"].cors_origins)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path.startswith("/api/"):
                method = scope["method"]
                if method == "GET":
                    if path == HEALTH_PATH and not scope["query_string"]:
                        await self._health(scope, send)
                        return
                    found = self.reads.match(method, path)
                    if found is not None and not scope["query_string"]:
                        if await self._read(*found, scope, send):
                            return
                elif method == "POST" and path.startswith(TRACKING_PREFIX):
                    kind = TRACKING_KINDS.get(path[len(TRACKING_PREFIX) :])
                    if kind is not None and await self._track(kind, scope, send):
                        return
        await self.inner(scope, receive, send)

    async def _health(self, scope: dict[str, Any], send: Any) -> None:
        """Liveness, as the Quart route and the connection's plumbing answer it."""
        started = time.perf_counter()
        headers = _Headers(scope["headers"])
        rid = request_id(headers.request_id)
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=rid)
        raw = [_JSON, _HEALTH_LENGTH, (b"x-request-id", rid.encode()), *ENCODED_SECURITY_HEADERS]
        origin = headers.origin
        if origin and origin in self.cors_origins:
            raw += encoded_cors(origin)
        await send({"type": "http.response.start", "status": 200, "headers": raw})
        await send(_HEALTH_BODY)
        self.request_log.finish("GET", self.health_route, 200, time.perf_counter() - started)

    def _key(self, scope: dict[str, Any]) -> _Admitted | None:
        """The request with a recently verified key, or None to leave it to Quart."""
        tune: Services | None = self.app.extensions.get("tune")
        if tune is None or tune.limiter.memory is None:
            return None
        headers = _Headers(scope["headers"])
        key = headers.api_key()
        if key is None or not key.startswith(apikeys.KEY_PREFIX) or len(key) > 200:
            return None
        match, _ = tune.key_cache.get(apikeys.digest(key))
        if match is None or apikeys.needs_touch(match, utcnow()):
            return None
        return _Admitted(tune, match, headers, time.perf_counter())

    async def _read(
        self, route: Route, ids: tuple[int, ...], scope: dict[str, Any], send: Any
    ) -> bool:
        admitted = self._key(scope)
        if admitted is None:
            return False
        answer: BaseModel | bytes | None = None
        missing: NotFound | None = None
        try:
            answer = await route.read(self.reads, admitted.tune, ids)
        except NotFound as exc:
            missing = exc  # answered below, once counted, as the Quart route would
        except Exception:
            return False  # not counted yet: Quart reads again and reports the failure
        if not admitted.count():
            return False
        rid = admitted.start()
        if answer is None:
            assert missing is not None
            await self._error(missing, admitted, rid, route.method, route.rule, send)
        else:
            content = body(self.app, answer)
            await self._answer(200, content, admitted, rid, route.method, route.rule, send)
        return True

    async def _track(
        self, kind: type[events.TrackedEvent], scope: dict[str, Any], send: Any
    ) -> bool:
        if _has_body(scope["headers"]):
            return False
        ids = _query_ids(scope["query_string"])
        if ids is None:
            return False
        admitted = self._key(scope)
        if admitted is None or not admitted.count():
            return False
        rid = admitted.start()
        event = kind(content_id=ids.content_id, contact_id=ids.contact_id, source="api")
        try:
            outcome = await admitted.tune.writer.record(event)
        except Exception:
            error: TuneError = ServiceUnavailable("the event could not be stored; retry")
            await self._error(error, admitted, rid, "POST", self.tracking_route, send)
            return True
        if outcome is events.Outcome.UNKNOWN_TARGET:
            error = NotFound(f"content {ids.content_id} of contact {ids.contact_id} does not exist")
            await self._error(error, admitted, rid, "POST", self.tracking_route, send)
            return True
        await self._answer(200, TRACKED, admitted, rid, "POST", self.tracking_route, send)
        return True

    async def _error(
        self,
        error: TuneError,
        admitted: _Admitted,
        rid: str,
        method: str,
        route: str,
        send: Any,
    ) -> None:
        """The API's JSON error shape, written by the app's JSON provider as Quart's is."""
        body = self.app.json.dumps(error.to_dict()).encode() + b"\n"
        extra = []
        if isinstance(error, ServiceUnavailable):
            extra.append((b"retry-after", str(error.retry_after).encode()))
        await self._answer(error.status, body, admitted, rid, method, route, send, extra)

    async def _answer(
        self,
        status: int,
        body: bytes,
        admitted: _Admitted,
        rid: str,
        method: str,
        route: str,
        send: Any,
        extra: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        headers = [
            _JSON,
            (b"content-length", str(len(body)).encode()),
            *(extra or ()),
            (b"x-request-id", rid.encode()),
            *ENCODED_SECURITY_HEADERS,
            *admitted.limit_headers(),
            *self._cors(admitted),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        self.request_log.finish(
            method, route, status, time.perf_counter() - admitted.started, admitted.match.id
        )

    def _cors(self, admitted: _Admitted) -> list[tuple[bytes, bytes]]:
        origin = admitted.headers.origin
        if not origin or origin not in admitted.tune.config.cors_origins:
            return []
        return encoded_cors(origin)


class _Admitted:
    """A request the layer answers: its services, key, headers and rate-limit state."""

    __slots__ = ("headers", "match", "remaining", "reset_time", "started", "tune")

    def __init__(
        self, tune: Services, match: apikeys.KeyMatch, headers: _Headers, started: float
    ) -> None:
        self.tune = tune
        self.match = match
        self.headers = headers
        self.started = started
        self.remaining = 0
        self.reset_time = 0.0

    def count(self) -> bool:
        """Count the hit against the key's limit; False (and nothing counted) when refused:
        Quart then counts it once and answers the 429."""
        memory = self.tune.limiter.memory
        assert memory is not None
        allowed, self.remaining, self.reset_time = memory.hit(f"key:{self.match.key_hash[:24]}")
        return allowed

    def start(self) -> str:
        """The request id, bound to this request's log lines."""
        rid = request_id(self.headers.request_id)
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=rid)
        return rid

    def limit_headers(self) -> list[tuple[bytes, bytes]]:
        """`RateLimit-*` as `Decision.headers` writes them for an allowed hit."""
        limit = self.tune.limiter.item.amount
        reset_after = max(0, math.ceil(self.reset_time - time.time()))
        return [
            (b"ratelimit-limit", str(limit).encode()),
            (b"ratelimit-remaining", str(max(0, self.remaining)).encode()),
            (b"ratelimit-reset", str(reset_after).encode()),
        ]


class _Headers:
    """The request headers the layer reads, picked out in one pass."""

    __slots__ = ("authorization", "origin", "request_id", "x_api_key")

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self.x_api_key: str | None = None
        self.authorization: str | None = None
        self.origin: str | None = None
        self.request_id: str | None = None
        for name, value in raw:  # the first of each, decoded as Quart does (latin-1)
            if name == b"x-api-key":
                if self.x_api_key is None:
                    self.x_api_key = value.decode("latin-1")
            elif name == b"authorization":
                if self.authorization is None:
                    self.authorization = value.decode("latin-1")
            elif name == b"origin":
                if self.origin is None:
                    self.origin = value.decode("latin-1")
            elif name == b"x-request-id" and self.request_id is None:
                self.request_id = value.decode("latin-1")

    def api_key(self) -> str | None:
        """As `webapp.web.api.keys.presented_key` reads it."""
        if self.x_api_key:
            return self.x_api_key.strip()
        scheme, _, credentials = (self.authorization or "").partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return credentials.strip()
        return None


def _has_body(raw: list[tuple[bytes, bytes]]) -> bool:
    for name, value in raw:
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0"):
            return True
    return False


def _query_ids(query: bytes) -> TrackedEvent | None:
    """`content_id` and `contact_id`, each once and nothing else, valid; else None."""
    values: dict[str, str] = {}
    for pair in query.split(b"&"):
        name, sep, value = pair.partition(b"=")
        if not sep or name not in (b"content_id", b"contact_id"):
            return None
        key = name.decode()
        if key in values:
            return None
        values[key] = value.decode("ascii", errors="replace")
    if len(values) != 2:
        return None
    try:
        return TrackedEvent.model_validate(values)
    except ValidationError:
        return None


def install(app: Quart, request_log: RequestLog) -> None:
    """Put the API's fast path in front of the app's ASGI entry point."""
    app.asgi_app = ApiLayer(app, app.asgi_app, request_log)  # type: ignore[method-assign,assignment]
