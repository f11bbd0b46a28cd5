"""The circuit breaker: stop sending while the relay itself is failing, then probe it."""

from __future__ import annotations

import enum
import time
from collections.abc import Callable

from webapp.core.logs import get_logger
from webapp.outbound.smtp.outcomes import DeliveryResult

log = get_logger(__name__)


class BreakerState(enum.IntEnum):
    """The numbers are what the tune_smtp_circuit_state gauge shows."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class CircuitBreaker:
    """Stops sending while the relay is down, so queued emails wait instead of failing.

    CLOSED: everything goes. `failure_threshold` consecutive relay failures
    (`DeliveryResult.relay_failure`) open it. Any other outcome (sent, bounced, a
    4xx for one recipient) proves the relay is answering and resets the count.
    OPEN: nothing goes for `cool_down` seconds, then HALF_OPEN.
    HALF_OPEN: `allow()` lets exactly one trial through; its result closes the
    breaker (relay answered) or reopens it (relay failure). A trial whose result
    is never recorded (the caller had nothing to send) is given up after
    `cool_down` seconds and another is allowed.
    Results recorded while OPEN are ignored (they are from sends started before).

    For one event loop; not thread-safe. `on_change` is called with each new state.
    """

    def __init__(
        self,
        failure_threshold: int = 5,
        cool_down: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[BreakerState], None] | None = None,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self.failure_threshold = failure_threshold
        self.cool_down = cool_down
        self.clock = clock
        self.on_change = on_change
        self.failures = 0
        """Consecutive relay failures while closed."""
        self._state = BreakerState.CLOSED
        self.opened_after = 0
        """Relay failures in a row when it last opened (for people: "refused 5 times")."""
        self._streak = 0
        self._opened_at = 0.0
        self._trial_at: float | None = None

    @property
    def state(self) -> BreakerState:
        """The current state (an OPEN breaker whose cool-down is over reads HALF_OPEN)."""
        if self._state is BreakerState.OPEN and self.clock() - self._opened_at >= self.cool_down:
            self._trial_at = None
            self._set(BreakerState.HALF_OPEN)
        return self._state

    def retry_in(self) -> float | None:
        """Seconds until an open breaker lets a trial through; None unless it is open."""
        if self.state is not BreakerState.OPEN:
            return None
        return max(self.cool_down - (self.clock() - self._opened_at), 0.0)

    def trial_free(self) -> bool:
        """Would `allow()` let a send through now? (It does not take the trial slot.)"""
        state = self.state
        if state is not BreakerState.HALF_OPEN:
            return state is BreakerState.CLOSED
        return self._trial_at is None or self.clock() - self._trial_at >= self.cool_down

    def allow(self) -> bool:
        """May a send start now? In HALF_OPEN this takes the one trial slot."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.OPEN:
            return False
        now = self.clock()
        if self._trial_at is not None and now - self._trial_at < self.cool_down:
            return False
        self._trial_at = now
        return True

    def record(self, result: DeliveryResult) -> None:
        """Count the outcome of a send."""
        state = self.state
        if state is BreakerState.OPEN:
            return
        if result.relay_failure:
            self.failures += 1
            self._streak += 1
            if state is BreakerState.HALF_OPEN or self.failures >= self.failure_threshold:
                self._open()
            return
        self.failures = 0
        self._streak = 0
        self._trial_at = None
        self._set(BreakerState.CLOSED)

    def _open(self) -> None:
        self.opened_after = max(self._streak, 1)
        self._opened_at = self.clock()
        self._trial_at = None
        self.failures = 0
        self._set(BreakerState.OPEN)

    def _set(self, state: BreakerState) -> None:
        if state is self._state:
            return
        self._state = state
        if self.on_change is not None:
            try:
                self.on_change(state)
            except Exception:  # an observer must not break sending
                log.exception("breaker_on_change_failed", state=state.name)
