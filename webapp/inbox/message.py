"""What one inbound message is: a human reply, an automatic answer, a bounce or a complaint.

The raw bytes are read with the standard library's email parser. Delivery
status notifications are read from their RFC 3464 `message/delivery-status`
part; bounces in the many non-standard formats mail servers still send are left
to flufl.bounce's detectors. Spam complaints are ARF reports (RFC 5965).
Automatic answers are told by their RFC 3834 headers and the vendor headers and
subjects real systems use.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage, Message
from email.utils import getaddresses, parseaddr, parsedate_to_datetime
from enum import StrEnum

import flufl.bounce

from webapp.inbox.reading import html_to_text

# flufl.bounce logs every detector it tries at INFO: one line per detector per message.
logging.getLogger("flufl.bounce").setLevel(logging.WARNING)

MESSAGE_ID = re.compile(r"<[^<>\s]+@[^<>\s]+>")
STATUS_CODE = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
SMTP_REPLY = re.compile(r"\b([45])\d\d[ -]")
DAEMONS = {"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon", "bounce", "bounces"}
BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|delivery status notification|delivery failure|returned mail|"
    r"failure notice|mail delivery failed|nicht zustellbar|unzustellbar|non remis|"
    r"no se puede entregar|non recapitabile",
    re.IGNORECASE,
)
AUTO_SUBJECT = re.compile(
    r"^\s*(automatic reply|auto(matic)?[- ]?(reply|response|antwort)|out of (the )?office|"
    r"ooo\b|away from (the )?office|on vacation|vacation reply|abwesenheitsnotiz|"
    r"automatische antwort|abwesend|au(ss|ß)er haus|réponse automatique|reponse automatique|"
    r"absent(e)? du bureau|absence|respuesta automática|respuesta automatica|"
    r"fuera de la oficina|risposta automatica|fuori ufficio|automatisch antwoord|afwezig|"
    r"autosvar|automatisk svar)",
    re.IGNORECASE,
)


class Kind(StrEnum):
    REPLY = "reply"
    AUTO_REPLY = "auto_reply"
    BOUNCE = "bounce"
    COMPLAINT = "complaint"


@dataclass(frozen=True)
class Failure:
    """One recipient a bounce is about."""

    address: str
    hard: bool
    status: str
    """The enhanced status code (5.1.1), or 5.0.0 / 4.0.0 when the report gave none."""


@dataclass(frozen=True)
class Inbound:
    """The facts of one inbound message that Tune acts on."""

    kind: Kind
    message_id: str | None
    sender: str
    """The From address, lower-cased."""
    subject: str
    references: tuple[str, ...]
    """Message-IDs this message answers or reports on, nearest first."""
    received_at: datetime
    body: str
    """The plain text of the message (HTML turned to text when there is no plain part)."""
    failures: tuple[Failure, ...] = ()
    complainant: str | None = None
    """For a complaint: the address that complained, when the report says."""


def parse_message(raw: bytes, *, now: datetime | None = None) -> Inbound:
    """Read `raw` (one RFC 5322 message) and tell what it is."""
    message = message_from_bytes(raw, policy=email_policy.default)
    assert isinstance(message, EmailMessage)
    sender = parseaddr(str(message.get("From", "")))[1].strip().lower()
    subject = _header(message, "Subject")
    references = _references(message)
    received = _date(message) or now or datetime.now(UTC)
    report = _report_type(message)
    failures: list[Failure] = []
    complainant = None
    if report == "feedback-report":
        kind = Kind.COMPLAINT
        complainant = _complainant(message)
    else:
        found = _delivery_status(message) if report == "delivery-status" else None
        if found is None and _looks_like_bounce(message, sender, subject):
            found = _non_standard_bounce(message)
        if found:
            kind, failures = Kind.BOUNCE, found
        elif report == "delivery-status" or is_automatic(message, subject):
            # (a "delivered" or "delayed only" report has nothing to act on either)
            kind = Kind.AUTO_REPLY
        else:
            kind = Kind.REPLY
    if kind in {Kind.BOUNCE, Kind.COMPLAINT}:  # about the original: its Message-ID first
        references = tuple(dict.fromkeys([*_original_ids(message), *references]))
    return Inbound(
        kind,
        _message_id(message),
        sender,
        subject,
        references,
        received,
        body_text(message),
        tuple(failures),
        complainant,
    )


def is_automatic(message: Message, subject: str) -> bool:
    """RFC 3834 and the vendor headers, then the subjects auto-responders use."""
    submitted = str(message.get("Auto-Submitted", "")).strip().lower()
    if submitted and submitted != "no":
        return True
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Auto-Reply"):
        if message.get(name) is not None:
            return True
    precedence = str(message.get("Precedence", "")).strip().lower()
    if precedence == "auto_reply":
        return True
    return bool(AUTO_SUBJECT.search(subject))


def body_text(message: EmailMessage) -> str:
    """The readable text: the plain part, else the HTML part as text."""
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, ValueError):  # unknown charset or broken encoding
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    if not isinstance(content, str):
        return ""
    if part.get_content_subtype() == "html":
        return html_to_text(content)
    return content


def _header(message: Message, name: str) -> str:
    return " ".join(str(message.get(name, "")).split())


def _message_id(message: Message) -> str | None:
    found = MESSAGE_ID.search(str(message.get("Message-ID", "")))
    return found.group(0) if found else None


def _references(message: Message) -> tuple[str, ...]:
    """In-Reply-To first, then References from the newest back."""
    ids = MESSAGE_ID.findall(str(message.get("In-Reply-To", "")))
    ids += reversed(MESSAGE_ID.findall(str(message.get("References", ""))))
    return tuple(dict.fromkeys(ids))


def _date(message: Message) -> datetime | None:
    value = message.get("Date")
    if value is None:
        return None
    try:
        moment = parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _report_type(message: Message) -> str | None:
    if message.get_content_type() != "multipart/report":
        return None
    report = message.get_param("report-type")
    return str(report).lower() if isinstance(report, str) else None


def _delivery_status(message: Message) -> list[Failure] | None:
    """Per-recipient failures of an RFC 3464 report; None when it has no status part."""
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        blocks = part.get_payload()
        if not isinstance(blocks, list):
            return None
        failures = []
        for block in blocks[1:]:  # the first block is about the message, the rest per recipient
            if not isinstance(block, Message):
                continue
            action = str(block.get("Action", "")).strip().lower()
            if action not in {"failed", "delayed"}:
                continue
            address = _typed_address(
                block.get("Final-Recipient") or block.get("Original-Recipient")
            )
            if not address:
                continue
            status = STATUS_CODE.search(str(block.get("Status", "")))
            code = status.group(0) if status else ("5.0.0" if action == "failed" else "4.0.0")
            hard = action == "failed" and code.startswith("5")
            failures.append(Failure(address, hard, code))
        return failures
    return None


def _typed_address(value: object) -> str:
    """`rfc822; jane@example.com` → jane@example.com."""
    text = str(value or "")
    address = text.split(";", 1)[1] if ";" in text else text
    return parseaddr(address.strip())[1].strip().lower()


def _looks_like_bounce(message: Message, sender: str, subject: str) -> bool:
    local = sender.partition("@")[0]
    return (
        local in DAEMONS
        or not sender
        or bool(BOUNCE_SUBJECT.search(subject))
        or message.get_content_type() == "multipart/report"
    )


def _non_standard_bounce(message: Message) -> list[Failure]:
    temporary, permanent = flufl.bounce.all_failures(message)
    text = _all_text(message)
    status = STATUS_CODE.search(text)
    failures = []
    for raw, hard in [*((a, True) for a in permanent), *((a, False) for a in temporary)]:
        address = raw.decode("utf-8", "replace").strip().lower().strip("<>")
        if "@" not in address:
            continue
        code = status.group(0) if status and status.group(1) in "45" else ""
        if not code or code[0] != ("5" if hard else "4"):
            code = "5.0.0" if hard else "4.0.0"
        failures.append(Failure(address, hard, code))
    return failures


def _complainant(message: Message) -> str | None:
    """Who complained: the report's Original-Rcpt-To, else the attached original's To."""
    for part in message.walk():
        if part.get_content_type() == "message/feedback-report" and part.is_multipart():
            fields = part.get_payload(0)
            if isinstance(fields, Message):
                found = _typed_address(fields.get("Original-Rcpt-To"))
                if found:
                    return found
    for part in message.walk():
        if part.get_content_type() == "message/rfc822" and part.is_multipart():
            inner = part.get_payload(0)
            if isinstance(inner, Message):
                addresses = getaddresses([str(inner.get("To", ""))])
                if addresses and addresses[0][1]:
                    return addresses[0][1].lower()
    return None


def _original_ids(message: Message) -> list[str]:
    """The Message-ID of the email a report is about (its attached copy or headers)."""
    own = _message_id(message)
    found: list[str] = []
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822" and part.is_multipart():
            inner = part.get_payload(0)
            if isinstance(inner, Message):
                found += MESSAGE_ID.findall(str(inner.get("Message-ID", "")))
        elif kind == "text/rfc822-headers":
            text = _part_text(part)
            found += re.findall(r"(?im)^message-id:\s*(<[^<>\s]+>)", text)
    if not found:  # non-standard bounces quote the original headers in their text
        found = re.findall(r"(?im)^\s*message-id:\s*(<[^<>\s]+>)", _all_text(message))
    return [item for item in dict.fromkeys(found) if item != own]


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return payload.decode(part.get_content_charset() or "utf-8", "replace")
    return payload if isinstance(payload, str) else ""


def _all_text(message: Message) -> str:
    return "\n".join(
        _part_text(part) for part in message.walk() if part.get_content_maintype() == "text"
    )
