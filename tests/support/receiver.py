"""A real webhook receiver on loopback: it verifies every signature with the
`standardwebhooks` library (the published Standard Webhooks verifier) and can be
told to fail, to answer slowly, or to go down and come back on the same port."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.support.servers import free_port


@dataclass
class Received:
    message_id: str
    body: dict[str, Any]
    status: int
    """What the receiver answered (200 = accepted)."""
    at: float


@dataclass
class Receiver:
    secret: str = ""
    port: int = field(default_factory=free_port)
    fail_next: int = 0
    """Answer this many requests with 500 (the first with Retry-After: 0)."""
    slow_next: int = 0
    """Hold this many requests for `slow_seconds` before answering 200."""
    slow_seconds: float = 2.0
    received: list[Received] = field(default_factory=list)
    rejected: int = 0
    """Requests whose signature did not verify."""

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def accepted(self) -> list[Received]:
        with self._lock:
            return [item for item in self.received if item.status == 200]

    def _decide(self) -> tuple[int, float, bool]:
        with self._lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                return 500, 0.0, self.fail_next % 2 == 0
            if self.slow_next > 0:
                self.slow_next -= 1
                return 200, self.slow_seconds, False
            return 200, 0.0, False

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                try:
                    payload = Webhook(receiver.secret).verify(body, dict(self.headers.items()))
                except WebhookVerificationError:
                    with receiver._lock:
                        receiver.rejected += 1
                    self.send_response(400)
                    self.end_headers()
                    return
                status, delay, retry_after = receiver._decide()
                with receiver._lock:
                    receiver.received.append(
                        Received(self.headers["webhook-id"], payload, status, time.monotonic())
                    )
                time.sleep(delay)
                self.send_response(status)
                if retry_after:
                    self.send_header("Retry-After", "0")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Go down: the port refuses connections until `start()`."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@contextmanager
def receiving() -> Iterator[Receiver]:
    """A started receiver; set `secret` before anything is sent to it."""
    receiver = Receiver()
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()
