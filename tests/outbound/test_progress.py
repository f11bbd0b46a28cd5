"""Send progress in words: the relay's state from the sender's breaker and from the queue,
and the finish time from SEND_RATE."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from tests.support.dashboard import seed
from webapp.core.models import Campaign, Content
from webapp.outbound.progress import explain, per_second, relay_state
from webapp.outbound.sending.queue import queue_campaign
from webapp.outbound.smtp.breaker import CircuitBreaker
from webapp.outbound.smtp.outcomes import DeliveryOutcome, DeliveryResult
from webapp.web.services import Services

REFUSED = DeliveryResult(DeliveryOutcome.TEMPORARY, 421, "try later", relay_failure=True)
NOW = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)


@dataclass
class SenderWithBreaker:
    """What `relay_state` reads of a running sender: its breaker."""

    breaker: CircuitBreaker


def _state(sender: object, **overrides: object) -> str:
    values: dict[str, object] = {
        "sender": sender,
        "smtp_configured": True,
        "paused": False,
        "pending_count": 10,
        "retries": (0, None, None),
        "now": NOW,
    }
    values.update(overrides)
    return relay_state(**values).words  # type: ignore[arg-type]


def test_the_breaker_in_plain_words() -> None:
    clock = [1000.0]
    breaker = CircuitBreaker(5, 300.0, clock=lambda: clock[0])
    sender = SenderWithBreaker(breaker)
    assert _state(sender) == "Sending normally."
    for _ in range(5):
        breaker.record(REFUSED)
    clock[0] += 60
    assert _state(sender) == (
        "Paused: the mail server refused 5 times in a row, retrying at 14:04 UTC."
    )
    clock[0] += 240
    assert _state(sender) == (
        "Checking the mail server with one email after it refused 5 times in a row."
    )
    idle = SenderWithBreaker(CircuitBreaker())
    assert _state(idle, pending_count=0) == "Nothing waiting to be sent."
    assert "Paused by a rep" in _state(sender, paused=True)
    assert "No mail server is configured" in _state(None, smtp_configured=False)
    assert "background worker" in _state(None)


def test_send_rate_as_emails_per_second() -> None:
    assert per_second("60/minute") == 1.0
    assert per_second("7200/hour") == 2.0


async def test_progress_reads_retries_from_the_queue_and_estimates_the_finish(
    tune: Services,
) -> None:
    ids = await seed(tune)
    async with tune.db.write() as session:
        await queue_campaign(session, ids["campaign"], 1)
        first = await session.scalar(
            select(Content).where(Content.send_status == "queued").order_by(Content.id)
        )
        assert first is not None
        first.last_error = "421 4.3.0 try again later"
        first.next_attempt_at = NOW + timedelta(minutes=5)
    async with tune.db.read() as session:
        campaign = await session.get(Campaign, ids["campaign"])
        assert campaign is not None
        explained = await explain(
            session, campaign, sender=None, smtp_configured=True, send_rate="60/minute", now=NOW
        )
    assert (explained.total, explained.sent, explained.pending) == (3, 0, 3)
    assert explained.relay.kind == "retrying"
    assert explained.relay.words == (
        "1 email will be tried again from 14:05 UTC "
        "(the mail server answered: 421 4.3.0 try again later)."
    )
    assert explained.finish_at == NOW + timedelta(seconds=3)
