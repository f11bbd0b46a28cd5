"""The sequence scheduler: finds contacts whose next step is due and writes that step.

Each enrolled contact has one `sequence_enrollments` row. Its `due_at` is set
only while there is work: a follow-up due, a pause ending, or a lease to take
over; so the due query (`due_at <= now ORDER BY due_at LIMIT n`) is a range
scan of one index, whatever the number of enrolled contacts.

Due rows are leased exactly like the send queue: one write transaction makes
them ours until `lease_expires_at`, and moves `due_at` to the lease expiry so a
scheduler that dies mid-step leaves them to be taken over. The step is then
evaluated and written in a second transaction, only for rows still leased by
us: stop rules, the step's condition, the send window; then the email is
rendered (variant, per-tier template, `Re:` subject, In-Reply-To/References to
the previous step) and queued for the sender. The email and the enrollment's
new position are committed together, and `(campaign, contact, step)` is unique
on contents, so a step is never written twice for a contact.

When the sender records a step as sent, `step_sent` (in the same transaction)
sets the due time of the contact's next step.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.campaigns.queries import lock_figures
from webapp.core.logs import get_logger
from webapp.core.models import (
    Campaign,
    Contact,
    Content,
    Enrollment,
    Prospect,
    SequenceStep,
    utcnow,
)
from webapp.outbound.contents import TrackingUrls, apply_tracking, merge_context
from webapp.outbound.templates.isolation import render_emails
from webapp.outbound.templates.sandbox import EmailTemplate, RenderedEmail
from webapp.sequences import notices, rules, testsend
from webapp.sequences.steps import StepTemplates, load_templates
from webapp.sequences.variants import assign
from webapp.sequences.windows import SendWindow, zone_for

log = get_logger(__name__)
ENROLL_BATCH = 1000


@dataclass
class TickSummary:
    """What one pass of the scheduler did."""

    written: int = 0
    stopped: int = 0
    skipped: int = 0
    """Steps whose condition did not hold (the contact moves on to the next step)."""
    waiting: int = 0
    """Steps moved to a later time (send window, pause, the delay not yet over)."""
    finished: int = 0
    lost: int = 0
    """Leases another scheduler took over before we could write."""
    content_ids: list[int] = field(default_factory=list)


# --- enrolling and the sender's hooks --------------------------------------------------


async def enroll(
    session: AsyncSession, campaign_id: int, tier: int | None = None, now: datetime | None = None
) -> int:
    """Enroll every contact whose first email is queued or sent (of one tier, or all).

    Idempotent: a contact is enrolled once. A contact whose first email went out
    before it was enrolled gets its next step's due time at once.
    """
    now = now or utcnow()
    enrolled = select(Enrollment.id).where(Enrollment.contact_id == Content.contact_id)
    source = select(
        Content.campaign_id,
        Content.prospect_id,
        Content.contact_id,
        Content.sent_at,
    ).where(
        Content.campaign_id == campaign_id,
        Content.step == 1,
        Content.send_status.in_(("queued", "sending", "sent")),
        ~enrolled.exists(),
    )
    if tier is not None:
        source = source.where(Content.tier == tier)
    created = 0
    while True:
        rows = (await session.execute(source.limit(ENROLL_BATCH))).all()
        if not rows:
            return created
        steps = await enabled_steps(session, campaign_id)
        values = []
        for campaign, prospect_id, contact_id, sent_at in rows:
            row: dict[str, Any] = {
                "campaign_id": campaign,
                "prospect_id": prospect_id,
                "contact_id": contact_id,
                "step": 1,
                "status": "active",
                "last_sent_at": sent_at,
                "due_at": None,
                "created_at": now,
                "updated_at": now,
            }
            if sent_at is not None:
                following = next_step(steps, 1)
                if following is None:
                    row["status"] = "finished"
                else:
                    row["due_at"] = sent_at + timedelta(seconds=following.delay_seconds)
            values.append(row)
        await session.execute(insert(Enrollment), values)
        created += len(values)


async def enabled_steps(session: AsyncSession, campaign_id: int) -> list[SequenceStep]:
    rows = await session.scalars(
        select(SequenceStep)
        .where(SequenceStep.campaign_id == campaign_id, SequenceStep.enabled.is_(True))
        .order_by(SequenceStep.position)
    )
    return list(rows)


def next_step(steps: Sequence[SequenceStep], after: int) -> SequenceStep | None:
    return next((s for s in steps if s.position > after and s.enabled), None)


async def step_sent(
    session: AsyncSession, contact_id: int, campaign_id: int, step: int, sent_at: datetime
) -> None:
    """The sender delivered `step` to the contact: its next step falls due after its delay."""
    enrollment = await session.scalar(
        select(Enrollment).where(Enrollment.contact_id == contact_id).with_for_update()
    )
    if enrollment is None or enrollment.step != step:
        return
    enrollment.last_sent_at = sent_at
    if enrollment.status != "active":
        return
    following = next_step(await enabled_steps(session, campaign_id), step)
    if following is None:
        enrollment.status, enrollment.due_at = "finished", None
    else:
        enrollment.due_at = sent_at + timedelta(seconds=following.delay_seconds)


async def stop_contacts(
    session: AsyncSession, contact_ids: Iterable[int], reason: str, now: datetime | None = None
) -> int:
    """Stop the sequence of these contacts (if not already stopped) for `reason`."""
    ids = sorted(set(contact_ids))
    if not ids:
        return 0
    now = now or utcnow()
    going = (
        await session.execute(
            select(Enrollment.contact_id, Enrollment.step, Enrollment.status).where(
                Enrollment.contact_id.in_(ids), Enrollment.status != "stopped"
            )
        )
    ).all()
    if not going:
        return 0
    await session.execute(
        update(Enrollment)
        .where(
            Enrollment.contact_id.in_([contact_id for contact_id, _, _ in going]),
            Enrollment.status != "stopped",
        )
        .values(
            status="stopped",
            stop_reason=reason,
            stopped_at=now,
            due_at=None,
            paused_until=None,
            pause_reason=None,
            lease_owner=None,
            lease_expires_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    # A finished sequence is marked too (nothing more may go), but only a running one stops.
    running = [(c, step) for c, step, status in going if status != "finished"]
    await notices.announce_stopped(session, running, reason, now)
    return len(going)


async def stopped_before_send(
    session: AsyncSession, follow_ups: Sequence[tuple[int, int]]
) -> dict[int, str]:
    """For (contact, prospect) pairs about to get a follow-up: who must not, and why.

    Covers a reply or a rep's stop that came after the step was written.
    """
    if not follow_ups:
        return {}
    ids = [contact_id for contact_id, _ in follow_ups]
    campaign_rows = await session.execute(
        select(
            Enrollment.contact_id, Enrollment.status, Enrollment.stop_reason, Campaign.account_stop
        )
        .join(Campaign, Campaign.id == Enrollment.campaign_id)
        .where(Enrollment.contact_id.in_(ids))
    )
    account_stop: dict[int, bool] = {}
    reasons: dict[int, str] = {}
    for contact_id, status, reason, account in campaign_rows:
        account_stop[contact_id] = account
        if status == "stopped":
            reasons[contact_id] = reason or "stopped_by_rep"
    facts = await rules.gather_facts(
        session, follow_ups, await rules.contents_of_contacts(session, ids)
    )
    for contact_id, fact in facts.items():
        reason = rules.stop_reason(fact, account_stop.get(contact_id, True))
        if reason is not None and contact_id not in reasons:
            reasons[contact_id] = reason
            await stop_contacts(session, [contact_id], reason)
    return reasons


# --- leasing and writing due steps -----------------------------------------------------


async def lease_due(
    session: AsyncSession,
    worker_id: str,
    limit: int,
    *,
    lease_seconds: float,
    now: datetime | None = None,
) -> list[int]:
    """Lease up to `limit` due enrollments (in the caller's write transaction)."""
    now = now or utcnow()
    query = (
        select(Enrollment).where(Enrollment.due_at <= now).order_by(Enrollment.due_at).limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = list(await session.scalars(query))
    expires = now + timedelta(seconds=lease_seconds)
    for enrollment in rows:
        enrollment.lease_owner = worker_id
        enrollment.lease_expires_at = expires
        enrollment.due_at = expires
    await session.flush()
    return [row.id for row in rows]


async def advance(
    session: AsyncSession,
    worker_id: str,
    enrollment_ids: Sequence[int],
    urls: TrackingUrls,
    sender_name: str,
    now: datetime | None = None,
) -> TickSummary:
    """Evaluate and write the due steps of leased enrollments still ours."""
    now = now or utcnow()
    summary = TickSummary()
    query = (
        select(Enrollment, Contact, Prospect, Campaign)
        .join(Contact, Contact.id == Enrollment.contact_id)
        .join(Prospect, Prospect.id == Enrollment.prospect_id)
        .join(Campaign, Campaign.id == Enrollment.campaign_id)
        .where(Enrollment.id.in_(enrollment_ids), Enrollment.lease_owner == worker_id)
        .order_by(Enrollment.id)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=Enrollment)
    rows = (await session.execute(query)).all()
    summary.lost = len(enrollment_ids) - len(rows)
    await lock_figures(session, (campaign.id for *_, campaign in rows))
    contents = await rules.contents_of_contacts(session, [r[1].id for r in rows])
    facts = await rules.gather_facts(
        session, [(contact.id, prospect.id) for _, contact, prospect, _ in rows], contents, now
    )
    by_contact: dict[int, list[Content]] = {}
    for content in contents:
        by_contact.setdefault(content.contact_id, []).append(content)
    steps: dict[int, list[SequenceStep]] = {}
    templates: dict[int, StepTemplates] = {}
    written: list[tuple[Content, str]] = []
    due_now: list[
        tuple[
            SequenceStep,
            int,
            EmailTemplate,
            dict[str, Any],
            Campaign,
            Prospect,
            Contact,
            list[Content],
        ]
    ] = []
    campaigns: dict[int, Campaign] = {}
    stopped: dict[str, list[tuple[int, int]]] = {}
    for enrollment, contact, prospect, campaign in rows:
        enrollment.lease_owner = None
        enrollment.lease_expires_at = None
        enrollment.due_at = None
        if campaign.id not in steps:
            steps[campaign.id] = await enabled_steps(session, campaign.id)
        reason = rules.stop_reason(facts[contact.id], campaign.account_stop)
        if reason is not None:
            _stop(enrollment, reason, now)
            stopped.setdefault(reason, []).append((contact.id, enrollment.step))
            summary.stopped += 1
            continue
        if enrollment.status == "paused":
            if enrollment.paused_until is not None and enrollment.paused_until > now:
                enrollment.due_at = enrollment.paused_until
                summary.waiting += 1
                continue
            enrollment.status, enrollment.paused_until = "active", None
            enrollment.pause_reason = None
        if enrollment.status != "active" or enrollment.last_sent_at is None:
            continue  # stopped or finished meanwhile, or its current step not sent yet
        step = next_step(steps[campaign.id], enrollment.step)
        if step is None:
            enrollment.status = "finished"
            summary.finished += 1
            continue
        due = enrollment.last_sent_at + timedelta(seconds=step.delay_seconds)
        if due > now:
            enrollment.due_at = due
            summary.waiting += 1
            continue
        if not rules.condition_met(step.condition, facts[contact.id]):
            enrollment.step = step.position
            _schedule_next(enrollment, steps[campaign.id], now)  # its delay counts from now
            summary.skipped += 1
            continue
        window = SendWindow(campaign.send_days, campaign.send_from_hour, campaign.send_until_hour)
        opening = window.next_opening(now, zone_for(prospect.country, campaign.timezone))
        if opening > now:
            enrollment.due_at = opening
            summary.waiting += 1
            continue
        mine = by_contact.get(contact.id, [])
        if any(c.step == step.position for c in mine):
            enrollment.step = step.position  # written before (a lost commit): never twice
            continue
        if step.id not in templates:
            templates[step.id] = await load_templates(session, step)
        count = templates[step.id].variants
        testing = count > 1 and bool(step.test_share)
        if testing and step.test_started_at is None:
            step.test_started_at = now  # the first contact to reach the step starts the wait
        if testing and not testsend.in_test(step.id, contact.id, step.test_share or 0):
            chosen_variant = await testsend.winner_for(
                session, step, count, campaign.winner_metric, now
            )
            if chosen_variant is None:  # the test is still running: wait for its winner
                enrollment.due_at = testsend.decision_time(step, now)
                summary.waiting += 1
                continue
            variant = chosen_variant
        else:
            variant = assign(step.id, contact.id, count)
        chosen = templates[step.id].pick(variant, prospect.tier)
        context = merge_context(campaign, prospect, contact, sender_name)
        due_now.append((step, variant, chosen, context, campaign, prospect, contact, mine))
        enrollment.step = step.position
    # Every email of the pass is rendered at once, in a template worker, off the event loop.
    keys = {template: key for key, template in enumerate(dict.fromkeys(d[2] for d in due_now))}
    emails = (
        await render_emails(
            {key: template for template, key in keys.items()},
            [(keys[chosen], context) for _, _, chosen, context, *_ in due_now],
        )
        if due_now
        else []
    )
    for (step, variant, _, _, campaign, prospect, contact, mine), email in zip(
        due_now, emails, strict=True
    ):
        content = _follow_up(step, variant, email, campaign, prospect, contact, mine)
        content.queued_at = content.next_attempt_at = now
        session.add(content)
        written.append((content, content.html))
        campaigns[campaign.id] = campaign
        summary.written += 1
    for campaign_id, campaign in campaigns.items():
        await apply_tracking(
            session, campaign, [w for w in written if w[0].campaign_id == campaign_id], urls
        )
    summary.content_ids = [content.id for content, _ in written]
    await session.flush()
    for reason, contacts in stopped.items():
        await notices.announce_stopped(session, contacts, reason, now)
    return summary


def _stop(enrollment: Enrollment, reason: str, now: datetime) -> None:
    enrollment.status = "stopped"
    enrollment.stop_reason = reason
    enrollment.stopped_at = now
    enrollment.due_at = None
    enrollment.paused_until = enrollment.pause_reason = None


def _schedule_next(enrollment: Enrollment, steps: Sequence[SequenceStep], since: datetime) -> None:
    following = next_step(steps, enrollment.step)
    if following is None:
        enrollment.status = "finished"
    else:
        enrollment.due_at = since + timedelta(seconds=following.delay_seconds)


def _follow_up(
    step: SequenceStep,
    variant: int,
    email: RenderedEmail,
    campaign: Campaign,
    prospect: Prospect,
    contact: Contact,
    earlier: Sequence[Content],
) -> Content:
    """The email of one contact for a step, in the thread of its earlier emails."""
    sent = [c for c in earlier if c.message_id is not None and c.step < step.position]
    subject, in_reply_to, refs = email.subject, None, None
    if step.as_reply and sent:
        first, previous = sent[0], sent[-1]
        subject = reply_subject(first.subject)
        in_reply_to = previous.message_id
        refs = " ".join(part for part in (previous.thread_refs, previous.message_id) if part)
    return Content(
        campaign_id=campaign.id,
        contact_id=contact.id,
        prospect_id=prospect.id,
        tier=prospect.tier,
        step=step.position,
        variant=variant,
        subject=subject,
        html=email.html,
        text="",
        in_reply_to=in_reply_to,
        thread_refs=refs,
        send_status="queued",
        attempts=0,
    )


def reply_subject(subject: str) -> str:
    """`Re: <subject>`, without stacking `Re: Re:`."""
    return subject if subject[:3].lower() == "re:" else f"Re: {subject}"


async def due_count(session: AsyncSession, now: datetime | None = None) -> int:
    """How many enrollments are due now (for metrics and tests)."""
    from sqlalchemy import func

    return int(
        await session.scalar(
            select(func.count())
            .select_from(Enrollment)
            .where(Enrollment.due_at <= (now or utcnow()))
        )
        or 0
    )
