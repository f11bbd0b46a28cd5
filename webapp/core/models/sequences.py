"""Follow-up sequences: steps, their variants and templates, and each contact's place."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from webapp.core.models.base import Base, BigId, UTCDateTime, utcnow


class SequenceStep(Base):
    """One step of a campaign's sequence; step 1 is the first email, later ones follow up."""

    __tablename__ = "sequence_steps"
    __table_args__ = (
        UniqueConstraint("campaign_id", "position", name="uq_sequence_steps_campaign_position"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(SmallInteger)
    delay: Mapped[str] = mapped_column(String(40), default="PT0S")
    """ISO 8601 duration after the previous step was sent to the contact, as written."""
    delay_seconds: Mapped[int] = mapped_column(Integer, default=0)
    condition: Mapped[str] = mapped_column(String(24), default="no_reply")
    as_reply: Mapped[bool] = mapped_column(Boolean, default=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    test_share: Mapped[int | None] = mapped_column(SmallInteger)
    """Test then winner: the percentage of contacts that get the variants first (None: all)."""
    test_wait: Mapped[str | None] = mapped_column(String(40))
    """ISO 8601 duration from the first test email to choosing the winner, as written."""
    test_wait_seconds: Mapped[int | None] = mapped_column(Integer)
    test_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    winner: Mapped[int | None] = mapped_column(SmallInteger)
    """The variant the rest get, once chosen."""
    winner_reason: Mapped[str | None] = mapped_column(String(16))
    """`probability` (past 95%) or `leader` (the best rate when the wait ran out)."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SequenceVariant(Base):
    """A/B variant of a step (0 = A ... 3 = D); a step without rows has only A."""

    __tablename__ = "sequence_variants"
    __table_args__ = (
        UniqueConstraint("step_id", "variant", name="uq_sequence_variants_step_variant"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    step_id: Mapped[int] = mapped_column(ForeignKey("sequence_steps.id", ondelete="CASCADE"))
    variant: Mapped[int] = mapped_column(SmallInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StepTemplate(Base):
    """A step's template for one tier (or every tier: tier 0) and one variant.

    Step 1 variant A keeps using the campaign's per-tier `templates`.
    """

    __tablename__ = "step_templates"
    __table_args__ = (
        UniqueConstraint("step_id", "variant", "tier", name="uq_step_templates_step_variant_tier"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    step_id: Mapped[int] = mapped_column(ForeignKey("sequence_steps.id", ondelete="CASCADE"))
    variant: Mapped[int] = mapped_column(SmallInteger, default=0)
    tier: Mapped[int] = mapped_column(SmallInteger)
    subject: Mapped[str] = mapped_column(String(300))
    html: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Enrollment(Base):
    """Where one contact is in its campaign's sequence, and when its next step is due.

    `due_at` is set only while something is to be done (a step due, a pause
    ending, a lease to take over), so the scheduler's index holds only live work.
    """

    __tablename__ = "sequence_enrollments"
    __table_args__ = (Index("ix_sequence_enrollments_due", "due_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    prospect_id: Mapped[int] = mapped_column(
        ForeignKey("prospects.id", ondelete="CASCADE"), index=True
    )
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), unique=True
    )
    step: Mapped[int] = mapped_column(SmallInteger, default=1)
    """The last step written for the contact."""
    status: Mapped[str] = mapped_column(String(12), default="active")
    """active, paused, stopped or finished."""
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pause_reason: Mapped[str | None] = mapped_column(String(40))
    """Why it is paused: `paused_by_rep`, or `out_of_office` (an automatic answer's return
    date); the pause ends by itself at `paused_until`."""
    stop_reason: Mapped[str | None] = mapped_column(String(40))
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
