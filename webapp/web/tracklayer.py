"""The tracking fast path: pixel and link hits answered in front of Quart.

Tracking hits are most of Tune's traffic and need none of Quart's request
machinery, so this small ASGI layer answers `GET`/`HEAD /t/o/<token>.gif` and
`/t/c/<token>` itself: it reads the path, verifies the token, hands the event
to the same writer (and awaits its commit, as the Quart routes do), and
answers the GIF or the 302 with the same headers, metrics and log line
(`webapp.web.hooks`). Everything else goes to the Quart app unchanged,
including a click whose token or link is bad: the Quart route renders the
same 404 page as always.

A link clicked again (a reader's second click, a scanner's retry, a forwarded
email) is answered from the answers kept for its token (`KeptTokens`): once
verified and its link read, the token maps to the event's ids and the whole
302, so a repeat click skips the token's HMAC, the link cache and writing the
redirect page. A pixel fetched again (the reader reopens the email, a proxy
refetches) likewise skips its token's HMAC. When the writer finds a clicked
link's email gone (a discarded draft's previewed link: its ids are never
reused), the answer and the cached link are forgotten and the Quart route
answers its 404 page; each worker learns it from its own next click.

The Quart routes in `webapp/web/track.py` stay the reference: the tests run
both paths against the same expectations.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import structlog
from markupsafe import escape
from quart import Quart

from webapp.core.config import Config
from webapp.core.logs import get_logger
from webapp.tracking.events import ClickEvent, OpenEvent, Outcome
from webapp.tracking.hits import make_hit
from webapp.web.hooks import (
    SECURITY_HEADERS,
    RequestLog,
    client_address,
    encoded_cors,
    request_id,
)
from webapp.web.services import Services
from webapp.web.serving import PIXEL, PIXEL_HEADERS
from webapp.web.track import CLICK_HEADERS, forget_link, link_target

ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]

log = get_logger("webapp.web.track")

PIXEL_ROUTE = "/t/o/<token>.gif"
CLICK_ROUTE = "/t/c/<token>"
"""The Quart routes' templates: the fast path counts its hits under the same labels."""


def _encoded(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    """`headers` and then every security header the route did not set, for ASGI."""
    merged = dict(headers)
    for name, value in SECURITY_HEADERS:
        merged.setdefault(name, value)
    return [(name.lower().encode(), value.encode()) for name, value in merged.items()]


_PIXEL_START = [
    (b"content-length", str(len(PIXEL)).encode()),
    *_encoded(PIXEL_HEADERS),
]

_REDIRECT_PAGE = (
    "<!doctype html>\n"
    "<html lang=en>\n"
    "<title>Redirecting...</title>\n"
    "<h1>Redirecting...</h1>\n"
    "<p>You should be redirected automatically to the target URL: "
    '<a href="{0}">{0}</a>. If not, click the link.\n'
)
"""Werkzeug's redirect page (`werkzeug.utils.redirect`), which the Quart route answers."""
_REDIRECT_TAIL = tuple(_encoded(CLICK_HEADERS))
"""The click's own headers and the security headers, after Location."""


def redirect_answer(url: str) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """Body and headers of the Quart route's 302 to `url` (werkzeug's `redirect` and
    `CLICK_HEADERS`), byte for byte, without a Response object: 2.5 µs against 18 for
    werkzeug's. Written once per link clicked; the layer keeps it for the next clicks."""
    if "\r" in url or "\n" in url:  # what werkzeug raises for such a Location
        raise ValueError("Header values must not contain newline characters.")
    body = _REDIRECT_PAGE.format(escape(url)).encode()
    return body, [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"location", url.encode()),
        *_REDIRECT_TAIL,
    ]


ClickAnswer = tuple[int, int, bytes, tuple[tuple[bytes, bytes], ...]]
"""A verified click token's content id, link id, and 302 body and headers (before the
request id and CORS headers, which differ per request)."""

V = TypeVar("V")


class KeptTokens(Generic[V]):
    """Bounded map of verified token → what it names, for one app start.

    A token that verified once names the same ids for as long as the signer is the same,
    so what was read from it can be kept and the next hit skips its HMAC. Only a token
    that verified is ever put, so a forged or altered one is never answered from here.
    The oldest written goes first; only ints and tuples of ints and bytes are kept, which
    the garbage collector stops tracking.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.owner: object = None
        """The services the tokens were read with: others (a new app start) forget them."""
        self._items: OrderedDict[str, V] = OrderedDict()
        """Ordered so the oldest goes in O(1): taking the first key of a plain dict
        steps over every slot its earlier deletions left, up to the table's size."""

    def get(self, owner: object, token: str) -> V | None:
        if owner is not self.owner:
            self._items.clear()
            self.owner = owner
            return None
        return self._items.get(token)

    def put(self, owner: object, token: str, value: V) -> None:
        if owner is not self.owner:  # the app started again while the token was read
            return
        items = self._items
        if len(items) >= self.size:
            items.popitem(last=False)
        items[token] = value

    def discard(self, token: str) -> None:
        self._items.pop(token, None)


CLICK_ANSWERS = 20_000
"""Click tokens whose whole 302 is kept: an entry is 0.8-1 KB (the redirect page repeats
the URL), so up to about 20 MB when full."""
PIXEL_TOKENS = 50_000
"""Pixel tokens kept with their content id: about 200 bytes an entry (the token's string,
the id, the map's slot; `tracemalloc`), so up to about 10 MB when full."""


class TrackingLayer:
    """ASGI app in front of Quart's: answers pixels and clicks on known links, passes the rest."""

    def __init__(self, app: Quart, inner: ASGIApp, request_log: RequestLog, config: Config):
        self.app = app
        self.inner = inner
        self.request_log = request_log
        self.config = config
        self.cors_origins = frozenset(config.cors_origins)
        self.answers = KeptTokens[ClickAnswer](CLICK_ANSWERS)
        self.pixels = KeptTokens[int](PIXEL_TOKENS)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            path: str = scope["path"]
            if path.startswith("/t/o/") and path.endswith(".gif"):
                token = path[5:-4]
                if token and "/" not in token:
                    tune = self.app.extensions.get("tune")
                    if tune is not None:
                        await self._pixel(tune, token, scope, send)
                        return
            elif path.startswith("/t/c/"):
                token = path[5:]
                if token and "/" not in token:
                    tune = self.app.extensions.get("tune")
                    if tune is not None and await self._click(tune, token, scope, send):
                        return
        await self.inner(scope, receive, send)

    async def _pixel(self, tune: Services, token: str, scope: dict[str, Any], send: Any) -> None:
        """Record an open (unless the token is bad) and always answer the GIF."""
        started = time.perf_counter()
        headers = _Headers(scope)
        rid = self._start(headers)
        content_id = self.pixels.get(tune, token)
        if content_id is None:
            content_id = tune.signer.read_open(token)
            if content_id is not None:
                self.pixels.put(tune, token, content_id)
        if content_id is not None:
            try:
                await tune.writer.record(
                    OpenEvent(content_id, source="pixel", hit=self._hit(tune, scope, headers))
                )
            except Exception as exc:  # never break the email: log and serve the GIF
                log.warning("pixel_not_recorded", error=type(exc).__name__)
        start = [*_PIXEL_START, (b"x-request-id", rid.encode()), *self._cors(headers)]
        await send({"type": "http.response.start", "status": 200, "headers": start})
        await send({"type": "http.response.body", "body": PIXEL})
        self.request_log.finish(scope["method"], PIXEL_ROUTE, 200, time.perf_counter() - started)

    async def _click(self, tune: Services, token: str, scope: dict[str, Any], send: Any) -> bool:
        """Redirect and record a click of a known link; False leaves the hit to Quart."""
        known = self.answers.get(tune, token)
        if known is None:
            parsed = tune.signer.read_click(token)
            if parsed is None:
                return False
            target = await link_target(tune, parsed)
            if target is None or not target.url.lower().startswith(("http://", "https://")):
                return False
            try:
                body, answer = redirect_answer(target.url)
            except ValueError:  # a Location werkzeug refuses: the Quart route answers
                return False
            known = (parsed[0], target.link_id, body, tuple(answer))
            self.answers.put(tune, token, known)
        content_id, link_id, body, answer_headers = known
        started = time.perf_counter()
        headers = _Headers(scope)
        rid = self._start(headers)
        try:
            outcome = await tune.writer.record(
                ClickEvent(
                    content_id, source="link", link_id=link_id, hit=self._hit(tune, scope, headers)
                )
            )
        except Exception as exc:  # the reader still gets where they were going
            log.warning("click_not_recorded", error=type(exc).__name__)
        else:
            if outcome is Outcome.UNKNOWN_TARGET:  # its email is gone (a discarded draft)
                self.answers.discard(token)
                parsed = tune.signer.read_click(token)
                if parsed is not None:
                    forget_link(tune, parsed)
                return False  # the Quart route answers its 404 page
        start = [*answer_headers, (b"x-request-id", rid.encode()), *self._cors(headers)]
        await send({"type": "http.response.start", "status": 302, "headers": start})
        await send({"type": "http.response.body", "body": body})
        self.request_log.finish(scope["method"], CLICK_ROUTE, 302, time.perf_counter() - started)
        return True

    def _start(self, headers: _Headers) -> str:
        """The request id, bound to this request's log lines."""
        rid = request_id(headers.get(b"x-request-id"))
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=rid)
        return rid

    def _hit(self, tune: Services, scope: dict[str, Any], headers: _Headers) -> Any:
        client = scope.get("client")
        peer = client[0] if client else None
        forwarded = headers.get(b"x-forwarded-for") if self.config.trusted_proxies else None
        return make_hit(
            user_agent=headers.get(b"user-agent"),
            ip=client_address(peer, forwarded, self.config),
            method=scope["method"],
            salt=tune.ip_salt,
        )

    def _cors(self, headers: _Headers) -> list[tuple[bytes, bytes]]:
        origin = headers.get(b"origin")
        if not origin or origin not in self.cors_origins:
            return []
        return encoded_cors(origin)


class _Headers:
    """The few request headers the fast path reads, decoded on demand."""

    __slots__ = ("_raw",)

    def __init__(self, scope: dict[str, Any]) -> None:
        self._raw: list[tuple[bytes, bytes]] = scope["headers"]

    def get(self, name: bytes) -> str | None:
        for key, value in self._raw:
            if key == name:
                return value.decode(errors="replace")
        return None


def install(app: Quart, request_log: RequestLog, config: Config) -> None:
    """Put the fast path in front of the app's ASGI entry point."""
    app.asgi_app = TrackingLayer(app, app.asgi_app, request_log, config)  # type: ignore[method-assign,assignment]
