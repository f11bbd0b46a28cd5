"""What the mailbox brought: replies, folder state, handled messages, suppressed addresses."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from webapp.core.models.base import Base, BigId, UTCDateTime, utcnow


class Reply(Base):
    """A human answer to an email Tune sent, as read from the mailbox."""

    __tablename__ = "replies"
    __table_args__ = (
        Index("ix_replies_campaign_time", "campaign_id", "received_at"),
        Index("ix_replies_prospect_time", "prospect_id", "received_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    content_id: Mapped[int] = mapped_column(
        ForeignKey("contents.id", ondelete="CASCADE"), index=True
    )
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    prospect_id: Mapped[int] = mapped_column(ForeignKey("prospects.id", ondelete="CASCADE"))
    sender: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    text: Mapped[str] = mapped_column(Text)
    """The answer itself: quoted history and signature taken off."""
    classification: Mapped[str] = mapped_column(String(16))
    """positive, neutral or negative, as Tune read it."""
    label: Mapped[str | None] = mapped_column(String(16))
    """The rep's correction of `classification`, when they made one."""
    labelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    message_id: Mapped[str | None] = mapped_column(String(255))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class InboxFolder(Base):
    """Where reading one mailbox folder stands, and which process may read it now."""

    __tablename__ = "inbox_folders"

    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox: Mapped[str] = mapped_column(String(255), unique=True)
    """user@host:port/folder (never the password)."""
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    """The highest UID processed under `uidvalidity`."""
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class InboxReceipt(Base):
    """A message or provider event already handled: the same one again changes nothing."""

    __tablename__ = "inbox_receipts"
    __table_args__ = (UniqueConstraint("source", "key", name="uq_inbox_receipts_source_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    """imap, ses, sendgrid, postmark or mailgun."""
    key: Mapped[str] = mapped_column(String(255))
    """The Message-ID (imap) or the provider's event id."""
    outcome: Mapped[str] = mapped_column(String(24))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Suppression(Base):
    """An address Tune never writes to again, in any campaign."""

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    """Lower-cased."""
    reason: Mapped[str] = mapped_column(String(24))
    """hard_bounce, soft_bounces or complaint."""
    detail: Mapped[str | None] = mapped_column(String(300))
    source: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
