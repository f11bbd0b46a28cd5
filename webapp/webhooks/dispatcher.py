"""The dispatcher: leases due outbox rows and posts them, signed, with retries.

Leasing works like the send queue (outbound/sending/sender.py): a due row
(`pending` with `next_attempt_at` come, or `delivering` with an expired lease)
becomes `delivering`, owned by this worker until `lease_expires_at`; on
PostgreSQL with `FOR UPDATE SKIP LOCKED`, on SQLite under BEGIN IMMEDIATE. A
row is only leased when no earlier row of the same endpoint and contact is
still waiting, so each contact's events reach an endpoint in order. An outcome
is recorded only while the lease is ours; a dispatcher that dies mid-delivery
leaves the row leased and another takes it when the lease expires (at least
once: receivers deduplicate on `webhook-id`).

A 2xx answer delivers. Anything else (an error status, a timeout, a refused
connection) retries after an exponential backoff with jitter, or after the
receiver's `Retry-After`, until `give_up_after` (24 h) has passed since the
row was written; an endpoint that has failed without a single success for
`disable_after` (24 h) is switched off with a notice shown in the dashboard.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx
from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from webapp import __version__
from webapp.core import metrics
from webapp.core.common import new_worker_id
from webapp.core.config import Config
from webapp.core.db import Database, read_time
from webapp.core.logs import get_logger
from webapp.core.models import WebhookDelivery, WebhookEndpoint, utcnow
from webapp.core.workers import Worker
from webapp.webhooks.destinations import public_only_transport
from webapp.webhooks.endpoints import SUBSCRIPTIONS, signing_secrets
from webapp.webhooks.outbox import compose
from webapp.webhooks.signing import SecretUnreadable, headers

log = get_logger(__name__)

WAITING = ("pending", "delivering")
ANY_DUE = (
    "SELECT id FROM webhook_deliveries "
    "WHERE status IN ('pending', 'delivering') AND next_attempt_at <= ? LIMIT 1"
)
ERROR_MAX = 300


@dataclass(frozen=True)
class DispatchPolicy:
    """Timings of the dispatcher; the defaults suit real receivers, tests shrink them."""

    timeout: float = 10.0
    """Seconds a receiver has to answer one POST."""
    concurrency: int = 8
    lease_seconds: float = 30.0
    retry_base: float = 10.0
    """Backoff after the n-th failed attempt: base × 2^(n-1), capped, with jitter."""
    retry_max: float = 3600.0
    give_up_after: timedelta = timedelta(hours=24)
    disable_after: timedelta = timedelta(hours=24)
    idle_poll: float = 1.0
    stop_grace: float = 10.0
    gauges_every: float = 5.0
    allow_private: bool = True
    """Whether receivers may be at non-public addresses (WEBHOOKS_ALLOW_PRIVATE); when
    not, every connection goes to a checked public address (webhooks/destinations.py)."""


@dataclass(frozen=True)
class LeasedDelivery:
    id: int
    endpoint_id: int
    url: str
    message_id: str
    event_type: str
    body: bytes
    secrets: list[str] = field(repr=False)
    attempt: int


@dataclass(frozen=True)
class Answer:
    """What the receiver did: a status code, or an error before any answer."""

    status: int | None
    error: str | None = None
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def policy_for(config: Config) -> DispatchPolicy:
    """The policy of a running process: WEBHOOK_TIMEOUT and WEBHOOK_CONCURRENCY.

    A lease outlives the longest answer three times over, so only a dispatcher that
    died loses its rows to another.
    """
    return DispatchPolicy(
        timeout=config.webhook_timeout,
        concurrency=config.webhook_concurrency,
        lease_seconds=max(3 * config.webhook_timeout, 5.0),
        allow_private=config.allow_private_webhooks,
    )


def backoff(attempt: int, policy: DispatchPolicy) -> float:
    ceiling = min(policy.retry_max, policy.retry_base * 2 ** max(0, attempt - 1))
    return random.uniform(ceiling / 2, ceiling)


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds (a number of seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, (moment - now).total_seconds())


async def lease_deliveries(
    session: AsyncSession,
    worker_id: str,
    limit: int,
    *,
    app_secret: str,
    policy: DispatchPolicy,
    now: datetime | None = None,
) -> list[LeasedDelivery]:
    """Lease up to `limit` due deliveries, each the first waiting one of its contact."""
    now = now or utcnow()
    earlier = aliased(WebhookDelivery)
    blocked = exists().where(
        earlier.endpoint_id == WebhookDelivery.endpoint_id,
        earlier.order_key == WebhookDelivery.order_key,
        earlier.id < WebhookDelivery.id,
        earlier.status.in_(WAITING),
    )
    query = (
        select(WebhookDelivery, WebhookEndpoint)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(
            WebhookDelivery.status.in_(WAITING),
            WebhookDelivery.next_attempt_at <= now,
            WebhookEndpoint.active.is_(True),
            ~blocked,
        )
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=WebhookDelivery)
    leased: list[LeasedDelivery] = []
    expires = now + timedelta(seconds=policy.lease_seconds)
    for delivery, endpoint in (await session.execute(query)).all():
        try:
            secrets = signing_secrets(endpoint, app_secret, now)
        except SecretUnreadable:
            _finish(delivery, "failed", "the endpoint's secret does not decrypt")
            metrics.WEBHOOK_DELIVERIES.labels("failed").inc()
            continue
        if delivery.body is None:
            delivery.body = (await compose(session, delivery)).decode()
        delivery.status = "delivering"
        delivery.lease_owner = worker_id
        delivery.lease_expires_at = expires
        delivery.next_attempt_at = expires
        delivery.attempts += 1
        leased.append(
            LeasedDelivery(
                id=delivery.id,
                endpoint_id=endpoint.id,
                url=endpoint.url,
                message_id=delivery.message_id,
                event_type=delivery.event_type,
                body=delivery.body.encode(),
                secrets=secrets,
                attempt=delivery.attempts,
            )
        )
    await session.flush()
    return leased


def _finish(delivery: WebhookDelivery, status: str, error: str | None = None) -> None:
    delivery.status = status
    delivery.lease_owner = None
    delivery.lease_expires_at = None
    delivery.next_attempt_at = None
    if error is not None:
        delivery.last_error = error[:ERROR_MAX]


async def post(client: httpx.AsyncClient, delivery: LeasedDelivery) -> Answer:
    """POST one delivery, signed now; never raises for the receiver's failures."""
    sent_at = int(time.time())
    signed = headers(delivery.secrets, delivery.message_id, sent_at, delivery.body)
    try:
        response = await client.post(
            delivery.url,
            content=delivery.body,
            headers={**signed, "content-type": "application/json"},
        )
    except httpx.TimeoutException:
        return Answer(None, "timed out")
    except httpx.HTTPError as exc:
        return Answer(None, f"{type(exc).__name__}: {exc}"[:ERROR_MAX] or type(exc).__name__)
    retry_after = retry_after_seconds(response.headers.get("retry-after"), utcnow())
    return Answer(response.status_code, None, retry_after)


async def record_answer(
    session: AsyncSession,
    delivery: LeasedDelivery,
    answer: Answer,
    worker_id: str,
    *,
    policy: DispatchPolicy,
    now: datetime | None = None,
) -> str | None:
    """Store what became of one attempt if the lease is still ours; the new status or None."""
    now = now or utcnow()
    row = await session.scalar(
        select(WebhookDelivery).where(
            WebhookDelivery.id == delivery.id,
            WebhookDelivery.lease_owner == worker_id,
            WebhookDelivery.status == "delivering",
        )
    )
    if row is None:  # lease lost, or the endpoint was deleted meanwhile
        metrics.WEBHOOK_DELIVERIES.labels("lease_lost").inc()
        return None
    row.last_status_code = answer.status
    endpoint = await session.get(WebhookEndpoint, delivery.endpoint_id)
    if answer.ok:
        _finish(row, "delivered")
        row.last_error = None
        row.delivered_at = now
        if endpoint is not None and endpoint.failing_since is not None:
            endpoint.failing_since = None
        metrics.WEBHOOK_DELIVERIES.labels("delivered").inc()
        return "delivered"
    error = answer.error or f"answered {answer.status}"
    if now - row.created_at >= policy.give_up_after:
        _finish(row, "failed", f"gave up after {row.attempts} attempts: {error}")
        status = "failed"
    else:
        wait = backoff(row.attempts, policy)
        if answer.retry_after is not None:
            wait = min(max(answer.retry_after, 0.0), policy.retry_max)
        _finish(row, "pending", error)
        row.next_attempt_at = now + timedelta(seconds=wait)
        status = "retry"
    metrics.WEBHOOK_DELIVERIES.labels(status).inc()
    if endpoint is not None:
        _note_failure(endpoint, error, now, policy)
    return "pending" if status == "retry" else status


def _note_failure(
    endpoint: WebhookEndpoint, error: str, now: datetime, policy: DispatchPolicy
) -> None:
    if endpoint.failing_since is None:
        endpoint.failing_since = now
    elif endpoint.active and now - endpoint.failing_since >= policy.disable_after:
        endpoint.active = False
        endpoint.disabled_at = now
        endpoint.disabled_reason = (
            f"switched off after failing since {endpoint.failing_since:%Y-%m-%d %H:%M} UTC "
            f"(last: {error})"
        )[:300]
        SUBSCRIPTIONS.invalidate()
        log.warning("webhook_endpoint_disabled", endpoint_id=endpoint.id, error=error[:100])


async def queue_gauges(session: AsyncSession, now: datetime | None = None) -> tuple[int, float]:
    """Deliveries waiting (or in flight) and the age in seconds of the oldest one."""
    count, earliest = (
        await session.execute(
            select(func.count(), func.min(WebhookDelivery.created_at)).where(
                WebhookDelivery.status.in_(WAITING)
            )
        )
    ).one()
    oldest = read_time(earliest)  # SQLite aggregates lose the column type
    if oldest is None:
        return int(count), 0.0
    return int(count), max(0.0, ((now or utcnow()) - oldest).total_seconds())


@dataclass
class Dispatcher(Worker):
    """Leases due deliveries and posts them, `policy.concurrency` at a time."""

    kind = "webhook_dispatcher"

    db: Database
    app_secret: str = field(repr=False)
    policy: DispatchPolicy = field(default_factory=DispatchPolicy)
    worker_id: str = field(default_factory=new_worker_id)

    def __post_init__(self) -> None:
        super().__init__()
        self.stop_grace = self.policy.stop_grace
        self._gauges_at = float("-inf")
        limits = httpx.Limits(max_connections=self.policy.concurrency * 2)
        self.client = httpx.AsyncClient(
            timeout=self.policy.timeout,
            follow_redirects=False,
            headers={"user-agent": f"Tune-Webhooks/{__version__}"},
            limits=limits,
            transport=None if self.policy.allow_private else public_only_transport(limits),
            trust_env=self.policy.allow_private,
        )

    def task_name(self) -> str:
        return f"tune-webhooks-{self.worker_id}"

    def _started(self) -> None:
        log.info("webhook_dispatcher_started", worker=self.worker_id)

    async def _stopped(self) -> None:
        """After `stop()`: in-flight posts had `stop_grace`, the rest's leases are left to
        expire."""
        await self.client.aclose()
        log.info("webhook_dispatcher_stopped", worker=self.worker_id)

    async def _step(self) -> None:
        await self._refresh_gauges()
        free = self.policy.concurrency - len(self._in_flight)
        if free <= 0:
            await self._one_done()
            return
        try:
            # An idle dispatcher only reads: the write transaction (a lock on SQLite)
            # is taken when something is due.
            batch: list[LeasedDelivery] = []
            now = utcnow()
            moment = (
                now.replace(tzinfo=None).isoformat(" ", "microseconds")
                if self.db.is_sqlite
                else now
            )
            if await self.db.fetch_one(ANY_DUE, (moment,)) is not None:
                async with self.db.write() as session:
                    batch = await lease_deliveries(
                        session,
                        self.worker_id,
                        free,
                        app_secret=self.app_secret,
                        policy=self.policy,
                    )
        except Exception as exc:  # the database hiccuped: try again shortly
            log.warning("webhook_lease_failed", error=type(exc).__name__)
            await self._sleep(self.policy.idle_poll)
            return
        for delivery in batch:
            self._spawn(self._deliver(delivery))
        if batch:
            return
        await self._idle(self.policy.idle_poll)

    async def _refresh_gauges(self) -> None:
        if time.monotonic() - self._gauges_at < self.policy.gauges_every:
            return
        self._gauges_at = time.monotonic()
        try:
            async with self.db.read() as session:
                depth, oldest = await queue_gauges(session)
        except Exception as exc:
            log.warning("webhook_gauges_failed", error=type(exc).__name__)
            return
        metrics.WEBHOOK_QUEUE_DEPTH.set(depth)
        metrics.WEBHOOK_OLDEST_PENDING.set(oldest)

    async def _deliver(self, delivery: LeasedDelivery) -> None:
        try:
            answer = await post(self.client, delivery)
            async with self.db.write() as session:
                status = await record_answer(
                    session, delivery, answer, self.worker_id, policy=self.policy
                )
            if status != "delivered":
                log.info(
                    "webhook_not_delivered",
                    delivery_id=delivery.id,
                    endpoint_id=delivery.endpoint_id,
                    status=status,
                    code=answer.status,
                    error=(answer.error or "")[:100],
                )
            if status in {"delivered", "failed"}:
                self._wake.set()  # the contact's next event may be waiting behind this one
        except Exception:  # one delivery must not stop the dispatcher; its lease will expire
            log.exception("webhook_delivery_crashed", delivery_id=delivery.id)
