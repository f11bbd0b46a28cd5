"""A real SMTP server for tests: aiosmtpd on a loopback port that records what it accepts.

It can answer 451 a few times, reject some recipients with 550, or be stopped
and started again to play an outage.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.support.servers import free_port


class RecordingHandler:
    """An aiosmtpd handler that keeps every accepted message and every RCPT it saw."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.received_at: list[datetime] = []
        """When each of `messages` was accepted (UTC)."""
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
        self.received_at.append(datetime.now(UTC))
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
