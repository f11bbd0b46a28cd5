"""The HTTP protocol `tune run` serves with: uvicorn's httptools protocol plus two guards.

uvicorn has a keep-alive timeout but no deadline for reading request headers,
and its `limit_concurrency` counts open connections, not requests. Together
that let 2,000 clients sending one header line every 10 s (slowloris) hold
every slot while doing no work, and everyone else got 503. Here:

- a client has `HEADER_TIMEOUT` seconds from connecting (or, on a kept-alive
  connection, from the first byte of its next request) to finish its request
  line and headers; otherwise it gets 408 and the connection is closed;
- `--limit-concurrency` caps the requests being handled at once (what costs
  memory and database connections); a connection still sending its headers
  does not count, so idle and slow sockets cannot make healthy clients wait or
  fail.

uvicorn loads this class by its import path in every worker (`--http`), and
reads the timeout from the environment `tune run` passes on. Tune relies on
uvicorn's protocol internals here, so pyproject.toml bounds uvicorn to the
versions the tests cover (tests/web/test_serving.py).

`uvicorn_options()` is the rest of how `tune run` serves; the benchmark serves
its yardsticks (a bare Quart app and a raw ASGI app, bench/ceilings.py) with
the same options, so the comparison measures Tune's code and nothing else.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from uvicorn.protocols.http.flow_control import service_unavailable
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

PROTOCOL = "webapp.web.serving:GuardedHttpToolsProtocol"
"""What `tune run` passes as uvicorn's `http` setting."""
HEADER_TIMEOUT_ENV = "HEADER_TIMEOUT"
REQUEST_LIMIT_ENV = "TUNE_REQUEST_LIMIT"
DEFAULT_HEADER_TIMEOUT = 10.0

PIXEL = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)
"""A 1×1 transparent GIF (43 bytes): what every tracking pixel answers."""
PIXEL_HEADERS = {
    "Content-Type": "image/gif",
    "Cache-Control": "no-store, no-cache, must-revalidate, max-age=0",
    "Pragma": "no-cache",
    "Expires": "0",
    "X-Robots-Tag": "noindex, nofollow",
    "Referrer-Policy": "no-referrer",
}
"""The pixel's headers (the benchmark's yardsticks send the same)."""


def uvicorn_options() -> dict[str, Any]:
    """Keyword arguments for `uvicorn.run` besides the app, host, port and workers.

    The protocol reads its header deadline and request limit from the
    environment (HEADER_TIMEOUT_ENV, REQUEST_LIMIT_ENV), set by the caller.
    """
    return {
        "loop": "uvloop",
        "http": PROTOCOL,
        "proxy_headers": False,
        "server_header": False,
        "timeout_keep_alive": 5,
        "timeout_graceful_shutdown": 30,
        "log_config": None,
    }


TIMED_OUT = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: 15\r\n"
    b"connection: close\r\n\r\n"
    b"Request Timeout"
)


def _setting(name: str, default: float | None) -> float | None:
    value = os.environ.get(name, "").strip()
    return float(value) if value else default


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header deadline and a limit on requests, not sockets."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = _setting(HEADER_TIMEOUT_ENV, DEFAULT_HEADER_TIMEOUT)
        limit = _setting(REQUEST_LIMIT_ENV, None)
        self.request_limit = int(limit) if limit else None
        self.limit_concurrency = None  # uvicorn's own check would count sockets
        self._header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_deadline is None:
            self._arm()  # the next request on a kept-alive connection

    def on_headers_complete(self) -> None:
        self._disarm()
        if self.request_limit is not None and len(self.tasks) >= self.request_limit:
            # uvicorn takes the app for this request from self.app: answer this one 503.
            self.app = service_unavailable
            self.logger.warning("Exceeded the limit of requests handled at once.")
            try:
                super().on_headers_complete()
            finally:
                self.app = self.config.loaded_app
            return
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        if self.header_timeout:
            self._header_deadline = self.loop.call_later(self.header_timeout, self._headers_late)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_late(self) -> None:
        self._header_deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:
            # Nothing else is being written on this connection: say why it ends.
            self.transport.write(TIMED_OUT)
        self.transport.close()
