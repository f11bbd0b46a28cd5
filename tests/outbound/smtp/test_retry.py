"""In-process retries of one email against a real SMTP server that answers 451."""

from __future__ import annotations

import pytest

from tests.support.smtp import RecordingHandler, StartServer, message, relay_for
from webapp.outbound.smtp.outcomes import DeliveryOutcome
from webapp.outbound.smtp.retry import send_with_retries


@pytest.mark.parametrize("stage", ["rcpt", "data"])
async def test_451_twice_is_retried_and_delivered_exactly_once(
    start_server: StartServer, stage: str
) -> None:
    handler = RecordingHandler(
        fail_rcpt=2 if stage == "rcpt" else 0, fail_data=2 * (stage == "data")
    )
    server = start_server(handler)
    async with relay_for(server.url()) as relay:
        result = await send_with_retries(relay, message(), base_delay=0.01, max_delay=0.05)

    assert result.outcome is DeliveryOutcome.SENT
    assert result.attempts == 3
    assert len(handler.received) == 1
    assert len(handler.rcpts) == 3
    assert handler.data_commands == (3 if stage == "data" else 1)


async def test_451_every_time_gives_up_with_the_last_temporary_result(
    start_server: StartServer,
) -> None:
    server = start_server(RecordingHandler(fail_data=100))
    async with relay_for(server.url()) as relay:
        result = await send_with_retries(relay, message(), attempts=3, base_delay=0.01)
    assert result.outcome is DeliveryOutcome.TEMPORARY
    assert (result.code, result.detail) == (451, "4.3.0 try again")
    assert not result.relay_failure and not result.bounced
    assert result.attempts == 3 == server.handler.data_commands
    assert server.handler.received == []
