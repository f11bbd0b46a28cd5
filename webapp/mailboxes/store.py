"""Mailboxes in the database: create, read, change, delete, pause and resume; the
campaigns that send from them; their passwords sealed and their URLs masked.

A URL given with a password is stored with `***` in its place and the password
sealed apart (webapp/core/sealing.py). A change that gives the URL back masked, or
with the user name alone, keeps the stored password; so a form can show the masked
URL for editing and the password is never shown again after saving.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import formataddr
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.campaigns.queries import get_campaign
from webapp.core.config import Config
from webapp.core.db import Database
from webapp.core.errors import ConfigError, Conflict, NotFound, ValidationFailed
from webapp.core.models import CampaignMailbox, Contact, Content, Mailbox, utcnow
from webapp.core.sealing import open_secret, reseal, seal
from webapp.inbox.mailbox import MailboxUrl, parse_mailbox_url
from webapp.outbound.smtp.url import SmtpSettings, parse_smtp_url

PURPOSE = b"tune mailbox passwords v1"
MASK = "***"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}$")
ADDRESS = re.compile(r"^[^@\s<>\"(),;:]+@[A-Za-z0-9.-]+\.[A-Za-z0-9-]{2,}$")
CAP_MAX = 100_000
DEFAULT_DAILY = 400
DEFAULT_HOURLY = 100
FIELDS = (
    "name",
    "from_address",
    "from_name",
    "smtp_url",
    "imap_url",
    "daily_cap",
    "hourly_cap",
    "min_gap_seconds",
    "warmup_start",
    "warmup_step",
    "signature",
)


# --- passwords ------------------------------------------------------------------------


def mask_url(url: str) -> tuple[str, str | None]:
    """The URL with its password replaced by `***`, and the password (percent-encoded
    as written) or None."""
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if not at:
        return url, None
    user, colon, password = userinfo.partition(":")
    if not colon or not password or password == MASK:
        return url, None
    return urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{hostport}")), password


def unmask_url(masked: str, password: str | None) -> str:
    """The masked URL with the password put back (the form the URL parsers read)."""
    if password is None:
        return masked
    parts = urlsplit(masked)
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{hostport}"))


def _has_user(url: str) -> bool:
    return "@" in urlsplit(url).netloc


def _add_mask(url: str) -> str:
    """`smtp://user@host` → `smtp://user:***@host`, the stored form of a URL whose
    password is kept apart."""
    parts = urlsplit(url)
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{hostport}"))


def smtp_settings(config: Config, mailbox: Mailbox) -> SmtpSettings:
    """The relay settings of a mailbox, its password unsealed (never logged: repr hides it)."""
    return parse_smtp_url(unmask_url(mailbox.smtp_url, _password(config, mailbox, "smtp")))


def imap_url(config: Config, mailbox: Mailbox) -> MailboxUrl | None:
    """The inbox of a mailbox, its password unsealed; None when it has no IMAP URL."""
    if not mailbox.imap_url:
        return None
    url = unmask_url(mailbox.imap_url, _password(config, mailbox, "imap"))
    return parse_mailbox_url(url, name=f"mailbox {mailbox.name} imap_url")


def _password(config: Config, mailbox: Mailbox, kind: str) -> str | None:
    sealed = mailbox.smtp_password_sealed if kind == "smtp" else mailbox.imap_password_sealed
    if sealed is None:
        return None
    return open_secret(config.secret_key, PURPOSE, sealed, config.previous_secret_keys)


def from_header(mailbox: Mailbox) -> str:
    return formataddr((mailbox.from_name, mailbox.from_address))


async def rekey(session: AsyncSession, config: Config) -> int:
    """Re-encrypt every stored password under the current TUNE_SECRET_KEY; returns how many."""
    count = 0
    for mailbox in await list_mailboxes(session):
        for attribute in ("smtp_password_sealed", "imap_password_sealed"):
            stored = getattr(mailbox, attribute)
            if stored is not None:
                setattr(
                    mailbox,
                    attribute,
                    reseal(config.secret_key, PURPOSE, stored, config.previous_secret_keys),
                )
                count += 1
    await session.flush()
    return count


# --- validation -----------------------------------------------------------------------


def _text(value: Any, field: str, limit: int, *, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationFailed(f"{field} must be text", field=field)
    value = value.strip()
    if required and not value:
        raise ValidationFailed(f"{field} is required", field=field)
    if len(value) > limit:
        raise ValidationFailed(f"{field} is longer than {limit} characters", field=field)
    return value


def _count(value: Any, field: str, *, minimum: int = 0, maximum: int = CAP_MAX) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            value = int(str(value).strip())
        except ValueError:
            raise ValidationFailed(f"{field} must be a whole number", field=field) from None
    if not minimum <= value <= maximum:
        raise ValidationFailed(f"{field} must be between {minimum} and {maximum}", field=field)
    return int(value)


def check_name(value: Any) -> str:
    name = _text(value, "name", 100, required=True)
    if not NAME.match(name):
        raise ValidationFailed(
            "name may use letters, digits and . _ @ + - (no spaces)", field="name"
        )
    return name


def check_address(value: Any) -> str:
    address = _text(value, "from_address", 254, required=True)
    if not ADDRESS.match(address):
        raise ValidationFailed("from_address must be an email address", field="from_address")
    return address


def _split(url: str, field: str) -> tuple[str, str | None]:
    try:
        return mask_url(url)
    except ValueError:
        raise ValidationFailed(f"{field} is not a URL", field=field) from None


@dataclass
class _Url:
    masked: str | None
    sealed: str | None


def _check_smtp(config: Config, value: Any, previous: Mailbox | None) -> _Url:
    url = _text(value, "smtp_url", 500, required=True)
    masked, password = _split(url, "smtp_url")
    sealed = seal(config.secret_key, PURPOSE, password) if password else None
    if password is None and previous is not None and _has_user(url):
        sealed = previous.smtp_password_sealed  # given back masked: keep the password
        if sealed is not None:
            masked = _add_mask(url)
    clear = None if sealed is None else (password or _password(config, previous, "smtp"))  # type: ignore[arg-type]
    try:
        parse_smtp_url(unmask_url(masked, clear))
    except ConfigError as exc:
        raise ValidationFailed(str(exc).replace("SMTP_URL", "smtp_url"), field="smtp_url") from None
    return _Url(masked, sealed)


def _check_imap(config: Config, value: Any, previous: Mailbox | None) -> _Url:
    url = _text(value, "imap_url", 500)
    if not url:
        return _Url(None, None)
    masked, password = _split(url, "imap_url")
    sealed = seal(config.secret_key, PURPOSE, password) if password else None
    if password is None and previous is not None and _has_user(url):
        sealed = previous.imap_password_sealed
        if sealed is not None:
            masked = _add_mask(url)
    clear = None if sealed is None else (password or _password(config, previous, "imap"))  # type: ignore[arg-type]
    try:
        parse_mailbox_url(unmask_url(masked, clear), name="imap_url")
    except ConfigError as exc:
        raise ValidationFailed(str(exc), field="imap_url") from None
    return _Url(masked, sealed)


def _apply(
    config: Config, mailbox: Mailbox, data: dict[str, Any], previous: Mailbox | None
) -> None:
    unknown = set(data) - set(FIELDS)
    if unknown:
        field = sorted(unknown)[0]
        raise ValidationFailed(f"unknown field {field!r}", field=field)
    now = utcnow()
    if "name" in data:
        mailbox.name = check_name(data["name"])
    if "from_address" in data:
        mailbox.from_address = check_address(data["from_address"])
    if "from_name" in data:
        mailbox.from_name = _text(data["from_name"], "from_name", 200)
    if "smtp_url" in data:
        smtp = _check_smtp(config, data["smtp_url"], previous)
        mailbox.smtp_url, mailbox.smtp_password_sealed = str(smtp.masked), smtp.sealed
    if "imap_url" in data:
        imap = _check_imap(config, data["imap_url"], previous)
        mailbox.imap_url, mailbox.imap_password_sealed = imap.masked, imap.sealed
    for field in ("daily_cap", "hourly_cap"):
        if field in data and data[field] is not None:
            setattr(mailbox, field, _count(data[field], field, minimum=1))
    if "min_gap_seconds" in data and data["min_gap_seconds"] is not None:
        mailbox.min_gap_seconds = _count(data["min_gap_seconds"], "min_gap_seconds", maximum=86400)
    if "warmup_start" in data:
        start = data["warmup_start"]
        warmup = None if start in (None, "", 0) else _count(start, "warmup_start", minimum=1)
        if warmup != mailbox.warmup_start:
            mailbox.warmup_started_at = now if warmup is not None else None
        mailbox.warmup_start = warmup
    if "warmup_step" in data and data["warmup_step"] is not None:
        mailbox.warmup_step = _count(data["warmup_step"], "warmup_step")
    if "signature" in data:
        mailbox.signature = _text(data["signature"], "signature", 2000)
    if mailbox.hourly_cap > mailbox.daily_cap:
        raise ValidationFailed("hourly_cap cannot be above daily_cap", field="hourly_cap")


# --- CRUD -----------------------------------------------------------------------------


async def create_mailbox(session: AsyncSession, config: Config, data: dict[str, Any]) -> Mailbox:
    """A new mailbox from the API's fields; only name, from_address and smtp_url are required."""
    for required in ("name", "from_address", "smtp_url"):
        if data.get(required) in (None, ""):
            raise ValidationFailed(f"{required} is required", field=required)
    mailbox = Mailbox(
        from_name="",
        daily_cap=DEFAULT_DAILY,
        hourly_cap=DEFAULT_HOURLY,
        min_gap_seconds=0,
        warmup_step=0,
        signature="",
    )
    _apply(config, mailbox, {key: value for key, value in data.items() if value is not None}, None)
    if await _named(session, mailbox.name) is not None:
        raise Conflict(f"a mailbox named {mailbox.name!r} already exists", field="name")
    session.add(mailbox)
    await session.flush()
    return mailbox


async def _named(session: AsyncSession, name: str) -> Mailbox | None:
    return await session.scalar(select(Mailbox).where(Mailbox.name == name))


async def get_mailbox(session: AsyncSession, name: str) -> Mailbox:
    mailbox = await _named(session, name)
    if mailbox is None:
        raise NotFound(f"mailbox {name!r} does not exist")
    return mailbox


async def list_mailboxes(session: AsyncSession) -> list[Mailbox]:
    return list(await session.scalars(select(Mailbox).order_by(Mailbox.name)))


async def update_mailbox(
    session: AsyncSession, config: Config, name: str, changes: dict[str, Any]
) -> Mailbox:
    """Change the fields given; a URL given back masked keeps its stored password."""
    mailbox = await get_mailbox(session, name)
    before = Mailbox(
        smtp_password_sealed=mailbox.smtp_password_sealed,
        imap_password_sealed=mailbox.imap_password_sealed,
    )
    _apply(config, mailbox, changes, before)
    if mailbox.name != name and await _named(session, mailbox.name) is not None:
        raise Conflict(f"a mailbox named {mailbox.name!r} already exists", field="name")
    mailbox.updated_at = utcnow()
    await session.flush()
    return mailbox


async def delete_mailbox(session: AsyncSession, name: str) -> None:
    """Delete a mailbox; its contacts are assigned afresh when next written to."""
    mailbox = await get_mailbox(session, name)
    await session.execute(
        update(Contact).where(Contact.mailbox_id == mailbox.id).values(mailbox_id=None)
    )
    await session.execute(
        update(Content).where(Content.mailbox_id == mailbox.id).values(mailbox_id=None)
    )
    await session.delete(mailbox)
    await session.flush()


async def pause_mailbox(
    session: AsyncSession, name: str, reason: str = "paused by a rep", now: datetime | None = None
) -> Mailbox:
    mailbox = await get_mailbox(session, name)
    if mailbox.paused_at is None:
        mailbox.paused_at = now or utcnow()
        mailbox.paused_reason = reason[:300]
        await session.flush()
    return mailbox


async def resume_mailbox(session: AsyncSession, name: str, now: datetime | None = None) -> Mailbox:
    """Resume a paused mailbox; emails that waited for it are due at once."""
    mailbox = await get_mailbox(session, name)
    now = now or utcnow()
    mailbox.paused_at = None
    mailbox.paused_reason = None
    # Its contacts' emails, and first emails of its campaigns that found every mailbox paused.
    waiting = select(Contact.id).where(Contact.mailbox_id == mailbox.id)
    campaigns = select(CampaignMailbox.campaign_id).where(CampaignMailbox.mailbox_id == mailbox.id)
    unassigned = select(Contact.id).where(
        Contact.mailbox_id.is_(None), Contact.campaign_id.in_(campaigns)
    )
    for contacts in (waiting, unassigned):
        await session.execute(
            update(Content)
            .where(
                Content.send_status == "queued",
                Content.contact_id.in_(contacts),
                Content.next_attempt_at > now,
                Content.attempts == 0,
            )
            .values(next_attempt_at=now)
            .execution_options(synchronize_session=False)
        )
    await session.flush()
    return mailbox


# --- campaigns ------------------------------------------------------------------------


async def campaign_mailboxes(session: AsyncSession, campaign_id: int) -> list[Mailbox]:
    """The mailboxes a campaign sends from, by name (empty: the default mailbox)."""
    return list(
        await session.scalars(
            select(Mailbox)
            .join(CampaignMailbox, CampaignMailbox.mailbox_id == Mailbox.id)
            .where(CampaignMailbox.campaign_id == campaign_id)
            .order_by(Mailbox.name)
        )
    )


async def set_campaign_mailboxes(
    session: AsyncSession, campaign_id: int, names: Sequence[Any]
) -> list[Mailbox]:
    """Send the campaign from these mailboxes (none: the default mailbox). Contacts already
    written to keep their mailbox; new ones are spread over these."""
    await get_campaign(session, campaign_id)
    if not isinstance(names, list | tuple) or not all(isinstance(n, str) for n in names):
        raise ValidationFailed("mailboxes must be a list of mailbox names", field="mailboxes")
    chosen: list[Mailbox] = []
    for name in dict.fromkeys(names):
        mailbox = await _named(session, name)
        if mailbox is None:
            raise ValidationFailed(f"mailbox {name!r} does not exist", field="mailboxes")
        chosen.append(mailbox)
    await session.execute(delete(CampaignMailbox).where(CampaignMailbox.campaign_id == campaign_id))
    for mailbox in chosen:
        session.add(CampaignMailbox(campaign_id=campaign_id, mailbox_id=mailbox.id))
    await session.flush()
    return sorted(chosen, key=lambda mailbox: mailbox.name)


async def any_mailbox(db: Database) -> bool:
    """Whether any mailbox exists (so a server starts its sender and inbox readers)."""
    async with db.read() as session:
        return await session.scalar(select(Mailbox.id).limit(1)) is not None
