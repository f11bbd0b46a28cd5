"""One circuit breaker per mailbox, so one relay's outage holds only its own emails.

A sender talks to several relays: SMTP_URL's (the default mailbox) and each
mailbox's. Each has its own `CircuitBreaker`: a relay that keeps failing opens
its breaker, and while it is open the router (`webapp.mailboxes.routing`) leaves
that mailbox's emails queued until the cool-down is over, without taking a send
slot or spending an attempt; contacts not yet written to go to the campaign's
other mailboxes, which keep sending. Once the cool-down is over the breaker is
half-open: one email goes as the trial (after the mailbox's earlier sends have
finished), the others look again shortly; the trial's result closes the breaker
or opens it again.

`holds` says which mailbox is held and until when (send progress and the API show
it); the `tune_smtp_circuit_state` gauge shows the worst state of them all and
`tune_mailbox_circuit_state` each mailbox's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from webapp.core import metrics
from webapp.core.logs import get_logger
from webapp.core.models import utcnow
from webapp.outbound.smtp.breaker import BreakerState, CircuitBreaker
from webapp.outbound.smtp.outcomes import DeliveryResult

log = get_logger(__name__)

CIRCUIT_NAMES = {0: "closed", 1: "half_open", 2: "open"}
DEFAULT = "default"
"""The name of the default mailbox (SMTP_URL, SMTP_FROM)."""


@dataclass(frozen=True)
class Hold:
    """A mailbox whose relay is failing, for people."""

    mailbox: str
    state: BreakerState
    refused: int
    """Relay failures in a row when the breaker opened."""
    until: datetime | None
    """When an open breaker lets its trial through; None while the trial is on."""


class Breakers:
    """The breakers of one sender, by mailbox id (None: the default mailbox)."""

    def __init__(
        self,
        threshold: int,
        cool_down: float,
        *,
        recheck: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.cool_down = cool_down
        self.recheck = recheck
        """How soon a half-open mailbox's other emails look again."""
        self.clock = clock
        self._breakers: dict[int | None, CircuitBreaker] = {}
        self._names: dict[int | None, str] = {None: DEFAULT}
        self._busy: dict[int | None, int] = {}
        self.of(None)

    @property
    def default(self) -> CircuitBreaker:
        """The default mailbox's breaker (SMTP_URL's relay)."""
        return self.of(None)

    def of(self, key: int | None, name: str | None = None) -> CircuitBreaker:
        """The breaker of one mailbox, made on first use."""
        if name is not None:
            self._names[key] = name
        breaker = self._breakers.get(key)
        if breaker is None:
            breaker = CircuitBreaker(
                self.threshold,
                self.cool_down,
                clock=self.clock,
                on_change=lambda state: self._changed(key, state),
            )
            self._breakers[key] = breaker
        return breaker

    @property
    def worst(self) -> BreakerState:
        """The state of the most broken relay (CLOSED when all answer)."""
        return max(
            (breaker.state for breaker in self._breakers.values()), default=BreakerState.CLOSED
        )

    # --- what the router asks --------------------------------------------------------

    def held(self, key: int | None, now: datetime) -> datetime | None:
        """Until when this mailbox's emails must wait; None when one may go now."""
        breaker = self._breakers.get(key)
        if breaker is None:
            return None
        state = breaker.state
        if state is BreakerState.CLOSED:
            return None
        if state is BreakerState.OPEN:
            return now + timedelta(seconds=breaker.retry_in() or 0.0)
        # Half-open: one trial, once the sends started earlier are over.
        if self._busy.get(key, 0) or not breaker.trial_free():
            return now + timedelta(seconds=self.recheck)
        return None

    def took(self, key: int | None) -> None:
        """An email was routed to this mailbox: on a half-open breaker it is the trial."""
        breaker = self._breakers.get(key)
        if breaker is not None and breaker.state is BreakerState.HALF_OPEN:
            breaker.allow()

    # --- what the sender tells -------------------------------------------------------

    def started(self, key: int | None) -> None:
        self._busy[key] = self._busy.get(key, 0) + 1

    def finished(self, key: int | None) -> None:
        self._busy[key] = max(0, self._busy.get(key, 0) - 1)

    def record(self, key: int | None, name: str, result: DeliveryResult) -> None:
        self.of(key, name).record(result)

    def holds(self, now: datetime | None = None) -> list[Hold]:
        """Every mailbox whose breaker is not closed, by name."""
        now = now or utcnow()
        found = []
        for key, breaker in self._breakers.items():
            state = breaker.state
            if state is BreakerState.CLOSED:
                continue
            retry_in = breaker.retry_in()
            until = now + timedelta(seconds=retry_in) if retry_in is not None else None
            found.append(Hold(self._names.get(key, str(key)), state, breaker.opened_after, until))
        return sorted(found, key=lambda hold: hold.mailbox)

    def _changed(self, key: int | None, state: BreakerState) -> None:
        name = self._names.get(key, str(key))
        metrics.MAILBOX_CIRCUIT_STATE.labels(name).set(int(state))
        metrics.SMTP_CIRCUIT_STATE.set(int(self.worst))
        log.warning("smtp_circuit", mailbox=name, state=CIRCUIT_NAMES.get(int(state), str(state)))
