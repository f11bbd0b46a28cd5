"""Mailboxes: the sending identities a campaign's emails leave from, their caps and health.

A mailbox's passwords (SMTP and IMAP) are stored sealed (webapp/core/sealing.py);
the URLs are kept with the password masked (`user:***@host`), so a page or an
export that shows a URL can never show a password.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from webapp.core.models.base import Base, BigId, UTCDateTime, utcnow


class Mailbox(Base):
    """One sending identity: From, relay, optional IMAP inbox, caps, warm-up, signature."""

    __tablename__ = "mailboxes"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    from_address: Mapped[str] = mapped_column(String(254))
    from_name: Mapped[str] = mapped_column(String(200), default="")
    smtp_url: Mapped[str] = mapped_column(String(500))
    """The relay's URL with the password masked (`smtp://user:***@host:587`)."""
    smtp_password_sealed: Mapped[str | None] = mapped_column(Text)
    imap_url: Mapped[str | None] = mapped_column(String(500))
    """The inbox's URL with the password masked, or none."""
    imap_password_sealed: Mapped[str | None] = mapped_column(Text)
    daily_cap: Mapped[int] = mapped_column(Integer, default=400)
    """Most sends in any rolling 24 hours."""
    hourly_cap: Mapped[int] = mapped_column(Integer, default=100)
    """Most sends in any rolling 60 minutes."""
    min_gap_seconds: Mapped[int] = mapped_column(Integer, default=0)
    warmup_start: Mapped[int | None] = mapped_column(Integer)
    """Warm-up: this many a day on the first day ..."""
    warmup_step: Mapped[int] = mapped_column(Integer, default=0)
    """... and this many more each day after, until `daily_cap`."""
    warmup_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    signature: Mapped[str] = mapped_column(Text, default="")
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_reason: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class CampaignMailbox(Base):
    """A mailbox a campaign sends from (none: the default mailbox of SMTP_URL)."""

    __tablename__ = "campaign_mailboxes"

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    mailbox_id: Mapped[int] = mapped_column(
        ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class SendSlot(Base):
    """One send counted against a cap (without Redis): `key` is `mailbox:<id>` or
    `domain:<recipient domain>`; rows older than a day are pruned."""

    __tablename__ = "send_slots"
    __table_args__ = (Index("ix_send_slots_key_time", "key", "taken_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[str] = mapped_column(String(300))
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime)
