"""Whether a contact's sequence goes on: stop rules and step conditions.

The rules read what is stored (contents' first human open, click and reply,
bounce and complaint events, the contact's unsubscribe), never the request that
reported it, so a reply recorded by the API or by any other source stops a
sequence the same way. Machine opens and bot clicks never set the "first"
times, so they never satisfy a condition; and an open or click satisfies one only
once its classification has settled (`CLICK_SETTLE_SECONDS`, tracking/settle.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.core.models import Contact, Content, Event, utcnow
from webapp.tracking import settle

STOP_REASONS = {
    "replied": "replied",
    "colleague_replied": "someone at the company replied",
    "unsubscribed": "unsubscribed",
    "bounced": "bounced",
    "complained": "complained (marked as spam)",
    "stopped_by_rep": "stopped by a rep",
    "not_interested": "not interested (recorded by a rep)",
    "wrong_person": "wrong person (recorded by a rep)",
    "send_failed": "an email could not be delivered",
}
"""Every reason a sequence stops, with the words a prospect page shows."""


@dataclass(frozen=True)
class ContactFacts:
    """What has happened with one contact, across the emails of its sequence."""

    replied: bool = False
    colleague_replied: bool = False
    unsubscribed: bool = False
    bounced: bool = False
    complained: bool = False
    opened: bool = False
    clicked: bool = False


def stop_reason(facts: ContactFacts, account_stop: bool) -> str | None:
    """Why the sequence must stop for this contact, or None to go on."""
    if facts.unsubscribed:
        return "unsubscribed"
    if facts.complained:
        return "complained"
    if facts.bounced:
        return "bounced"
    if facts.replied:
        return "replied"
    if account_stop and facts.colleague_replied:
        return "colleague_replied"
    return None


def condition_met(condition: str, facts: ContactFacts) -> bool:
    """Whether a step's condition holds (a reply always fails it; stop rules run first)."""
    if facts.replied:
        return False
    if condition == "no_reply_no_open":
        return not facts.opened
    if condition == "opened_no_reply":
        return facts.opened
    if condition == "clicked_no_reply":
        return facts.clicked
    return True


async def gather_facts(
    session: AsyncSession,
    contacts: Iterable[tuple[int, int]],
    contents: Sequence[Content],
    now: datetime | None = None,
) -> dict[int, ContactFacts]:
    """Facts per contact id, for (contact_id, prospect_id) pairs and their loaded contents."""
    settled = settle.settled_before(now or utcnow())
    pairs = dict(contacts)
    if not pairs:
        return {}
    own: dict[int, list[Content]] = {contact_id: [] for contact_id in pairs}
    for content in contents:
        if content.contact_id in own:
            own[content.contact_id].append(content)
    replying_prospects = set(
        await session.scalars(
            select(Content.prospect_id)
            .where(
                Content.prospect_id.in_(sorted(set(pairs.values()))),
                Content.replied_at.is_not(None),
            )
            .distinct()
        )
    )
    unsubscribed = set(
        await session.scalars(
            select(Contact.id).where(
                Contact.id.in_(sorted(pairs)), Contact.unsubscribed_at.is_not(None)
            )
        )
    )
    flagged = await session.execute(
        select(Event.contact_id, Event.kind)
        .where(
            Event.contact_id.in_(sorted(pairs)),
            Event.kind.in_(("bounce", "complaint")),
            Event.flagged.is_(False),
        )
        .distinct()
    )
    kinds: dict[int, set[str]] = {}
    for contact_id, kind in flagged:
        kinds.setdefault(contact_id, set()).add(kind)
    facts = {}
    for contact_id, prospect_id in pairs.items():
        mine = own[contact_id]
        facts[contact_id] = ContactFacts(
            replied=any(c.replied_at is not None for c in mine),
            colleague_replied=prospect_id in replying_prospects,
            unsubscribed=contact_id in unsubscribed,
            bounced="bounce" in kinds.get(contact_id, set())
            or any(c.send_status == "bounced" for c in mine),
            complained="complaint" in kinds.get(contact_id, set()),
            opened=any(_settled(c.first_opened_at, settled) for c in mine),
            clicked=any(_settled(c.first_clicked_at, settled) for c in mine),
        )
    return facts


def _settled(moment: datetime | None, settled: datetime) -> bool:
    return moment is not None and moment <= settled


async def contents_of_contacts(session: AsyncSession, contact_ids: Iterable[int]) -> list[Content]:
    """The contacts' emails in step order (a contact belongs to one campaign)."""
    ids = sorted(set(contact_ids))
    if not ids:
        return []
    rows = await session.scalars(
        select(Content).where(Content.contact_id.in_(ids)).order_by(Content.step)
    )
    return list(rows)
