"""What a rep does to a prospect's sequence by hand, and where each contact stands.

Stop, pause (until a date, or until resumed) and resume act on every enrolled
contact of the prospect (the company). Resuming only undoes a rep's own stop or
pause (or an outcome's stop: not interested, wrong person) and an out-of-office
pause: a reply, bounce, complaint or unsubscribe keeps the sequence stopped.
Every stop writes `sequence.stopped` to the webhook outbox in the same transaction.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.core.errors import NotFound, ValidationFailed
from webapp.core.models import Campaign, Contact, Enrollment, Prospect, utcnow
from webapp.sequences import rules
from webapp.sequences.notices import PAUSE_REASONS, PAUSED_BY_REP, announce_stopped
from webapp.sequences.scheduler import stop_contacts

RESUMABLE = {"paused"}
REP_STOPS = {"stopped_by_rep", "not_interested", "wrong_person"}
"""Stops a rep made (by hand or by recording an outcome), which a rep may undo."""


def parse_until(value: object, now: datetime | None = None) -> datetime | None:
    """An optional ISO date or date-time in the future; a date means its midnight UTC."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValidationFailed("until: an ISO 8601 date or date-time", field="until")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        try:
            moment = datetime.combine(date.fromisoformat(value), time(), UTC)
        except ValueError:
            raise ValidationFailed("until: an ISO 8601 date or date-time", field="until") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if moment <= (now or utcnow()):
        raise ValidationFailed("until must be in the future", field="until")
    return moment


async def _enrollments(session: AsyncSession, prospect_id: int) -> list[Enrollment]:
    if await session.get(Prospect, prospect_id) is None:
        raise NotFound(f"prospect {prospect_id} does not exist")
    rows = await session.scalars(
        select(Enrollment)
        .where(Enrollment.prospect_id == prospect_id)
        .order_by(Enrollment.contact_id)
        .with_for_update()
    )
    return list(rows)


async def stop_prospect(
    session: AsyncSession,
    prospect_id: int,
    now: datetime | None = None,
    *,
    reason: str = "stopped_by_rep",
) -> int:
    """Stop every contact of the prospect that is still in the sequence, for `reason`
    (a rep's stop, or the outcome a rep recorded: `not_interested`, `wrong_person`)."""
    if reason not in REP_STOPS:
        raise ValueError(f"not a rep's stop: {reason}")
    now = now or utcnow()
    stopped: list[tuple[int, int]] = []
    for enrollment in await _enrollments(session, prospect_id):
        if enrollment.status in {"active", "paused"}:
            enrollment.status, enrollment.stop_reason = "stopped", reason
            enrollment.stopped_at, enrollment.due_at = now, None
            enrollment.paused_until = enrollment.pause_reason = None
            enrollment.lease_owner = enrollment.lease_expires_at = None
            stopped.append((enrollment.contact_id, enrollment.step))
    await session.flush()
    await announce_stopped(session, stopped, reason, now)
    return len(stopped)


async def pause_prospect(
    session: AsyncSession, prospect_id: int, until: datetime | None, now: datetime | None = None
) -> int:
    """Pause the prospect's active contacts until `until` (or until resumed)."""
    changed = 0
    for enrollment in await _enrollments(session, prospect_id):
        if enrollment.status in {"active", "paused"}:
            enrollment.status, enrollment.paused_until = "paused", until
            enrollment.pause_reason = PAUSED_BY_REP
            enrollment.due_at = until
            enrollment.lease_owner = enrollment.lease_expires_at = None
            changed += 1
    await session.flush()
    return changed


async def resume_prospect(
    session: AsyncSession, prospect_id: int, now: datetime | None = None
) -> int:
    """Resume paused contacts and those a rep stopped; the scheduler finds their next step."""
    now = now or utcnow()
    changed = 0
    for enrollment in await _enrollments(session, prospect_id):
        by_rep = enrollment.status == "stopped" and enrollment.stop_reason in REP_STOPS
        if enrollment.status in RESUMABLE or by_rep:
            enrollment.status, enrollment.paused_until = "active", None
            enrollment.pause_reason = None
            enrollment.stop_reason = enrollment.stopped_at = None
            enrollment.due_at = now if enrollment.last_sent_at is not None else None
            changed += 1
    await session.flush()
    return changed


async def positions(
    session: AsyncSession, prospect_id: int, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Each contact's place in the sequence: step, status, next send time, why it stopped.

    A contact whose sequence a stop rule already ends (a reply not yet seen by the
    scheduler) shows as stopped with that reason: no further step will go to it.
    `GET /api/prospects/<id>` reads the same by plain SQL (`webapp/prospects/detail.py`),
    through the same `place`; tests/prospects/test_detail.py checks that both agree.
    """
    prospect = await session.get(Prospect, prospect_id)
    if prospect is None:
        raise NotFound(f"prospect {prospect_id} does not exist")
    campaign = await session.get(Campaign, prospect.campaign_id)
    account_stop = campaign.account_stop if campaign else True
    rows = (
        await session.execute(
            select(Contact, Enrollment)
            .outerjoin(Enrollment, Enrollment.contact_id == Contact.id)
            .where(Contact.prospect_id == prospect_id)
            .order_by(Contact.id)
        )
    ).all()
    contents = await rules.contents_of_contacts(session, [contact.id for contact, _ in rows])
    facts = await rules.gather_facts(
        session, [(contact.id, prospect_id) for contact, _ in rows], contents
    )
    result = []
    for contact, enrollment in rows:
        state = None
        if enrollment is not None:
            state = Enrolled(
                enrollment.step,
                enrollment.status,
                enrollment.stop_reason,
                enrollment.due_at,
                enrollment.last_sent_at,
                enrollment.paused_until,
                enrollment.pause_reason,
            )
        pending = rules.stop_reason(facts[contact.id], account_stop)
        result.append(place(contact.id, contact.email, state, pending))
    return result


class Enrolled(NamedTuple):
    """A contact's enrollment as `place` reads it (from the ORM, or from plain SQL:
    `webapp/prospects/detail.py`)."""

    step: int
    status: str
    stop_reason: str | None
    due_at: datetime | None
    last_sent_at: datetime | None
    paused_until: datetime | None
    pause_reason: str | None


def place(
    contact_id: int, email: str, enrollment: Enrolled | None, pending: str | None
) -> dict[str, Any]:
    """A contact's place in the sequence (`positions`' entry); `pending` is the reason a
    stop rule ends a sequence still going (`rules.stop_reason`), or None."""
    entry: dict[str, Any] = {
        "contact_id": contact_id,
        "email": email,
        "step": None,
        "status": "not_enrolled",
        "next_send_at": None,
        "last_sent_at": None,
        "paused_until": None,
        "pause_reason": None,
        "pause_reason_text": None,
        "stop_reason": None,
        "stop_reason_text": None,
    }
    if enrollment is not None:
        status, reason = enrollment.status, enrollment.stop_reason
        if status in {"active", "paused"} and pending is not None:
            status, reason = "stopped", pending
        entry.update(
            step=enrollment.step,
            status=status,
            next_send_at=_iso(enrollment.due_at) if status in {"active", "paused"} else None,
            last_sent_at=_iso(enrollment.last_sent_at),
            paused_until=_iso(enrollment.paused_until) if status == "paused" else None,
            pause_reason=enrollment.pause_reason if status == "paused" else None,
            pause_reason_text=PAUSE_REASONS.get(enrollment.pause_reason or "")
            if status == "paused"
            else None,
            stop_reason=reason if status == "stopped" else None,
            stop_reason_text=rules.STOP_REASONS.get(reason or "") if status == "stopped" else None,
        )
    return entry


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


async def stop_on_answer(
    session: AsyncSession,
    contact_id: int,
    prospect_id: int,
    campaign_id: int,
    reason: str,
    now: datetime | None = None,
) -> int:
    """Stop the sequence as soon as the inbox records a reply, bounce or complaint, so
    `sequence.stopped` leaves with it (the scheduler's stop rules would stop it anyway
    at the next due step); a finished sequence stays finished. A reply also stops the
    company's other contacts when the campaign's account-level rule is on."""
    going = await session.scalar(
        select(Enrollment.id).where(
            Enrollment.contact_id == contact_id, Enrollment.status.in_(("active", "paused"))
        )
    )
    stopped = await stop_contacts(session, [contact_id], reason, now) if going else 0
    if reason == "replied":
        campaign = await session.get(Campaign, campaign_id)
        if campaign is not None and campaign.account_stop:
            colleagues = await session.scalars(
                select(Enrollment.contact_id).where(
                    Enrollment.prospect_id == prospect_id,
                    Enrollment.contact_id != contact_id,
                    Enrollment.status.in_(("active", "paused")),
                )
            )
            stopped += await stop_contacts(session, list(colleagues), "colleague_replied", now)
    return stopped
