"""Finding the email Tune sent that an inbound message answers or reports on.

First by Message-ID: a reply's In-Reply-To / References, a bounce's or a
complaint's copy of the original headers, a provider event's message id.
Else by address: a reply from the contact whose subject is a "Re:" of a subject
sent to them within `MATCH_WINDOW`; a bounce or complaint about an address
Tune sent to within the window.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.core.models import Contact, Content

MATCH_WINDOW = timedelta(days=90)
REPLY_PREFIX = re.compile(
    r"^\s*((re|aw|antw|antwort|wg|sv|vs|r|rv|ref|réf|res|odp|tr)\s*(\[\d+\])?\s*:\s*)+",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Sent:
    """One email Tune sent, with what recording an answer to it needs."""

    content_id: int
    campaign_id: int
    contact_id: int
    prospect_id: int
    email: str
    subject: str
    send_status: str


def _query() -> Any:
    return select(
        Content.id,
        Content.campaign_id,
        Content.contact_id,
        Content.prospect_id,
        Contact.email,
        Content.subject,
        Content.send_status,
    ).join(Contact, Contact.id == Content.contact_id)


def _sent(row: Any) -> Sent:
    return Sent(row[0], row[1], row[2], row[3], row[4], row[5], row[6])


async def by_message_ids(
    session: AsyncSession, message_ids: Sequence[str], address: str | None = None
) -> Sent | None:
    """The sent email whose Message-ID comes first in `message_ids` (to `address`, if given)."""
    if not message_ids:
        return None
    query = _query().add_columns(Content.message_id)
    query = query.where(Content.message_id.in_(list(message_ids)))
    if address:
        query = query.where(func.lower(Contact.email) == address.lower())
    rows = (await session.execute(query)).all()
    if not rows:
        return None
    order = {message_id: index for index, message_id in enumerate(message_ids)}
    best = min(rows, key=lambda row: order.get(row[-1], len(order)))
    return _sent(best)


async def by_reply_subject(
    session: AsyncSession, sender: str, subject: str, now: datetime
) -> Sent | None:
    """The latest email sent to `sender` within the window whose subject `subject` answers."""
    if not sender or not REPLY_PREFIX.match(subject):
        return None
    original = REPLY_PREFIX.sub("", subject).strip()
    row = (
        await session.execute(
            _query()
            .where(
                func.lower(Contact.email) == sender.lower(),
                Content.sent_at >= now - MATCH_WINDOW,
                Content.subject == original,
            )
            .order_by(Content.sent_at.desc(), Content.id.desc())
            .limit(1)
        )
    ).first()
    return _sent(row) if row else None


async def by_address(session: AsyncSession, address: str, now: datetime) -> Sent | None:
    """The latest email sent to `address` within the window."""
    if not address:
        return None
    row = (
        await session.execute(
            _query()
            .where(
                func.lower(Contact.email) == address.lower(),
                Content.sent_at >= now - MATCH_WINDOW,
            )
            .order_by(Content.sent_at.desc(), Content.id.desc())
            .limit(1)
        )
    ).first()
    return _sent(row) if row else None


async def reply_target(
    session: AsyncSession, message_ids: Sequence[str], sender: str, subject: str, now: datetime
) -> Sent | None:
    """What a reply answers: its In-Reply-To / References, else a "Re:" from the contact."""
    found = await by_message_ids(session, message_ids)
    return found or await by_reply_subject(session, sender, subject, now)


async def report_target(
    session: AsyncSession, message_ids: Sequence[str], address: str | None, now: datetime
) -> Sent | None:
    """What a bounce or complaint is about: the original's Message-ID sent to `address`,
    else the latest email sent to `address`."""
    if not address:
        return await by_message_ids(session, message_ids)
    found = await by_message_ids(session, message_ids, address)
    return found or await by_address(session, address, now)
