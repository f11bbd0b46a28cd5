"""The sending tests' SMTP relay: aiosmtpd on a loopback port, keeping every message it
accepts, told to answer DATA with 451 a few times or a recipient with 550, and stopped and
started again to play an outage; the `relay` and `send_config` fixtures built on it, and
queueing a campaign's emails through the API."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from quart.typing import TestClientProtocol

from tests.support.servers import free_port
from webapp.core.config import Config

FROM = "Ana Rep <ana@sales.tune.test>"
"""The sender the relay sees on every email `send_config` sends."""


class RecordingHandler:
    """An aiosmtpd handler that keeps every accepted message and every RCPT it saw."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.rcpts: list[str] = []
        self.data_commands = 0
        self.temporary_failures = 0
        """Answer DATA with 451 this many times before accepting."""
        self.rejected: set[str] = set()
        """Recipients refused with 550 at RCPT."""
        self._lock = threading.Lock()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        self.rcpts.append(address)
        if address in self.rejected:
            return "550 5.1.1 recipient unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            self.data_commands += 1
            if self.temporary_failures > 0:
                self.temporary_failures -= 1
                return "451 4.3.0 try again later"
        message = message_from_bytes(envelope.content, policy=email_policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 OK queued"

    def message_ids(self) -> list[str]:
        return [str(message["Message-ID"]) for message in self.messages]


class SmtpServer:
    """aiosmtpd on a fixed free loopback port, stoppable and restartable."""

    def __init__(self) -> None:
        self.handler = RecordingHandler()
        self.port = free_port()
        self.controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def relay() -> Iterator[SmtpServer]:
    """A running relay for one test, stopped afterwards."""
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def send_config(config: Config, relay: SmtpServer) -> Config:
    """The test's config, sending through `relay` as fast as it will take."""
    return config.with_changes(
        smtp_url=relay.url, smtp_from=FROM, send_rate="1000/second", send_concurrency=4
    )


async def queue(
    client: TestClientProtocol, auth: dict[str, Any], campaign_id: int, **q: Any
) -> Any:
    """Queue the campaign's emails through the API (`q`: its query, as `tier=1`); the answer."""
    response = await client.post(f"/api/campaigns/{campaign_id}/send", query_string=q, headers=auth)
    assert response.status_code == 202, await response.get_data(as_text=True)
    return await response.get_json()
