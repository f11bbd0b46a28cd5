"""The rep's workspace: follow-up marks and recorded outcomes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    ForeignKey,
    Index,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from webapp.core.models.base import Base, BigId, UTCDateTime, utcnow


class FollowUpState(Base):
    """What a rep did about a prospect on the follow-up list: done, snoozed, or closed.

    Signals (replies, clicks, opens) after `done_at` put the prospect back on the list;
    a closing outcome (not interested, wrong person) keeps it off except for a new reply.
    """

    __tablename__ = "followup_states"

    prospect_id: Mapped[int] = mapped_column(
        ForeignKey("prospects.id", ondelete="CASCADE"), primary_key=True
    )
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    snoozed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by: Mapped[str | None] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ProspectOutcome(Base):
    """An outcome a rep recorded on a prospect (meeting booked, not interested, a note...)."""

    __tablename__ = "prospect_outcomes"
    __table_args__ = (Index("ix_prospect_outcomes_prospect_time", "prospect_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    prospect_id: Mapped[int] = mapped_column(ForeignKey("prospects.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"), index=True
    )
    outcome: Mapped[str] = mapped_column(String(16))
    """replied, meeting, not_interested, wrong_person or note."""
    note: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
