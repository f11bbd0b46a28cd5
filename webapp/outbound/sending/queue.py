"""The send queue in the database: queueing, leasing and recording outcomes.

Queueing moves a campaign's `draft` emails to `queued` (unsubscribed contacts'
emails go straight to `skipped_unsubscribed`, and emails to an address on the
suppression list, after a hard bounce or a complaint in any campaign, to
`skipped_suppressed`); it never touches an email that
is already queued, sending, sent, failed, skipped or bounced, so pressing
"send" twice sends nothing twice.

A `Sender` leases due rows in one write transaction (`queued` rows whose
`next_attempt_at` has come, and `sending` rows whose lease expired): the row
becomes `sending`, owned by this process's worker id until `lease_expires_at`.
On PostgreSQL the lease uses `SELECT ... FOR UPDATE SKIP LOCKED`; on SQLite the
`BEGIN IMMEDIATE` write transaction already serialises leasers. A leased row's
`next_attempt_at` is its lease expiry, so one index (send_status,
next_attempt_at) finds both kinds of due rows. An outcome is recorded only
while the lease is still ours. A sender that dies mid-send leaves its rows
leased; when the lease expires another sender takes them and sends again with
the same Message-ID (at-least-once; a relay can deduplicate on it).

The leased email and its Message-ID are in `emails.py`.

Outcomes: delivered → `sent` with `sent_at` and the campaign × tier "sent"
counter in the same transaction; a temporary failure (4xx, timeout, refused
connection) that outlived the in-process retries → back to `queued` with an
exponential backoff, until `max_attempts` delivery rounds have been spent, then
`failed`; a permanent failure (5xx) → `bounced` when the relay rejected the
recipient (with a bounce event) or `failed` otherwise, never retried.

Sequences: "Send" also enrolls the contacts in the campaign's sequence. Follow-ups
(step 2 and later) are written already queued by the sequence scheduler; one whose
contact's sequence stopped after it was written (a reply, a rep's stop) becomes
`skipped_stopped` at lease time. A follow-up carries its thread (In-Reply-To,
References); a delivered step sets the due time of the contact's next one, and an
unsubscribe, bounce or failure stops the contact's sequence, in the same transaction.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.campaigns.queries import get_campaign, lock_figures
from webapp.core import metrics
from webapp.core.db import Database
from webapp.core.logs import get_logger
from webapp.core.models import Campaign, Contact, Content, Mailbox, Suppression, utcnow
from webapp.mailboxes.capacity import Taken
from webapp.mailboxes.health import after_bounce
from webapp.mailboxes.routing import Router, Wait
from webapp.outbound.contents import TrackingUrls, generate_contents

# The leased email and its Message-ID live in emails.py; re-exported for the sender.
from webapp.outbound.sending.emails import LeasedEmail as LeasedEmail
from webapp.outbound.sending.emails import message_domain as message_domain
from webapp.outbound.sending.emails import message_id_for as message_id_for
from webapp.outbound.smtp.outcomes import DeliveryOutcome, DeliveryResult
from webapp.sequences.scheduler import enroll, step_sent, stop_contacts, stopped_before_send
from webapp.tracking.events import BounceEvent
from webapp.tracking.store import bump_counters, store_events
from webapp.webhooks.outbox import content_event

log = get_logger(__name__)

SEND_STATUSES = (
    "draft",
    "queued",
    "sending",
    "sent",
    "failed",
    "skipped_unsubscribed",
    "skipped_suppressed",
    "bounced",
    "skipped_stopped",
)
ERROR_MAX = 500


@dataclass(frozen=True)
class SendPolicy:
    """Timings of the sender; the defaults suit a real relay, tests shrink them."""

    lease_seconds: float = 300.0
    """How long a leased row belongs to one sender before another may take it."""
    max_attempts: int = 5
    """Delivery rounds (each with its in-process retries) before a row is failed."""
    retry_base: float = 60.0
    """Queue backoff after a failed round: base × 2^(round-1), with jitter."""
    retry_max: float = 3600.0
    smtp_attempts: int = 4
    """Tries within one round (tenacity, exponential backoff with jitter)."""
    smtp_base_delay: float = 1.0
    smtp_max_delay: float = 30.0
    breaker_threshold: int = 5
    """Consecutive failed rounds that open the circuit breaker."""
    breaker_cool_down: float = 60.0
    idle_poll: float = 2.0
    """Seconds between looks at an empty queue (an API send wakes the sender at once)."""
    stop_grace: float = 30.0
    """On shutdown, how long in-flight sends may finish before their leases are left to expire."""
    schedule_batch: int = 200
    """Sequence enrollments the scheduler evaluates per pass (one pass per `idle_poll`)."""
    health_every: float = 30.0
    """Seconds between two sweeps of the mailboxes' health and metrics."""
    relay_refresh: float = 60.0
    """With no SMTP_URL and no mailbox yet: seconds between looks for a first mailbox."""


# --- queueing -------------------------------------------------------------------------


@dataclass
class QueueSummary:
    """What one `queue_campaign` call changed."""

    queued: int = 0
    skipped_unsubscribed: int = 0
    skipped_suppressed: int = 0
    unchanged: int = 0
    """Emails already queued or past it (sent, failed, …): left as they were."""

    def as_json(self) -> dict[str, int]:
        return {
            "queued": self.queued,
            "skipped_unsubscribed": self.skipped_unsubscribed,
            "skipped_suppressed": self.skipped_suppressed,
            "unchanged": self.unchanged,
        }


async def queue_campaign(
    session: AsyncSession,
    campaign_id: int,
    tier: int | None = None,
    now: datetime | None = None,
) -> QueueSummary:
    """Queue the campaign's draft emails (of one tier, or all); idempotent.

    Only existing emails are queued: write missing ones first with
    `contents.generate_contents` (the API and `tune send` do).
    """
    await get_campaign(session, campaign_id)
    now = now or utcnow()
    scope = [Content.campaign_id == campaign_id]
    if tier is not None:
        scope.append(Content.tier == tier)
    unsubscribed = select(Contact.id).where(
        Contact.campaign_id == campaign_id, Contact.unsubscribed_at.is_not(None)
    )
    skipped = await session.execute(
        update(Content)
        .where(*scope, Content.send_status == "draft", Content.contact_id.in_(unsubscribed))
        .values(send_status="skipped_unsubscribed")
        .execution_options(synchronize_session=False)
    )
    suppressed = select(Contact.id).where(
        Contact.campaign_id == campaign_id, func.lower(Contact.email).in_(select(Suppression.email))
    )
    skipped_suppressed = await session.execute(
        update(Content)
        .where(*scope, Content.send_status == "draft", Content.contact_id.in_(suppressed))
        .values(send_status="skipped_suppressed")
        .execution_options(synchronize_session=False)
    )
    queued = await session.execute(
        update(Content)
        .where(*scope, Content.send_status == "draft")
        .values(send_status="queued", queued_at=now, next_attempt_at=now, attempts=0)
        .execution_options(synchronize_session=False)
    )
    summary = QueueSummary(
        queued=_rowcount(queued),
        skipped_unsubscribed=_rowcount(skipped),
        skipped_suppressed=_rowcount(skipped_suppressed),
    )
    total = await session.scalar(select(func.count()).select_from(Content).where(*scope)) or 0
    summary.unchanged = (
        total - summary.queued - summary.skipped_unsubscribed - summary.skipped_suppressed
    )
    return summary


async def write_and_queue(
    db: Database, campaign_id: int, tier: int | None, urls: TrackingUrls
) -> tuple[int, QueueSummary]:
    """Write the emails still missing, queue the drafts and enroll their contacts in the
    campaign's sequence: what "Send" means everywhere.

    Returns how many emails were written and what queueing changed.
    """
    generated = await generate_contents(db, campaign_id, urls)
    async with db.write() as session:
        summary = await queue_campaign(session, campaign_id, tier)
        await enroll(session, campaign_id, tier)
    return generated.created, summary


def _rowcount(result: Any) -> int:
    return int(result.rowcount or 0)


async def send_progress(session: AsyncSession, campaign_id: int) -> dict[str, int]:
    """How many of the campaign's emails are in each send status (every status listed)."""
    rows = await session.execute(
        select(Content.send_status, func.count())
        .where(Content.campaign_id == campaign_id)
        .group_by(Content.send_status)
    )
    counts = dict.fromkeys(SEND_STATUSES, 0)
    for status, count in rows:
        counts[status] = int(count)
    return counts


def pending(counts: dict[str, int]) -> int:
    """Emails still to be delivered (queued or being sent)."""
    return counts.get("queued", 0) + counts.get("sending", 0)


# --- leasing --------------------------------------------------------------------------


async def lease_batch(
    session: AsyncSession,
    worker_id: str,
    limit: int,
    *,
    policy: SendPolicy,
    message_id: Callable[..., str],
    now: datetime | None = None,
    router: Router | None = None,
) -> list[LeasedEmail]:
    """Lease up to `limit` due rows for `worker_id` in the caller's write transaction.

    With a `router`, each row leaves from its contact's mailbox (assigned now for a
    first email): a row whose mailbox is full or paused stays queued with the time
    to look again (`webapp.mailboxes.routing`). Paused campaigns' rows are left
    queued. Rows whose contact unsubscribed since queueing become
    `skipped_unsubscribed` here, rows to a since suppressed address
    `skipped_suppressed`, and neither is returned; rows to a contact who is out of
    office wait (still queued) until the contact's return date; rows that used all
    their rounds become `failed`.
    """
    now = now or utcnow()
    query = (
        select(
            Content,
            Contact.email,
            Contact.first_name,
            Contact.last_name,
            Contact.return_at,
            Contact.mailbox_id,
        )
        .join(Contact, Contact.id == Content.contact_id)
        .where(
            Content.send_status.in_(("queued", "sending")),
            Content.next_attempt_at <= now,
            # A paused campaign's emails wait in the queue until a rep resumes it.
            Content.campaign_id.not_in(select(Campaign.id).where(Campaign.status == "paused")),
        )
        .order_by(Content.next_attempt_at, Content.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=Content)
    rows = (await session.execute(query)).all()
    await lock_figures(session, (row[0].campaign_id for row in rows))
    # Unsubscribed is read apart from the locked rows (no lock on contacts needed).
    unsubscribed = set(
        await session.scalars(
            select(Contact.id).where(
                Contact.id.in_([row[0].contact_id for row in rows]),
                Contact.unsubscribed_at.is_not(None),
            )
        )
    )
    suppressed = set(
        await session.scalars(
            select(Suppression.email).where(Suppression.email.in_([row[1].lower() for row in rows]))
        )
    )
    stopped = await stopped_before_send(
        session, [(row[0].contact_id, row[0].prospect_id) for row in rows if row[0].step > 1]
    )
    leased: list[LeasedEmail] = []
    expires = now + timedelta(seconds=policy.lease_seconds)
    if router is not None:
        router.new_pass()
    for content, email, first_name, last_name, return_at, assigned in rows:
        if content.contact_id in unsubscribed:
            _finish(content, "skipped_unsubscribed")
            metrics.EMAILS_SENT.labels("skipped_unsubscribed").inc()
            await stop_contacts(session, [content.contact_id], "unsubscribed", now)
            continue
        if content.step > 1 and content.contact_id in stopped:
            _finish(content, "skipped_stopped", f"sequence stopped: {stopped[content.contact_id]}")
            metrics.EMAILS_SENT.labels("skipped_stopped").inc()
            continue
        if email.lower() in suppressed:
            _finish(content, "skipped_suppressed")
            metrics.EMAILS_SENT.labels("skipped_suppressed").inc()
            continue
        if return_at is not None and return_at > now:
            content.send_status = "queued"  # out of office: wait for the return date
            content.lease_owner = None
            content.lease_expires_at = None
            content.next_attempt_at = return_at
            continue
        if content.attempts >= policy.max_attempts:
            # Only a row whose sender died mid-round can get here with no rounds left.
            _finish(content, "failed", f"gave up after {content.attempts} delivery rounds")
            await content_event(session, "send.failed", content.id, now, content.last_error)
            metrics.EMAILS_SENT.labels("failed").inc()
            continue
        mailbox: Mailbox | None = None
        taken: Taken | None = None
        if router is not None:
            route = await router.route(
                session,
                campaign_id=content.campaign_id,
                contact_id=content.contact_id,
                assigned=assigned,
                recipient=email,
                now=now,
            )
            if isinstance(route, Wait):
                content.send_status = "queued"  # full or paused: wait for a free slot
                content.lease_owner = None
                content.lease_expires_at = None
                content.next_attempt_at = route.until
                continue
            mailbox, taken = route.mailbox, route.taken
            content.mailbox_id = mailbox.id if mailbox else None
        if content.message_id is None:
            # In the sending mailbox's domain (a `message_id_for` takes the mailbox).
            content.message_id = (
                message_id(content.id) if mailbox is None else message_id(content.id, mailbox)
            )
        content.send_status = "sending"
        content.lease_owner = worker_id
        content.lease_expires_at = expires
        content.next_attempt_at = expires
        content.attempts += 1
        name = " ".join(part for part in (first_name, last_name) if part)
        leased.append(
            LeasedEmail.of(
                content, email, name, content.message_id, content.attempts, mailbox, taken
            )
        )
    await session.flush()
    return leased


def _finish(content: Content, status: str, error: str | None = None) -> None:
    content.send_status = status
    content.lease_owner = None
    content.lease_expires_at = None
    content.next_attempt_at = None
    if error is not None:
        content.last_error = error[:ERROR_MAX]


# --- outcomes -------------------------------------------------------------------------


def backoff(round_number: int, policy: SendPolicy) -> float:
    """Seconds before the next round: exponential in the rounds spent, with full jitter."""
    ceiling = min(policy.retry_max, policy.retry_base * 2 ** max(0, round_number - 1))
    return random.uniform(ceiling / 2, ceiling)


async def record_outcome(
    session: AsyncSession,
    email: LeasedEmail,
    result: DeliveryResult,
    worker_id: str,
    *,
    policy: SendPolicy,
    now: datetime | None = None,
    health_min_sends: int = 20,
) -> str | None:
    """Store what became of one delivery, if the lease is still ours.

    Returns the new send status, or None when the lease was lost (another sender
    took the row after our lease expired; its outcome will be recorded instead).
    A relay failure (the relay itself unusable, not this email's fault) refunds the
    round: the email goes back to the queue without spending an attempt.
    """
    now = now or utcnow()
    ours = (
        Content.id == email.content_id,
        Content.lease_owner == worker_id,
        Content.send_status == "sending",
    )
    done = {"lease_owner": None, "lease_expires_at": None}
    error = _error_text(result)
    if result.outcome is DeliveryOutcome.SENT:
        values: dict[str, Any] = {
            **done,
            "send_status": "sent",
            "sent_at": now,
            "next_attempt_at": None,
            "last_error": None,
        }
    elif result.outcome is DeliveryOutcome.PERMANENT:
        status = "bounced" if result.bounced else "failed"
        values = {**done, "send_status": status, "next_attempt_at": None, "last_error": error}
    elif result.relay_failure:
        values = {
            **done,
            "send_status": "queued",
            "next_attempt_at": now + timedelta(seconds=backoff(1, policy)),
            "attempts": Content.attempts - 1,
            "last_error": error,
        }
    elif email.attempt >= policy.max_attempts:
        values = {**done, "send_status": "failed", "next_attempt_at": None, "last_error": error}
    else:
        retry_at = now + timedelta(seconds=backoff(email.attempt, policy))
        values = {**done, "send_status": "queued", "next_attempt_at": retry_at, "last_error": error}
    changed = await session.execute(
        update(Content).where(*ours).values(values).execution_options(synchronize_session=False)
    )
    if _rowcount(changed) != 1:
        metrics.EMAILS_SENT.labels("lease_lost").inc()
        return None
    status = str(values["send_status"])
    if status == "sent":
        await bump_counters(session, {(email.campaign_id, email.tier, "sent"): 1})
        await step_sent(session, email.contact_id, email.campaign_id, email.step, now)
    elif status == "bounced":
        await store_events(session, [BounceEvent(email.content_id, now, source="smtp")])
        await stop_contacts(session, [email.contact_id], "bounced", now)
        if email.mailbox_id is not None:
            await after_bounce(session, email.mailbox_id, health_min_sends, now)
    elif status == "failed":
        await stop_contacts(session, [email.contact_id], "send_failed", now)
        await content_event(session, "send.failed", email.content_id, now, error)
    metrics.EMAILS_SENT.labels("retry" if status == "queued" else status).inc()
    return status


def _error_text(result: DeliveryResult) -> str | None:
    if result.outcome is DeliveryOutcome.SENT:
        return None
    code = f"{result.code} " if result.code else ""
    return f"{code}{result.detail}".strip()[:ERROR_MAX] or result.outcome.name.lower()


async def release_lease(session: AsyncSession, content_id: int, worker_id: str) -> bool:
    """Give a leased row back unsent (shutdown before its turn): no round is charged."""
    changed = await session.execute(
        update(Content)
        .where(
            Content.id == content_id,
            Content.lease_owner == worker_id,
            Content.send_status == "sending",
        )
        .values(
            send_status="queued",
            lease_owner=None,
            lease_expires_at=None,
            next_attempt_at=utcnow(),
            attempts=Content.attempts - 1,
        )
        .execution_options(synchronize_session=False)
    )
    return _rowcount(changed) == 1
