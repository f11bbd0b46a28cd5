"""One breaker per mailbox: one relay's failures hold only its mailbox; after the
cool-down exactly one trial goes, once its earlier sends are over."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from webapp.outbound.sending.breakers import Breakers
from webapp.outbound.smtp.breaker import BreakerState
from webapp.outbound.smtp.outcomes import DeliveryOutcome, DeliveryResult

REFUSED = DeliveryResult(DeliveryOutcome.TEMPORARY, None, "refused", relay_failure=True)
SENT = DeliveryResult(DeliveryOutcome.SENT, 250, "ok")
NOW = datetime(2026, 11, 30, 14, 0, tzinfo=UTC)


def test_a_failing_relay_holds_only_its_own_mailbox() -> None:
    clock = [100.0]
    breakers = Breakers(2, 60.0, recheck=2.0, clock=lambda: clock[0])
    for _ in range(2):
        breakers.record(7, "beta", REFUSED)
    assert breakers.held(7, NOW) == NOW + timedelta(seconds=60)
    assert breakers.held(8, NOW) is None and breakers.held(None, NOW) is None
    assert breakers.worst is BreakerState.OPEN
    [hold] = breakers.holds(NOW)
    assert (hold.mailbox, hold.state, hold.refused) == ("beta", BreakerState.OPEN, 2)
    assert hold.until == NOW + timedelta(seconds=60)

    clock[0] += 60  # half-open: one trial, and not while an earlier send is in flight
    breakers.started(7)
    assert breakers.held(7, NOW) == NOW + timedelta(seconds=2)
    breakers.finished(7)
    assert breakers.held(7, NOW) is None
    breakers.took(7)  # the trial
    assert breakers.held(7, NOW) == NOW + timedelta(seconds=2), "one trial at a time"
    breakers.record(7, "beta", SENT)
    assert breakers.held(7, NOW) is None and breakers.holds(NOW) == []
    assert breakers.worst is BreakerState.CLOSED
