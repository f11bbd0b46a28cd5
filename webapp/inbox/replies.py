"""Stored replies as the pages and the API show them, and the rep's correction of a label."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.core.errors import NotFound, ValidationFailed
from webapp.core.models import Contact, Prospect, Reply, utcnow
from webapp.inbox.reading import CLASSIFICATIONS

PAGE_SIZE = 50


@dataclass(frozen=True)
class ReplyView:
    id: int
    prospect_id: int
    prospect_name: str
    contact_email: str
    subject: str
    text: str
    classification: str
    """The rep's label when they set one, else Tune's reading."""
    corrected: bool
    received_at: datetime


def _query() -> Any:
    return (
        select(Reply, Prospect.name, Contact.email)
        .join(Prospect, Prospect.id == Reply.prospect_id)
        .join(Contact, Contact.id == Reply.contact_id)
    )


def _view(row: Any) -> ReplyView:
    reply, name, email = row
    return ReplyView(
        id=reply.id,
        prospect_id=reply.prospect_id,
        prospect_name=name,
        contact_email=email,
        subject=reply.subject,
        text=reply.text,
        classification=reply.label or reply.classification,
        corrected=reply.label is not None,
        received_at=reply.received_at,
    )


async def prospect_replies(session: AsyncSession, prospect_id: int) -> list[ReplyView]:
    """The prospect's replies, newest first."""
    rows = await session.execute(
        _query()
        .where(Reply.prospect_id == prospect_id)
        .order_by(Reply.received_at.desc(), Reply.id.desc())
    )
    return [_view(row) for row in rows]


async def campaign_replies(
    session: AsyncSession, campaign_id: int, classification: str | None = None
) -> list[ReplyView]:
    """The campaign's latest replies (at most PAGE_SIZE), newest first, of one label if given."""
    query = _query().where(Reply.campaign_id == campaign_id)
    if classification is not None:
        query = query.where(
            (Reply.label == classification)
            | (Reply.label.is_(None) & (Reply.classification == classification))
        )
    rows = await session.execute(
        query.order_by(Reply.received_at.desc(), Reply.id.desc()).limit(PAGE_SIZE)
    )
    return [_view(row) for row in rows]


def parse_label(value: object) -> str:
    label = str(value or "").strip().lower()
    if label not in CLASSIFICATIONS:
        raise ValidationFailed(
            f"label must be one of {', '.join(CLASSIFICATIONS)}", field="classification"
        )
    return label


async def relabel(session: AsyncSession, reply_id: int, label: str) -> Reply:
    """Store the rep's reading of a reply (positive, neutral or negative)."""
    reply = await session.get(Reply, reply_id)
    if reply is None:
        raise NotFound(f"reply {reply_id} not found")
    reply.label = parse_label(label)
    reply.labelled_at = utcnow()
    await session.flush()
    return reply
