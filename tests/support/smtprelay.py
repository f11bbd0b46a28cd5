"""The sending tests' SMTP relay: aiosmtpd on a loopback port with tests/support/smtp.py's
recording handler, keeping every message it accepts, told to answer DATA with 451 a few
times (`fail_data`) or a recipient with 550 (`unknown`), and stopped and started again to
play an outage; the `relay` and `send_config` fixtures built on it (the root ones: every
test that takes `relay` gets this one), and queueing a campaign's emails through the API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from quart.typing import TestClientProtocol

from tests.support.servers import free_port
from tests.support.smtp import RecordingHandler
from webapp.core.config import Config

FROM = "Ana Rep <ana@sales.tune.test>"
"""The sender the relay sees on every email `send_config` sends."""


class SmtpServer:
    """aiosmtpd on a fixed free loopback port, stoppable and restartable."""

    def __init__(self) -> None:
        self.handler = RecordingHandler(unknown=set())
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
