"""The sender: leases due emails from the queue and delivers them over SMTP.

A `Sender` runs SEND_CONCURRENCY deliveries at a time, throttled to SEND_RATE
(`SendThrottle`), each with in-process retries, behind a circuit breaker; the
queue it leases from and records into is `queue.py`.

While the circuit breaker is open nothing is leased, so rows stay `queued` and
no attempts are spent; a round that failed because the relay is down (the
breaker is not closed after it) is not charged either.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formataddr
from functools import partial
from typing import Any

from limits import parse as parse_rate
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from webapp.core import metrics
from webapp.core.config import Config
from webapp.core.db import Database
from webapp.core.errors import ValidationFailed
from webapp.core.logs import get_logger
from webapp.outbound.contents import TrackingUrls
from webapp.outbound.sending.queue import (
    LeasedEmail,
    SendPolicy,
    lease_batch,
    message_id_for,
    record_outcome,
    release_lease,
)
from webapp.outbound.smtp.breaker import BreakerState, CircuitBreaker
from webapp.outbound.smtp.message import build_message
from webapp.outbound.smtp.outcomes import DeliveryOutcome, DeliveryResult
from webapp.outbound.smtp.relay import SmtpRelay
from webapp.outbound.smtp.retry import send_with_retries
from webapp.outbound.smtp.url import parse_smtp_url

log = get_logger(__name__)

CIRCUIT_NAMES = {0: "closed", 1: "half_open", 2: "open"}


# --- throttling -----------------------------------------------------------------------


class SendThrottle:
    """SEND_RATE as a `limits` moving window on the rate-limit storage.

    With `redis://` storage every sender of every machine shares one window; with
    `memory://` each process has its own (so N processes may send N × SEND_RATE).
    Unlike the API limit this fails closed: if the storage is down, sending waits.
    """

    KEY = "smtp"

    def __init__(self, rate: str, storage_uri: str) -> None:
        self.item = parse_rate(rate)
        uri = storage_uri if storage_uri.startswith("async+") else "async+" + storage_uri
        self.strategy = MovingWindowRateLimiter(storage_from_string(uri))

    async def acquire(self, stopping: asyncio.Event | None = None) -> bool:
        """Wait for a slot and take it; False when `stopping` was set first."""
        while stopping is None or not stopping.is_set():
            try:
                if await self.strategy.hit(self.item, "tune-send", self.KEY):
                    return True
                stats = await self.strategy.get_window_stats(self.item, "tune-send", self.KEY)
                delay = min(max(stats.reset_time - time.time(), 0.01), 5.0)
            except Exception as exc:  # storage down: wait rather than exceed the relay's limit
                log.warning("send_throttle_storage_error", error=type(exc).__name__)
                delay = 1.0
            await _sleep_unless(stopping, delay)
        return False


async def _sleep_unless(event: asyncio.Event | None, seconds: float) -> None:
    if event is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)


# --- the sender loop ------------------------------------------------------------------


def new_worker_id() -> str:
    """host:pid:random, unique per Sender, at most 64 characters."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class Sender:
    """Leases due rows and delivers them, SEND_CONCURRENCY at a time, throttled to SEND_RATE."""

    db: Database
    config: Config
    urls: TrackingUrls
    policy: SendPolicy = field(default_factory=SendPolicy)
    relay: SmtpRelay | None = None
    worker_id: str = field(default_factory=new_worker_id)
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        if self.relay is None:
            if not self.config.smtp_url:
                from webapp.core.errors import ConfigError

                raise ConfigError("SMTP_URL: required to send email")
            self.relay = SmtpRelay(
                parse_smtp_url(self.config.smtp_url), pool_size=self.config.send_concurrency
            )
        self.breaker = CircuitBreaker(
            self.policy.breaker_threshold,
            self.policy.breaker_cool_down,
            clock=self.clock,
            on_change=self._breaker_changed,
        )
        metrics.SMTP_CIRCUIT_STATE.set(int(self.breaker.state))
        self.throttle = SendThrottle(self.config.send_rate, self.config.ratelimit_storage_uri)
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None

    @property
    def circuit(self) -> str:
        """closed, half_open or open."""
        return CIRCUIT_NAMES[int(self.breaker.state)]

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self.run(), name=f"tune-sender-{self.worker_id}")
        log.info(
            "sender_started",
            worker=self.worker_id,
            relay=parse_smtp_url(self.config.smtp_url).redacted_url()
            if self.config.smtp_url
            else None,
            rate=self.config.send_rate,
            concurrency=self.config.send_concurrency,
        )

    def wake(self) -> None:
        """Look at the queue now (new rows were queued in this process)."""
        self._wake.set()

    async def stop(self) -> None:
        """Stop leasing; let in-flight sends finish within `stop_grace`, then leave the rest
        leased (their leases expire and another sender retries them)."""
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.relay is not None:
            await self.relay.close()
        log.info("sender_stopped", worker=self.worker_id)

    async def run(self) -> None:
        """The loop: consult the breaker, lease what the free slots can take, deliver."""
        try:
            while not self._stopping.is_set():
                await self._step()
        finally:
            await self._finish_in_flight()

    async def _step(self) -> None:
        concurrency = self.config.send_concurrency
        if len(self._in_flight) >= concurrency:
            await asyncio.wait(self._in_flight, return_when=asyncio.FIRST_COMPLETED)
            return
        closed = self.breaker.state is BreakerState.CLOSED
        if not closed and self._in_flight:
            # Open or half-open: let the sends started earlier finish before any probe.
            await asyncio.wait(self._in_flight, return_when=asyncio.FIRST_COMPLETED)
            return
        if not self.breaker.allow():
            # Open: nothing is leased, rows stay queued. Sleep until the cool-down is over.
            await _sleep_unless(self._stopping, min(self.policy.idle_poll, 0.5))
            return
        free = concurrency - len(self._in_flight) if closed else 1  # half-open: one probe
        try:
            async with self.db.write() as session:
                batch = await lease_batch(
                    session,
                    self.worker_id,
                    free,
                    policy=self.policy,
                    message_id=partial(message_id_for, self.config),
                )
        except Exception as exc:  # the database hiccuped: try again shortly
            log.warning("send_lease_failed", error=type(exc).__name__)
            await _sleep_unless(self._stopping, self.policy.idle_poll)
            return
        for email in batch:
            task = asyncio.create_task(self._deliver(email))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
        if not batch:
            if self._in_flight:
                await asyncio.wait(self._in_flight, return_when=asyncio.FIRST_COMPLETED)
                return
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.policy.idle_poll)

    async def _finish_in_flight(self) -> None:
        if not self._in_flight:
            return
        _, still = await asyncio.wait(self._in_flight, timeout=self.policy.stop_grace)
        for task in still:
            task.cancel()
        if still:
            await asyncio.wait(still)
            log.warning("sender_left_leases", count=len(still), worker=self.worker_id)

    def message_for(self, email: LeasedEmail) -> EmailMessage:
        return email_message(self.config, self.urls, email)

    async def _deliver(self, email: LeasedEmail) -> None:
        try:
            if not await self.throttle.acquire(self._stopping):
                async with self.db.write() as session:
                    await release_lease(session, email.content_id, self.worker_id)
                return
            assert self.relay is not None
            try:
                message = self.message_for(email)
            except ValidationFailed as exc:  # e.g. a malformed address: this email can't go
                result = DeliveryResult(DeliveryOutcome.PERMANENT, None, exc.message)
            else:
                result = await send_with_retries(
                    self.relay,
                    message,
                    attempts=self.policy.smtp_attempts,
                    base_delay=self.policy.smtp_base_delay,
                    max_delay=self.policy.smtp_max_delay,
                )
                self.breaker.record(result)
            async with self.db.write() as session:
                status = await record_outcome(
                    session, email, result, self.worker_id, policy=self.policy
                )
            if status not in {None, "sent"}:
                log.info(
                    "send_not_delivered",
                    content_id=email.content_id,
                    status=status,
                    code=result.code,
                    detail=(result.detail or "")[:200],
                )
        except Exception:  # one email must not stop the sender; its lease will expire
            log.exception("send_failed_unexpectedly", content_id=email.content_id)

    def _breaker_changed(self, state: Any) -> None:
        metrics.SMTP_CIRCUIT_STATE.set(int(state))
        log.warning("smtp_circuit", state=CIRCUIT_NAMES.get(int(state), str(state)))


def email_message(config: Config, urls: TrackingUrls, email: LeasedEmail) -> EmailMessage:
    """The MIME message of one email, exactly as it is sent (and exported)."""
    return build_message(
        sender=config.smtp_from,
        recipient=formataddr((email.name, email.email)) if email.name else email.email,
        subject=email.subject,
        html=email.html,
        text=email.text,
        message_id=email.message_id,
        headers=urls.headers(email.content_id),
    )
