"""The circuit breaker, on a fake clock and against a dead relay."""

from __future__ import annotations

from tests.support.servers import free_port
from tests.support.smtp import message, relay_for
from webapp.outbound.smtp.breaker import BreakerState, CircuitBreaker
from webapp.outbound.smtp.outcomes import DeliveryOutcome, DeliveryResult

# --- the circuit breaker ----------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


DOWN = DeliveryResult(DeliveryOutcome.TEMPORARY, None, "connection failed", relay_failure=True)
GREYLISTED = DeliveryResult(DeliveryOutcome.TEMPORARY, 451, "4.7.1 greylisted")
BOUNCED = DeliveryResult(DeliveryOutcome.PERMANENT, 550, "5.1.1 user unknown", bounced=True)
SENT = DeliveryResult(DeliveryOutcome.SENT, 250, "ok")


def test_breaker_states_are_the_gauge_numbers() -> None:
    assert [int(state) for state in BreakerState] == [0, 1, 2]
    assert BreakerState.CLOSED == 0 and BreakerState.HALF_OPEN == 1 and BreakerState.OPEN == 2


def test_breaker_opens_half_opens_closes_and_reopens() -> None:
    clock = FakeClock()
    changes: list[BreakerState] = []
    breaker = CircuitBreaker(3, 60.0, clock=clock, on_change=changes.append)
    assert breaker.state is BreakerState.CLOSED and breaker.allow()

    breaker.record(DOWN)
    breaker.record(DOWN)
    assert breaker.state is BreakerState.CLOSED and breaker.allow()
    breaker.record(DOWN)
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()

    clock.now += 59.9
    assert not breaker.allow() and breaker.state is BreakerState.OPEN
    clock.now += 0.1
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow(), "one trial goes through"
    assert not breaker.allow(), "exactly one"
    breaker.record(SENT)
    assert breaker.state is BreakerState.CLOSED and breaker.allow()

    for _ in range(3):
        breaker.record(DOWN)
    clock.now += 60
    assert breaker.allow() and breaker.state is BreakerState.HALF_OPEN
    breaker.record(DOWN)
    assert breaker.state is BreakerState.OPEN, "a failed trial reopens"
    assert not breaker.allow()
    clock.now += 30
    assert breaker.state is BreakerState.OPEN, "for a full cool-down again"

    assert changes == [
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.CLOSED,
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.OPEN,
    ]


def test_breaker_counts_only_consecutive_relay_failures() -> None:
    breaker = CircuitBreaker(2, 10.0, clock=FakeClock())
    for answered in (GREYLISTED, BOUNCED, SENT):
        breaker.record(DOWN)
        breaker.record(answered)  # the relay answered: the count starts again
        assert breaker.state is BreakerState.CLOSED
    for _ in range(5):
        breaker.record(GREYLISTED)
    assert breaker.state is BreakerState.CLOSED
    breaker.record(DOWN)
    breaker.record(DOWN)
    assert breaker.state is BreakerState.OPEN


def test_breaker_half_open_details() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(1, 10.0, clock=clock)
    breaker.record(DOWN)
    breaker.record(SENT)  # a send that started before the breaker opened: ignored
    assert breaker.state is BreakerState.OPEN

    clock.now += 10
    assert breaker.allow()
    clock.now += 5
    assert not breaker.allow()
    clock.now += 5
    assert breaker.allow(), "a trial never recorded is given up after a cool-down"
    breaker.record(BOUNCED)  # the relay answered, even if with a bounce
    assert breaker.state is BreakerState.CLOSED


def test_a_failing_observer_does_not_break_the_breaker() -> None:
    def broken(state: BreakerState) -> None:
        raise RuntimeError("dashboard down")

    breaker = CircuitBreaker(1, 10.0, clock=FakeClock(), on_change=broken)
    breaker.record(DOWN)
    assert breaker.state is BreakerState.OPEN


async def test_breaker_opens_on_a_real_dead_relay() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(2, 30.0, clock=clock)
    relay = relay_for(f"smtp://127.0.0.1:{free_port()}?starttls=off")
    while breaker.allow():
        breaker.record(await relay.send(message()))
    assert breaker.state is BreakerState.OPEN
