"""Tune's tables as typed SQLAlchemy models.

The schema is created by the Alembic migrations in `webapp/core/migrations`; a test
checks that the migrations and these models agree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# SQLite only auto-increments INTEGER PRIMARY KEY, so big ids are BigInteger elsewhere.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Industry(Base):
    __tablename__ = "industries"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(50), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(500), default="")
    profile: Mapped[str] = mapped_column(String(50))
    """Name of the scoring profile file (`webapp/prospects/scoring/profiles/<profile>.toml`)."""


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    industry_id: Mapped[int] = mapped_column(ForeignKey("industries.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="draft")
    tracking_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Sequences: the account-level stop rule, the send window and how variants are judged.
    account_stop: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    send_days: Mapped[str] = mapped_column(String(7), default="1234567", server_default="1234567")
    """ISO weekdays (1 = Monday) a follow-up may go out on, in the contact's local time."""
    send_from_hour: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    send_until_hour: Mapped[int] = mapped_column(SmallInteger, default=24, server_default="24")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    """For contacts whose country is unknown or spans several time zones."""
    winner_metric: Mapped[str] = mapped_column(String(10), default="reply", server_default="reply")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    industry: Mapped[Industry] = relationship(lazy="joined")


class Prospect(Base):
    """A company in a campaign; its contacts are the people Tune writes to."""

    __tablename__ = "prospects"
    __table_args__ = (
        UniqueConstraint("campaign_id", "company_key", name="uq_prospects_campaign_company"),
        # Tier pages: hot first, then score, keyset on id.
        Index("ix_prospects_tier_order", "campaign_id", "tier", "hot", "score", "id"),
        Index("ix_prospects_campaign_activity", "campaign_id", "last_activity_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    company_key: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(200))
    domain: Mapped[str | None] = mapped_column(String(255))
    industry: Mapped[str | None] = mapped_column(String(100))
    employees: Mapped[int | None] = mapped_column(BigInteger)
    revenue: Mapped[int | None] = mapped_column(BigInteger)
    country: Mapped[str | None] = mapped_column(String(100))
    notes: Mapped[str | None] = mapped_column(Text)
    tier: Mapped[int] = mapped_column(SmallInteger, default=3)
    score: Mapped[int] = mapped_column(SmallInteger, default=0)
    score_reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    profile_version: Mapped[int] = mapped_column(Integer, default=0)
    hot: Mapped[bool] = mapped_column(Boolean, default=False)
    last_activity_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    contacts: Mapped[list[Contact]] = relationship(
        back_populates="prospect", order_by="Contact.id", lazy="raise"
    )


class Contact(Base):
    """A person at a prospect. Unique per campaign by email (re-imports are idempotent)."""

    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("campaign_id", "email", name="uq_contacts_campaign_email"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    prospect_id: Mapped[int] = mapped_column(
        ForeignKey("prospects.id", ondelete="CASCADE"), index=True
    )
    email: Mapped[str] = mapped_column(String(254), index=True)
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    title: Mapped[str | None] = mapped_column(String(200))
    seniority: Mapped[str | None] = mapped_column(String(20))
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    bounced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """A hard bounce (or three soft ones in a row) came back for this address."""
    soft_bounces: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Soft bounces since the last hard outcome or reply."""
    return_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """Out of office until then: emails to this contact wait for it."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    prospect: Mapped[Prospect] = relationship(back_populates="contacts", lazy="raise")


class EmailTemplateRow(Base):
    """The email template of one tier of one campaign (Jinja2, sandboxed)."""

    __tablename__ = "templates"
    __table_args__ = (UniqueConstraint("campaign_id", "tier", name="uq_templates_campaign_tier"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    tier: Mapped[int] = mapped_column(SmallInteger)
    subject: Mapped[str] = mapped_column(String(300))
    html: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Content(Base):
    """The email written for one contact in one campaign, and its place in the send queue."""

    __tablename__ = "contents"
    __table_args__ = (
        UniqueConstraint(
            "campaign_id", "contact_id", "step", name="uq_contents_campaign_contact_step"
        ),
        Index("ix_contents_send_queue", "send_status", "next_attempt_at"),
        Index("ix_contents_campaign_status", "campaign_id", "send_status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    prospect_id: Mapped[int] = mapped_column(
        ForeignKey("prospects.id", ondelete="CASCADE"), index=True
    )
    tier: Mapped[int] = mapped_column(SmallInteger)
    step: Mapped[int] = mapped_column(SmallInteger, default=1, server_default="1")
    """The sequence step this email is (1 = the first email)."""
    variant: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    """The step's variant (0 = A) this contact was given."""
    in_reply_to: Mapped[str | None] = mapped_column(String(255))
    """A follow-up's In-Reply-To: the Message-ID of the contact's previous step."""
    thread_refs: Mapped[str | None] = mapped_column(Text)
    """A follow-up's References header: the Message-IDs of the thread so far."""
    subject: Mapped[str] = mapped_column(String(300))
    html: Mapped[str] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(255))
    # Send queue: draft, queued, sending, sent, failed, skipped_unsubscribed,
    # skipped_suppressed, bounced.
    send_status: Mapped[str] = mapped_column(String(24), default="draft")
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # First human open / click; the uniqueness of the counters hangs on these.
    first_opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_clicked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_clicked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    links: Mapped[list[Link]] = relationship(order_by="Link.position", lazy="raise")


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
    stop_reason: Mapped[str | None] = mapped_column(String(40))
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Link(Base):
    """An original URL of a content; the tracked redirect only ever goes to these."""

    __tablename__ = "links"
    __table_args__ = (UniqueConstraint("content_id", "position", name="uq_links_content_position"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    content_id: Mapped[int] = mapped_column(ForeignKey("contents.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    url: Mapped[str] = mapped_column(Text)


class Event(Base):
    """One tracked hit: open, click, reply, unsubscribe, bounce, auto_reply or complaint.

    Append-only."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_campaign_time", "campaign_id", "occurred_at"),
        Index("ix_events_prospect_time", "prospect_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    content_id: Mapped[int | None] = mapped_column(
        ForeignKey("contents.id", ondelete="CASCADE"), index=True
    )
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    prospect_id: Mapped[int] = mapped_column(ForeignKey("prospects.id", ondelete="CASCADE"))
    tier: Mapped[int] = mapped_column(SmallInteger)
    link_id: Mapped[int | None] = mapped_column(
        ForeignKey("links.id", ondelete="SET NULL"), index=True
    )
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    flag_reason: Mapped[str | None] = mapped_column(String(40))
    unique_hit: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(16), default="pixel")
    user_agent: Mapped[str | None] = mapped_column(String(300))
    ip_hash: Mapped[str | None] = mapped_column(String(64))
    ip_prefix: Mapped[str | None] = mapped_column(String(50))


class CampaignCounter(Base):
    """Aggregates per campaign × tier × counter, updated in the event transaction.

    Pages and the stats API read these instead of counting events. Counter names:
    sent, open_total, open_unique, open_machine, click_total, click_unique,
    click_bot, reply, unsubscribe, bounce, auto_reply, complaint, meeting (prospects with a
    meeting booked), followup_marks (follow-ups marked done or snoozed: moves live pages).
    """

    __tablename__ = "campaign_counters"

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    tier: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class ActivityBucket(Base):
    """Hourly counts per campaign and event kind, for the activity chart."""

    __tablename__ = "activity_buckets"

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    bucket: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class ImportJob(Base):
    """One CSV/JSON import: its progress and its report."""

    __tablename__ = "import_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), index=True
    )
    source: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="running")
    rows_seen: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    owner: Mapped[str | None] = mapped_column(String(200))
    """The process running it ("host:pid:start"), so a restart can tell a dead import."""


class ApiKey(Base):
    """An API key, stored as its SHA-256 digest; the clear key is shown once."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class User(Base):
    """A dashboard user; the password is kept as a slow KDF hash."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Part of every session's signature: bumping it ends all of the user's sessions."""


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


class WebhookEndpoint(Base):
    """A URL that receives Tune's events, signed with its secret (Standard Webhooks).

    Secrets are stored encrypted (webapp/webhooks/signing.py); during a rotation the
    previous secret keeps signing too until `previous_secret_expires_at`.
    """

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(200), default="")
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    include_flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    """Also machine opens and bot clicks (flagged, with their reason)."""
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    secret_encrypted: Mapped[str] = mapped_column(Text)
    previous_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    disabled_reason: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class WebhookDelivery(Base):
    """The outbox: one event for one endpoint, written in the event's own transaction.

    Statuses: pending, delivering (leased), delivered, failed (gave up). Rows of one
    endpoint and contact (`order_key`) are delivered in id order.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_order", "endpoint_id", "order_key", "id"),
        Index("ix_webhook_deliveries_endpoint_recent", "endpoint_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    message_id: Mapped[str] = mapped_column(String(40))
    event_type: Mapped[str] = mapped_column(String(32))
    order_key: Mapped[int] = mapped_column(BigInteger, default=0)
    """The contact id: deliveries of one contact to one endpoint go out in order."""
    campaign_id: Mapped[int | None] = mapped_column(BigInteger)
    prospect_id: Mapped[int | None] = mapped_column(BigInteger)
    contact_id: Mapped[int | None] = mapped_column(BigInteger)
    content_id: Mapped[int | None] = mapped_column(BigInteger)
    link_id: Mapped[int | None] = mapped_column(BigInteger)
    flag_reason: Mapped[str | None] = mapped_column(String(40))
    detail: Mapped[str | None] = mapped_column(Text)
    """Event-specific text: a reply excerpt, a failure reason, a classification."""
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    body: Mapped[str | None] = mapped_column(Text)
    """The JSON sent, fixed at the first attempt so every retry sends the same bytes."""
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None] = mapped_column(SmallInteger)
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


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
