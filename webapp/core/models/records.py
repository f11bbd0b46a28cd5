"""The campaign records: industries, campaigns, prospects, contacts, emails, links,
events and their counters, imports, API keys and users."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.core.models.base import NEVER_REUSED, Base, BigId, UTCDateTime, utcnow


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
        # The prospect list's other sorts (prospects/listing.py).
        Index(
            "ix_prospects_tier_activity", "campaign_id", "tier", "last_activity_at", "score", "id"
        ),
        Index("ix_prospects_tier_name", "campaign_id", "tier", text("lower(name)"), "id"),
        # Search (a substring, no seek): what it and the list's order read, without the rows.
        Index(
            "ix_prospects_search",
            "campaign_id",
            "tier",
            "name",
            "domain",
            "last_activity_at",
            "score",
            "hot",
        ),
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
    __table_args__ = (
        UniqueConstraint("campaign_id", "email", name="uq_contacts_campaign_email"),
        # Prospect search reads these from the index alone (prospects/listing.py).
        Index(
            "ix_contacts_search", "campaign_id", "email", "first_name", "last_name", "prospect_id"
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # No index of its own: `uq_contacts_campaign_email` and `ix_contacts_search` begin with it.
    # No foreign key either: it is the prospect's campaign, and the prospect's key deletes
    # the contact with it (migration 0021).
    campaign_id: Mapped[int] = mapped_column(Integer)
    prospect_id: Mapped[int] = mapped_column(
        ForeignKey("prospects.id", ondelete="CASCADE"), index=True
    )
    # No index of the address alone: Tune compares `lower(email)` (migration 0020).
    email: Mapped[str] = mapped_column(String(254))
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    title: Mapped[str | None] = mapped_column(String(200))
    seniority: Mapped[str | None] = mapped_column(String(20))
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    bounced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """A hard bounce (or three soft ones in a row) came back for this address."""
    soft_bounces: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Soft bounces since the last hard outcome or reply."""
    return_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    """Out of office until then: emails to this contact wait for it, its sequence pauses."""
    mailbox_id: Mapped[int | None] = mapped_column(
        ForeignKey("mailboxes.id", ondelete="SET NULL"), index=True
    )
    """The mailbox this contact was first written from: every follow-up leaves from it too."""
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
    """The body's source, in `format`."""
    format: Mapped[str] = mapped_column(String(10), default="html", server_default="html")
    """Either html (raw HTML) or markdown (plain text with Markdown, made safe HTML)."""
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
        # The prospect list's filters (prospects/listing.py) read only this, never the bodies.
        Index(
            "ix_contents_prospect_engagement",
            "campaign_id",
            "prospect_id",
            "sent_at",
            "first_opened_at",
            "first_clicked_at",
            "replied_at",
        ),
        NEVER_REUSED,
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
    mailbox_id: Mapped[int | None] = mapped_column(
        ForeignKey("mailboxes.id", ondelete="SET NULL"), index=True
    )
    """The mailbox it was (or is being) sent from; none for the default mailbox."""
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


class Link(Base):
    """An original URL of a content; the tracked redirect only ever goes to these."""

    __tablename__ = "links"
    __table_args__ = (
        UniqueConstraint("content_id", "position", name="uq_links_content_position"),
        NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    content_id: Mapped[int] = mapped_column(ForeignKey("contents.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    url: Mapped[str] = mapped_column(Text)


HUMAN_SIGNAL_COLUMNS = (
    "campaign_id",
    "occurred_at",
    "prospect_id",
    "contact_id",
    "kind",
    "source",
    "flagged",
)

CAMPAIGN_CLICK_COLUMNS = ("campaign_id", "link_id", "kind", "flagged", "contact_id")


class Event(Base):
    """One tracked hit: open, click, reply, unsubscribe, bounce, auto_reply or complaint.

    Append-only."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_campaign_time", "campaign_id", "occurred_at"),
        Index("ix_events_prospect_time", "prospect_id", "occurred_at"),
        Index("ix_events_content_time", "content_id", "occurred_at"),
        # Only clicks have a link: opens and the other kinds write no entry here.
        Index(
            "ix_events_link_id",
            "link_id",
            sqlite_where=text("link_id IS NOT NULL"),
            postgresql_where=text("link_id IS NOT NULL"),
        ),
        # A campaign's clicks per link, from the index alone (campaigns/engagement.py
        # `top_links_query`): the campaign page reads its clicks, not all its events.
        Index(
            "ix_events_campaign_clicks",
            *CAMPAIGN_CLICK_COLUMNS,
            sqlite_where=text("link_id IS NOT NULL"),
            postgresql_where=text("link_id IS NOT NULL"),
        ),
        # A campaign's flagged opens and clicks by reason (tracking/reclassify.py
        # `FLAG_REASONS`): counted from the flagged hits alone.
        Index(
            "ix_events_flag_reasons",
            "campaign_id",
            "kind",
            "flag_reason",
            sqlite_where=text("flagged"),
            postgresql_where=text("flagged"),
        ),
        # The follow-up list reads only human signals of a campaign's last days, from
        # this index alone (workspace/followups.py); machine hits are left out of it.
        Index(
            "ix_events_human_signals",
            *HUMAN_SIGNAL_COLUMNS,
            sqlite_where=text("flagged = 0"),
            postgresql_where=text("flagged = false"),
        ),
        NEVER_REUSED,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    # The email's campaign, contact and prospect, copied from it by the writer: no
    # foreign keys of their own (migration 0020), the email's deletes the event.
    campaign_id: Mapped[int] = mapped_column(Integer)
    content_id: Mapped[int | None] = mapped_column(ForeignKey("contents.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(BigId, index=True)
    prospect_id: Mapped[int] = mapped_column(BigId)
    tier: Mapped[int] = mapped_column(SmallInteger)
    # One of the email's links. No foreign key on PostgreSQL (migration 0022): links
    # go only with their email, whose key deletes the event. SQLite keeps its key
    # `fk_events_link_id_links` (ON DELETE SET NULL), which comparisons leave out.
    link_id: Mapped[int | None] = mapped_column(BigId)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    flag_reason: Mapped[str | None] = mapped_column(String(40))
    unique_hit: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(16), default="pixel")
    user_agent: Mapped[str | None] = mapped_column(String(300))
    ip_hash: Mapped[str | None] = mapped_column(String(64))
    ip_prefix: Mapped[str | None] = mapped_column(String(50))
    ruleset: Mapped[int | None] = mapped_column(SmallInteger)
    """The version of the rules that judged this hit (tracking/machines.py `RULESET`);
    0 when a rep marked it human or machine by hand; None for reported events."""


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


class CampaignFigures(Base):
    """A campaign's sizes and sending state, kept exact by the database's own triggers
    (migration 0017) on every write to its prospects, contacts and emails.

    The campaign read (`GET /api/campaigns/<id>`) takes its counts and status from this
    one row instead of counting the campaign's rows. Tune's code never writes it.
    """

    __tablename__ = "campaign_figures"

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    prospects: Mapped[int] = mapped_column(BigInteger, server_default="0")
    contacts: Mapped[int] = mapped_column(BigInteger, server_default="0")
    contents: Mapped[int] = mapped_column(BigInteger, server_default="0")
    pending: Mapped[int] = mapped_column(BigInteger, server_default="0")
    """Emails queued or sending."""
    sent: Mapped[int] = mapped_column(BigInteger, server_default="0")
    """Emails with a `sent_at`."""
    last_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """The newest `sent_at` of the campaign's emails."""


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
    total: Mapped[int | None] = mapped_column(Integer)
    """Records in the file, when known: the progress bar's 100%."""
    warned: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Rows imported with a bad optional value left blank; `warnings` keeps the first 100."""
    warnings: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    columns: Mapped[list[str] | None] = mapped_column(JSON)
    """The CSV's header, for the rejected rows' download."""


class ImportReject(Base):
    """A row an import rejected, as it was in the file, so it can be fixed and re-uploaded."""

    __tablename__ = "import_rejects"
    __table_args__ = (Index("ix_import_rejects_job_id_line", "job_id", "line"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("import_jobs.id", ondelete="CASCADE"))
    line: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(500))
    record: Mapped[list[str] | None] = mapped_column(JSON)
    """The row's cells in the file's column order (None when the line was unreadable)."""


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
