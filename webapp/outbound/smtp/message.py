"""The MIME message of one email: header-safe fields, Message-IDs and the SMTP envelope."""

from __future__ import annotations

import email.policy
import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage

from webapp.core.errors import ValidationFailed

# 7bit transfer encoding: parts with non-ASCII or long lines become quoted-printable
# or base64, so the message is deliverable whether or not the relay has 8BITMIME.
MESSAGE_POLICY = email.policy.default.clone(cte_type="7bit")

# Everything str.splitlines() breaks on, plus NUL: none of it belongs in a header.
_LINE_BREAKS = re.compile("[\x00\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
_FIELD_NAME = re.compile(r"[\x21-\x39\x3b-\x7e]+")
_RESERVED_HEADERS = {
    "from",
    "to",
    "cc",
    "bcc",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
}
_MESSAGE_ID = re.compile(r"<[^<>@\s]+@[^<>@\s]+>")
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*")


def _header_value(value: str, field_name: str) -> str:
    if not isinstance(value, str):
        raise ValidationFailed(f"{field_name} must be text", field=field_name)
    if _LINE_BREAKS.search(value):
        raise ValidationFailed(f"{field_name} must not contain line breaks", field=field_name)
    return value


def _single_address(message: EmailMessage, name: str, value: str, field_name: str) -> None:
    try:
        message[name] = _header_value(value, field_name)
        header = message[name]
        addresses = header.addresses
    except (ValueError, TypeError, IndexError, AttributeError):
        addresses = ()
        header = None
    if (
        header is None
        or len(addresses) != 1
        or header.defects
        or not addresses[0].username
        or not addresses[0].domain
    ):
        raise ValidationFailed(
            f"{field_name} must be one address like Name <name@example.com>", field=field_name
        )


def build_message(
    *,
    sender: str,
    recipient: str,
    subject: str,
    html: str,
    text: str,
    message_id: str,
    headers: Mapping[str, str] | None = None,
    date: datetime | None = None,
) -> EmailMessage:
    """One email as multipart/alternative (text/plain, then text/html), UTF-8.

    Refuses (ValidationFailed) anything that could inject a header: a line break
    in any header value, a malformed header name, or an extra header that would
    override one this function sets (From, To, Cc, Bcc, Subject, Date, ...).
    """
    message = EmailMessage(policy=MESSAGE_POLICY)
    _single_address(message, "From", sender, "sender")
    _single_address(message, "To", recipient, "recipient")
    message["Subject"] = _header_value(subject, "subject")
    message["Date"] = date or datetime.now(UTC)
    message_id = _header_value(message_id, "message_id").strip()
    if not _MESSAGE_ID.fullmatch(message_id):
        raise ValidationFailed("message_id must look like <id@domain>", field="message_id")
    message["Message-ID"] = message_id
    message["MIME-Version"] = "1.0"
    for name, value in (headers or {}).items():
        if not _FIELD_NAME.fullmatch(name) or name.lower() in _RESERVED_HEADERS:
            raise ValidationFailed(f"header {name!r} cannot be set here", field="headers")
        message[name] = _header_value(value, f"headers.{name}")
    message.set_content(text, subtype="plain", charset="utf-8")
    message.add_alternative(html, subtype="html", charset="utf-8")
    for part in message.iter_parts():
        del part["MIME-Version"]  # the email package repeats it in parts; only the top needs it
    return message


def make_message_id(content_id: int, domain: str, *, secret: str | bytes | None = None) -> str:
    """`<tune.{content_id}.{hmac}@{domain}>`: the same for the same email, every time.

    Stable so a resend after a crash carries the same Message-ID and the relay
    (or the recipient's server) can drop the duplicate. The HMAC of the content
    id under `secret` (pass the app's secret key) keeps ids of other emails
    unguessable; without a secret the hash is unkeyed and only stable.
    """
    if isinstance(content_id, bool) or not isinstance(content_id, int) or content_id < 0:
        raise ValueError("content_id must be a non-negative integer")
    name = domain.strip().lower().rstrip(".")
    try:
        name = name.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(f"not a domain: {domain!r}") from None
    if not _DOMAIN.fullmatch(name):
        raise ValueError(f"not a domain: {domain!r}")
    key = secret.encode() if isinstance(secret, str) else (secret or b"")
    digest = hmac.new(key, f"tune-message-id:{content_id}".encode(), hashlib.sha256)
    return f"<tune.{content_id}.{digest.hexdigest()[:16]}@{name}>"


def envelope_of(message: EmailMessage) -> tuple[str, str]:
    """(MAIL FROM, RCPT TO) of a message: its From address and its one To address.

    One recipient per message is how Tune sends, and it keeps the bounce
    classification unambiguous; anything else is a programming error (ValueError).
    """
    if message["Cc"] is not None or message["Bcc"] is not None:
        raise ValueError("a message must have exactly one recipient (no Cc/Bcc)")
    found: list[str] = []
    for name in ("From", "To"):
        header = message[name]
        addresses: tuple[Address, ...] = getattr(header, "addresses", ())
        if len(addresses) != 1 or not addresses[0].addr_spec:
            raise ValueError(f"a message needs exactly one {name} address")
        found.append(addresses[0].addr_spec)
    return found[0], found[1]
