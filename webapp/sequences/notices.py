"""What a sequence tells the team's webhooks, and what the inbox tells a sequence.

`sequence.stopped` is written to the webhook outbox in the transaction that
stops the contact (a rep's stop, an outcome, a stop rule seen by the scheduler
or the sender), with the reason and the step the contact had reached. An
out-of-office answer with a return date pauses the contact's sequence until the
day after that date (`pause_for_absence`); the scheduler resumes it by itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.core.models import Content, Enrollment, utcnow
from webapp.sequences.rules import STOP_REASONS
from webapp.webhooks.endpoints import SUBSCRIPTIONS
from webapp.webhooks.outbox import OutboxEvent, enqueue, event_detail

OUT_OF_OFFICE = "out_of_office"
PAUSED_BY_REP = "paused_by_rep"
PAUSE_REASONS = {PAUSED_BY_REP: "paused by a rep", OUT_OF_OFFICE: "out of office"}
"""Why a sequence is paused, with the words a prospect page shows."""
ABSENCE_MARGIN = timedelta(days=1)
"""A contact back from leave gets a day to read their mail before the next step."""


def absence_end(return_at: datetime) -> datetime:
    return return_at + ABSENCE_MARGIN


async def announce_stopped(
    session: AsyncSession,
    stops: Sequence[tuple[int, int]],
    reason: str,
    now: datetime | None = None,
) -> int:
    """`sequence.stopped` for (contact id, step reached) pairs, when an endpoint wants it.

    The delivery names the contact's latest email of the campaign.
    """
    if not stops or "sequence.stopped" not in await SUBSCRIPTIONS.routes_async(session):
        return 0
    steps = dict(stops)
    latest = (
        select(func.max(Content.id))
        .where(Content.contact_id.in_(sorted(steps)))
        .group_by(Content.contact_id)
    )
    rows = await session.execute(
        select(Content.id, Content.campaign_id, Content.prospect_id, Content.contact_id).where(
            Content.id.in_(latest)
        )
    )
    moment = now or utcnow()
    events = [
        OutboxEvent(
            "sequence.stopped",
            moment,
            campaign_id=campaign_id,
            prospect_id=prospect_id,
            contact_id=contact_id,
            content_id=content_id,
            detail=event_detail(
                reason=reason,
                reason_text=STOP_REASONS.get(reason, reason),
                step=steps[contact_id],
            ),
        )
        for content_id, campaign_id, prospect_id, contact_id in rows
    ]
    return await enqueue(session, events)


async def pause_for_absence(
    session: AsyncSession, contact_id: int, return_at: datetime, now: datetime | None = None
) -> datetime | None:
    """Pause the contact's sequence until the day after `return_at`; returns that time,
    or None when there is nothing to pause (not enrolled, stopped, finished, the date
    already past, or a rep's pause without an end, which only the rep lifts)."""
    now = now or utcnow()
    until = absence_end(return_at)
    enrollment = await session.scalar(
        select(Enrollment).where(Enrollment.contact_id == contact_id).with_for_update()
    )
    if enrollment is None or until <= now or not pause(enrollment, until):
        return None
    await session.flush()
    return until


def pause(enrollment: Enrollment, until: datetime) -> bool:
    """Mark an enrollment paused for an absence until `until` (see `pause_for_absence`)."""
    if enrollment.status not in {"active", "paused"}:
        return False
    if enrollment.status == "paused" and (
        enrollment.paused_until is None or enrollment.paused_until >= until
    ):
        return False
    enrollment.status, enrollment.paused_until = "paused", until
    enrollment.pause_reason = OUT_OF_OFFICE
    enrollment.due_at = until
    enrollment.lease_owner = enrollment.lease_expires_at = None
    return True
