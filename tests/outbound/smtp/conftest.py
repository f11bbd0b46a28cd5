"""The `start_server` fixture: real aiosmtpd servers, stopped after each test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.support.servers import free_port
from tests.support.smtp import RecordingHandler, Server, StartServer


@pytest.fixture
def start_server() -> Iterator[StartServer]:
    """Start aiosmtpd servers in their own threads; all are stopped after the test."""
    servers: list[Server] = []

    def start(
        handler: RecordingHandler | None = None, port: int | None = None, **options: Any
    ) -> Server:
        handler = handler or RecordingHandler()
        port = port or free_port()
        controller = Controller(
            handler, hostname="127.0.0.1", port=port, server_hostname="relay.test", **options
        )
        controller.start()
        servers.append(Server(handler, port, controller))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()
