"""Outcomes a rep records on a prospect: replied (seen outside Tune), meeting booked,
not interested, wrong person, or a note.

Each is stored with its note and shown on the prospect's timeline. "Replied" is
also a reply event on the prospect's latest sent email, so it counts in the
campaign's `replied` and makes the prospect hot, as a reply read by Tune does; the
first "meeting booked" of a prospect counts in `meetings`. Every outcome but a
note takes the prospect off the follow-up list; "not interested" and "wrong
person" keep it off except for a new reply, and stop the prospect's sequence with
that reason. Every outcome is an `outcome` webhook event, written in the same
transaction.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.core.errors import ValidationFailed
from webapp.core.models import Contact, Content, Prospect, ProspectOutcome, utcnow
from webapp.core.text import unstorable_character
from webapp.prospects.queries import get_prospect
from webapp.sequences.control import stop_prospect
from webapp.tracking.events import ReplyEvent
from webapp.tracking.store import bump_counters, store_events
from webapp.webhooks.outbox import OutboxEvent, enqueue, event_detail
from webapp.workspace import followups

OUTCOMES = {
    "replied": "Marked replied",
    "meeting": "Meeting booked",
    "not_interested": "Not interested",
    "wrong_person": "Wrong person",
    "note": "Note",
}
CLOSING = {"not_interested", "wrong_person"}
NOTE_MAX = 2000


@dataclass(frozen=True)
class Recorded:
    id: int
    prospect_id: int
    campaign_id: int
    contact_id: int | None
    outcome: str
    note: str | None


def clean_outcome(outcome: object, note: object) -> tuple[str, str | None]:
    """The outcome name and its note, checked; a note needs text."""
    if not isinstance(outcome, str) or outcome not in OUTCOMES:
        raise ValidationFailed("outcome must be one of: " + ", ".join(OUTCOMES), field="outcome")
    if note is not None and not isinstance(note, str):
        raise ValidationFailed("note must be text", field="note")
    text = (note or "").strip() or None
    if text is not None:
        if len(text) > NOTE_MAX:
            raise ValidationFailed(f"note must be at most {NOTE_MAX} characters", field="note")
        problem = unstorable_character(text)
        if problem is not None:
            raise ValidationFailed(f"note {problem}", field="note")
    if outcome == "note" and text is None:
        raise ValidationFailed("note is required to record a note", field="note")
    return outcome, text


async def record_outcome(
    session: AsyncSession,
    prospect_id: int,
    outcome: object,
    note: object = None,
    *,
    user_id: int | None = None,
) -> Recorded:
    """Store one outcome with its effects, in the caller's transaction."""
    name, text = clean_outcome(outcome, note)
    prospect = await get_prospect(session, prospect_id)
    now = utcnow()
    latest = await session.scalar(
        select(Content)
        .where(Content.prospect_id == prospect_id, Content.sent_at.is_not(None))
        .order_by(Content.sent_at.desc(), Content.id.desc())
        .limit(1)
    )
    contact_id = latest.contact_id if latest else await _first_contact(session, prospect)
    if name == "replied":
        if latest is None:
            raise ValidationFailed(
                "nothing was sent to this prospect yet, so it cannot have replied",
                field="outcome",
            )
        await store_events(session, [ReplyEvent(latest.id, now, source="rep")])
    if name == "meeting" and not await _had(session, prospect_id, "meeting"):
        await bump_counters(session, {(prospect.campaign_id, prospect.tier, "meeting"): 1})
    row = ProspectOutcome(
        campaign_id=prospect.campaign_id,
        prospect_id=prospect_id,
        contact_id=contact_id,
        outcome=name,
        note=text,
        user_id=user_id,
        created_at=now,
    )
    session.add(row)
    if name != "note":
        await followups.close(session, prospect_id, name if name in CLOSING else None, now=now)
    if name in CLOSING:
        await stop_prospect(session, prospect_id, now, reason=name)
    await session.flush()
    await enqueue(
        session,
        [
            OutboxEvent(
                "outcome",
                now,
                campaign_id=prospect.campaign_id,
                prospect_id=prospect_id,
                contact_id=contact_id,
                content_id=latest.id if latest else None,
                detail=event_detail(
                    outcome=name, outcome_text=OUTCOMES[name], note=text, outcome_id=row.id
                ),
            )
        ],
    )
    return Recorded(row.id, prospect_id, prospect.campaign_id, contact_id, name, text)


async def _had(session: AsyncSession, prospect_id: int, outcome: str) -> bool:
    found = await session.scalar(
        select(ProspectOutcome.id)
        .where(ProspectOutcome.prospect_id == prospect_id, ProspectOutcome.outcome == outcome)
        .limit(1)
    )
    return found is not None


async def _first_contact(session: AsyncSession, prospect: Prospect) -> int | None:
    found: int | None = await session.scalar(
        select(Contact.id).where(Contact.prospect_id == prospect.id).order_by(Contact.id).limit(1)
    )
    return found
