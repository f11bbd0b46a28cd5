"""The sender: leases due emails from the queue and delivers them over SMTP.

A `Sender` runs SEND_CONCURRENCY deliveries at a time, throttled to SEND_RATE
(`SendThrottle`), each with in-process retries, behind one circuit breaker per
mailbox (`breakers.py`); the queue it leases from and records into is `queue.py`.
Between leases it runs the sequence scheduler (`webapp.sequences.scheduler`),
which writes the follow-ups that fall due straight into the queue; a follow-up
goes out in the thread of the contact's previous email (In-Reply-To, References).

While a mailbox's circuit breaker is open its emails are not leased (the router
holds them like a full mailbox's), so they stay `queued` and no attempts are
spent, and the other mailboxes keep sending; a round that failed because the
relay is down is not charged either.

Mailboxes (`webapp.mailboxes`): each leased email says which mailbox it leaves from;
the sender keeps one relay per mailbox (rebuilt when the mailbox changes), sends
with its From and signature, and every `health_every` seconds judges the mailboxes'
health and refreshes their metrics. Emails of campaigns without mailboxes leave
from the default mailbox: SMTP_URL and SMTP_FROM.

A sender started with no SMTP_URL and no mailbox waits for one: it leases nothing
(and writes no follow-ups) and looks for a first mailbox every `relay_refresh`
seconds, or at once when woken (a mailbox added in this process wakes it), so a
mailbox added at runtime sends without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import formataddr
from functools import partial

from limits import parse as parse_rate
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.core import metrics
from webapp.core.common import new_worker_id
from webapp.core.config import Config
from webapp.core.db import Database
from webapp.core.errors import ConfigError, ValidationFailed
from webapp.core.logs import get_logger
from webapp.core.models import Mailbox, utcnow
from webapp.core.sealing import SecretUnreadable
from webapp.core.workers import Worker
from webapp.mailboxes import health
from webapp.mailboxes.capacity import mailbox_limit, slots_for
from webapp.mailboxes.routing import Router
from webapp.mailboxes.store import any_mailbox, smtp_settings
from webapp.outbound.contents import TrackingUrls, sender_name_of
from webapp.outbound.sending.breakers import CIRCUIT_NAMES, Breakers
from webapp.outbound.sending.queue import (
    LeasedEmail,
    SendPolicy,
    lease_batch,
    message_id_for,
    record_outcome,
    release_lease,
)
from webapp.outbound.signature import NAME_PLACEHOLDER, named, sign
from webapp.outbound.smtp.breaker import CircuitBreaker
from webapp.outbound.smtp.message import build_message
from webapp.outbound.smtp.outcomes import DeliveryOutcome, DeliveryResult
from webapp.outbound.smtp.relay import SmtpRelay
from webapp.outbound.smtp.retry import send_with_retries
from webapp.outbound.smtp.url import parse_smtp_url
from webapp.sequences.scheduler import TickSummary, advance, lease_due

log = get_logger(__name__)


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


@dataclass
class Sender(Worker):
    """Leases due rows and delivers them, SEND_CONCURRENCY at a time, throttled to SEND_RATE."""

    kind = "sender"

    db: Database
    config: Config
    urls: TrackingUrls
    policy: SendPolicy = field(default_factory=SendPolicy)
    relay: SmtpRelay | None = None
    worker_id: str = field(default_factory=new_worker_id)
    clock: Callable[[], float] = time.monotonic

    def __post_init__(self) -> None:
        super().__init__()
        self.stop_grace = self.policy.stop_grace
        if self.relay is None and self.config.smtp_url:
            self.relay = SmtpRelay(
                parse_smtp_url(self.config.smtp_url), pool_size=self.config.send_concurrency
            )
        self.breakers = Breakers(
            self.policy.breaker_threshold,
            self.policy.breaker_cool_down,
            recheck=self.policy.idle_poll,
            clock=self.clock,
        )
        self.router = Router(self.config, slots_for(self.config), gate=self.breakers)
        self._relays: dict[int, tuple[str, SmtpRelay]] = {}
        self._next_health = 0.0
        metrics.SMTP_CIRCUIT_STATE.set(int(self.breakers.worst))
        self.throttle = SendThrottle(self.config.send_rate, self.config.ratelimit_storage_uri)
        self._next_schedule = 0.0
        self._can_send = self.relay is not None
        self._next_relay_look = 0.0

    @property
    def breaker(self) -> CircuitBreaker:
        """The default mailbox's breaker (SMTP_URL's relay)."""
        return self.breakers.default

    @property
    def circuit(self) -> str:
        """closed, half_open or open: the state of the most broken relay."""
        return CIRCUIT_NAMES[int(self.breakers.worst)]

    def task_name(self) -> str:
        return f"tune-sender-{self.worker_id}"

    def wake(self) -> None:
        """Look at the queue now (new rows were queued, or a mailbox added, in this process)."""
        self._next_relay_look = 0.0
        super().wake()

    async def can_send(self) -> bool:
        """Is there anything to send through: SMTP_URL, or (looked for now and then) a
        mailbox? Once one was found the answer stays yes."""
        if self._can_send:
            return True
        if self.clock() < self._next_relay_look:
            return False
        self._next_relay_look = self.clock() + self.policy.relay_refresh
        try:
            self._can_send = await any_mailbox(self.db)
        except Exception as exc:  # the database hiccuped: look again later
            log.warning("sender_mailbox_look_failed", error=type(exc).__name__)
        if self._can_send:
            log.info("sender_found_a_mailbox", worker=self.worker_id)
        return self._can_send

    def _started(self) -> None:
        log.info(
            "sender_started",
            worker=self.worker_id,
            relay=parse_smtp_url(self.config.smtp_url).redacted_url()
            if self.config.smtp_url
            else None,
            rate=self.config.send_rate,
            concurrency=self.config.send_concurrency,
        )

    async def _stopped(self) -> None:
        """After `stop()`: in-flight sends had `stop_grace` to finish, the rest stay
        leased (their leases expire and another sender retries them)."""
        if self.relay is not None:
            await self.relay.close()
        for _, relay in self._relays.values():
            await relay.close()
        self._relays.clear()
        log.info("sender_stopped", worker=self.worker_id)

    async def schedule_due(self, now: datetime | None = None) -> TickSummary:
        """One pass of the sequence scheduler: lease due enrollments, write their steps."""
        async with self.db.write() as session:
            ids = await lease_due(
                session,
                self.worker_id,
                self.policy.schedule_batch,
                lease_seconds=self.policy.lease_seconds,
                now=now,
            )
        if not ids:
            return TickSummary()
        async with self.db.write() as session:
            summary = await advance(
                session,
                self.worker_id,
                ids,
                self.urls,
                NAME_PLACEHOLDER,  # the mailbox's name, filled in at send time
                now=now,
            )
        metrics.SEQUENCE_STEPS.labels("written").inc(summary.written)
        metrics.SEQUENCE_STEPS.labels("stopped").inc(summary.stopped)
        metrics.SEQUENCE_STEPS.labels("skipped").inc(summary.skipped)
        return summary

    async def check_mailboxes(self, now: datetime | None = None) -> None:
        """Judge every mailbox's health (pausing the unhealthy), refresh their metrics,
        and forget slots older than the longest window."""
        now = now or utcnow()
        async with self.db.write() as session:
            await health.sweep(session, self.config.mailbox_health_min_sends, now)
            await self.router.slots.prune(session, now)
            for mailbox in await session.scalars(select(Mailbox)):
                usage = await self.router.slots.usage(session, mailbox_limit(mailbox, now), now)
                metrics.MAILBOX_REMAINING.labels(mailbox.name).set(usage.remaining)

    async def _check_health(self) -> None:
        if self.clock() < self._next_health:
            return
        self._next_health = self.clock() + self.policy.health_every
        try:
            await self.check_mailboxes()
        except Exception as exc:  # the database or Redis hiccuped: next time
            log.warning("mailbox_check_failed", error=type(exc).__name__)

    async def _schedule(self) -> None:
        await self._check_health()
        if self.clock() < self._next_schedule:
            return
        self._next_schedule = self.clock() + self.policy.idle_poll
        try:
            await self.schedule_due()
        except Exception as exc:  # the database hiccuped: the leases expire, try again
            log.warning("sequence_schedule_failed", error=type(exc).__name__)

    async def _step(self) -> None:
        if not await self.can_send():
            await self._idle(self.policy.idle_poll)
            return
        await self._schedule()
        concurrency = self.config.send_concurrency
        if len(self._in_flight) >= concurrency:
            await self._one_done()
            return
        # A mailbox whose breaker is open or half-open is held by the router (one trial
        # at a time once the cool-down is over); the others take every free place.
        free = concurrency - len(self._in_flight)
        try:
            async with self.db.write() as session:
                batch = await lease_batch(
                    session,
                    self.worker_id,
                    free,
                    policy=self.policy,
                    message_id=partial(message_id_for, self.config),
                    router=self.router,
                )
        except Exception as exc:  # the database hiccuped: try again shortly
            log.warning("send_lease_failed", error=type(exc).__name__)
            await self._sleep(self.policy.idle_poll)
            return
        for email in batch:
            self.breakers.started(email.mailbox_id)
            self._spawn(self._deliver(email))
        if not batch:
            if self._in_flight:
                await self._one_done()
                return
            await self._idle(self.policy.idle_poll)

    async def _give_back(self, session: AsyncSession, email: LeasedEmail) -> None:
        """The email never reached its relay: its send slots go back to its mailbox (only
        then; a send the relay saw counts even if it failed, so caps are never passed)."""
        if email.taken is not None:
            await self.router.slots.release(session, email.taken)

    def message_for(self, email: LeasedEmail) -> EmailMessage:
        return email_message(self.config, self.urls, email)

    async def relay_for(self, email: LeasedEmail) -> SmtpRelay | None:
        """The relay of the email's mailbox (SMTP_URL's for the default one), or None."""
        if email.mailbox_id is None:
            return self.relay
        cached = self._relays.get(email.mailbox_id)
        if cached is not None and cached[0] == email.mailbox_version:
            return cached[1]
        async with self.db.read() as session:
            mailbox = await session.get(Mailbox, email.mailbox_id)
            if mailbox is None:
                return None
            try:
                settings = smtp_settings(self.config, mailbox)
            except (SecretUnreadable, ConfigError) as exc:  # a key rotated without rekey
                log.warning("mailbox_relay_unusable", mailbox=mailbox.name, error=str(exc))
                return None
        relay = SmtpRelay(settings, pool_size=self.config.send_concurrency)
        self._relays[email.mailbox_id] = (email.mailbox_version, relay)
        if cached is not None:
            await cached[1].close()
        return relay

    async def _deliver(self, email: LeasedEmail) -> None:
        try:
            if not await self.throttle.acquire(self._stopping):
                async with self.db.write() as session:
                    if await release_lease(session, email.content_id, self.worker_id):
                        await self._give_back(session, email)
                return
            relay = await self.relay_for(email)
            reached = False  # did the message go anywhere near the relay?
            try:
                message = self.message_for(email)
            except ValidationFailed as exc:  # e.g. a malformed address: this email can't go
                result = DeliveryResult(DeliveryOutcome.PERMANENT, None, exc.message)
            else:
                if relay is None:
                    result = DeliveryResult(
                        DeliveryOutcome.TEMPORARY,
                        None,
                        "no usable relay: set SMTP_URL, or check the mailbox's SMTP URL",
                        relay_failure=True,
                    )
                else:
                    reached = True
                    result = await send_with_retries(
                        relay,
                        message,
                        attempts=self.policy.smtp_attempts,
                        base_delay=self.policy.smtp_base_delay,
                        max_delay=self.policy.smtp_max_delay,
                    )
                self.breakers.record(email.mailbox_id, email.mailbox_name, result)
            async with self.db.write() as session:
                status = await record_outcome(
                    session,
                    email,
                    result,
                    self.worker_id,
                    policy=self.policy,
                    health_min_sends=self.config.mailbox_health_min_sends,
                )
                if status is not None and not reached:
                    await self._give_back(session, email)
            if status == "sent":
                metrics.MAILBOX_SENT.labels(email.mailbox_name).inc()
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
        finally:
            self.breakers.finished(email.mailbox_id)


def email_message(config: Config, urls: TrackingUrls, email: LeasedEmail) -> EmailMessage:
    """The MIME message of one email, exactly as it is sent (and exported): from its
    mailbox (SMTP_FROM for the default one), with the mailbox's name and signature."""
    sender = email.sender or config.smtp_from
    name = email.sender_name or sender_name_of(sender)
    html, text = sign(email.html, email.text, email.signature, name)
    return build_message(
        sender=sender,
        recipient=formataddr((email.name, email.email)) if email.name else email.email,
        subject=named(email.subject, name),
        html=html,
        text=text,
        message_id=email.message_id,
        headers={**urls.headers(email.content_id), **email.thread_headers()},
    )
