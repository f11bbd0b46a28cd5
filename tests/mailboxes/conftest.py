"""Real SMTP relays (aiosmtpd on loopback ports) standing in for several mailboxes' providers.

Each relay requires a login with its own password, so a test also sees that the
password sealed in the database is the one that reaches the relay.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from tests.support.servers import free_port
from tests.support.smtp import RecordingHandler


@dataclass
class Provider:
    """One mailbox's relay: where it listens, the login it takes, what it received."""

    name: str
    handler: RecordingHandler
    port: int
    password: str
    controller: Controller

    @property
    def smtp_url(self) -> str:
        """The URL a rep pastes in, password included (percent-encoded)."""
        from urllib.parse import quote

        secret = quote(self.password, safe="")
        return f"smtp://{self.name}:{secret}@127.0.0.1:{self.port}?starttls=off&timeout=5"

    @property
    def running(self) -> bool:
        return self.controller._thread is not None

    def restart(self) -> None:
        """Listen again on the same port after `controller.stop()` (the stopped
        controller's loop is closed, so a new one takes its place)."""
        self.controller = _controller(self.handler, self.port, self.password)
        self.controller.start()


def _authenticator(password: str) -> Any:
    def check(
        server: Any, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.password == password.encode()
        return AuthResult(success=ok, auth_data=data if ok else None, handled=False)

    return check


def _controller(handler: RecordingHandler, port: int, password: str) -> Controller:
    return Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        authenticator=_authenticator(password),
        auth_require_tls=False,
    )


@pytest.fixture
def providers() -> Iterator[dict[str, Provider]]:
    """Three relays, `alpha`, `beta` and `gamma`, each with its own password."""
    started: dict[str, Provider] = {}
    for name in ("alpha", "beta", "gamma"):
        handler = RecordingHandler(unknown=set())
        port = free_port()
        password = f"pw-{name}-Zx9/q@r:7"
        controller = _controller(handler, port, password)
        controller.start()
        started[name] = Provider(name, handler, port, password, controller)
    yield started
    for provider in started.values():
        if provider.running:
            provider.controller.stop()
