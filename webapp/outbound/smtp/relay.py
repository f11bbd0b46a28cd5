"""Talking to the team's SMTP relay: settings, MIME messages, delivery, retries, breaker.

The relay is an unreliable external service, so nothing here raises for a relay
or network problem: every attempt ends in a `DeliveryResult` whose outcome says
what the caller should do with the email.

- SENT: the relay accepted the message (250 to DATA).
- TEMPORARY: try again later. A 4xx reply, a timeout, a refused or reset
  connection, a TLS failure, a server that hung up. `relay_failure` is set when
  the relay itself is unusable (see below), which is what the circuit breaker counts.
- PERMANENT: never retry. `bounced` when the relay rejected the recipient
  address, otherwise the message or its sender was refused ("failed").

Relay failures (`relay_failure=True`, always TEMPORARY) are problems that would
hit every message alike, so they must not burn individual emails: no connection
(refused, reset, timeout, TLS handshake or certificate failure, server hung up),
a 421 reply at any stage, any error while connecting (greeting, EHLO, STARTTLS,
AUTH; including a 5xx there and a relay that does not offer STARTTLS when it is
required), a rejected login (454, 530, 534, 535, 538) and "relay access
denied". A 4xx for one message or one recipient (greylisting, mailbox busy, a
451 to DATA) is TEMPORARY but not a relay failure: the relay is up and talking.

Bounce rule: a 5xx to RCPT is a bounce unless its enhanced status code names a
mail-system, content or policy reason (5.3.x, 5.6.x, 5.7.x); a 5xx to DATA is a
bounce only with an addressing or mailbox enhanced code (5.1.x except the
sender-side 5.1.7/5.1.8, 5.2.x). A 5xx to MAIL FROM is never a bounce.

Security rule of SMTP_URL (`parse_smtp_url`):

- `smtps://host[:465]`: implicit TLS ("tls").
- `smtp://host[:587]` with `?starttls=require` (or 1/true/yes/on): STARTTLS is
  mandatory ("starttls"); a relay that does not offer it is a relay failure.
- `?starttls=off` (or 0/false/no/none): plain SMTP, never upgraded ("none").
- `?starttls=auto`: STARTTLS when the relay offers it ("opportunistic").
- no `starttls` parameter: "starttls" when the port is 587 or the URL carries
  credentials, unless the host is loopback; otherwise "opportunistic". So a
  password never crosses the network in clear unless the URL says `starttls=off`
  or `starttls=auto`.

Certificates are verified against the system's CAs (pass `tls_context` to
`SmtpRelay` for a private CA).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import email.policy
import enum
import hashlib
import hmac
import ipaddress
import re
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Literal, Protocol
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import aiosmtplib
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_result,
    stop_after_attempt,
    wait_random_exponential,
)

from webapp.core.common import NO, YES
from webapp.core.errors import ConfigError, ValidationFailed
from webapp.core.logs import get_logger

log = get_logger(__name__)

Security = Literal["tls", "starttls", "opportunistic", "none"]

DEFAULT_TIMEOUT = 30.0
DETAIL_MAX = 400
_TRUE = YES | {"require", "required"}
_FALSE = NO | {"none"}
_AUTO = {"auto", "opportunistic"}

# --- settings ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to reach the relay; the password stays out of repr, str and logs."""

    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    security: Security = "starttls"
    timeout: float = DEFAULT_TIMEOUT
    """Seconds allowed for connecting and for each SMTP command."""

    def __post_init__(self) -> None:
        if self.security not in ("tls", "starttls", "opportunistic", "none"):
            raise ValueError(f"unknown SMTP security mode {self.security!r}")
        if not 0 < self.port < 65536:
            raise ValueError(f"SMTP port out of range: {self.port}")
        if self.timeout <= 0:
            raise ValueError("SMTP timeout must be positive")

    def redacted_url(self) -> str:
        """The settings as an SMTP_URL with the password masked, e.g. smtp://user:***@host:587.

        Parsing it back (with the real password) gives the same settings.
        """
        scheme = "smtps" if self.security == "tls" else "smtp"
        userinfo = ""
        if self.username is not None:
            userinfo = quote(self.username, safe="") + (":***" if self.password else "") + "@"
        host = f"[{self.host}]" if ":" in self.host else self.host
        params = []
        if scheme == "smtp" and self.security != _default_security(
            self.host, self.port, self.username is not None
        ):
            params.append("starttls=" + _SECURITY_PARAM[self.security])
        if self.timeout != DEFAULT_TIMEOUT:
            params.append(f"timeout={self.timeout:g}")
        query = "?" + "&".join(params) if params else ""
        return f"{scheme}://{userinfo}{host}:{self.port}{query}"

    def __str__(self) -> str:
        return self.redacted_url()


_SECURITY_PARAM: dict[str, str] = {
    "starttls": "require",
    "none": "off",
    "opportunistic": "auto",
    "tls": "",
}


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _default_security(host: str, port: int, has_credentials: bool) -> Security:
    if not _is_loopback(host) and (port == 587 or has_credentials):
        return "starttls"
    return "opportunistic"


def parse_smtp_url(url: str) -> SmtpSettings:
    """SMTP_URL → settings; ConfigError("SMTP_URL: …") naming what is wrong.

    User name and password are percent-decoded, so a password with `@`, `/`,
    `:`, `#` or `?` is written `%40`, `%2F`, `%3A`, `%23`, `%3F`. Parameters:
    `starttls` (see the module docstring) and `timeout` (seconds).
    """
    encode_hint = "characters like / # ? in the user name or password must be percent-encoded"
    raw = (url or "").strip()
    if not raw:
        raise ConfigError("SMTP_URL: empty; expected smtp://user:password@host:587")
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise ConfigError(
            f"SMTP_URL: bad host or port (the port must be 1-65535; {encode_hint})"
        ) from None
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps"):
        shown = scheme or "none"
        raise ConfigError(f"SMTP_URL: scheme must be smtp:// or smtps://, not {shown}")
    if parts.path not in ("", "/") or parts.fragment:
        raise ConfigError(f"SMTP_URL: unexpected text after the host ({encode_hint})")
    host = parts.hostname
    if not host:
        raise ConfigError("SMTP_URL: missing host, e.g. smtp://user:password@smtp.example.com")
    if port == 0:
        raise ConfigError("SMTP_URL: the port must be 1-65535")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    if username and not password:
        raise ConfigError("SMTP_URL: a user name needs a password (user:password@host)")
    if password and not username:
        raise ConfigError("SMTP_URL: a password needs a user name (user:password@host)")

    starttls: str | None = None
    timeout = DEFAULT_TIMEOUT
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key == "starttls":
            starttls = value.strip().lower()
        elif key == "timeout":
            try:
                timeout = float(value)
            except ValueError:
                timeout = -1.0
            if not 0 < timeout <= 600:
                raise ConfigError("SMTP_URL: timeout must be a number of seconds (0-600]")
        else:
            raise ConfigError(f"SMTP_URL: unknown parameter {key!r} (known: starttls, timeout)")

    security: Security
    if scheme == "smtps":
        if starttls is not None:
            raise ConfigError("SMTP_URL: starttls does not apply to smtps:// (already TLS)")
        security = "tls"
        port = port or 465
    else:
        port = port or 587
        if starttls is None:
            security = _default_security(host, port, username is not None)
        elif starttls in _TRUE:
            security = "starttls"
        elif starttls in _FALSE:
            security = "none"
        elif starttls in _AUTO:
            security = "opportunistic"
        else:
            raise ConfigError("SMTP_URL: starttls must be require, auto or off")
    return SmtpSettings(
        host=host,
        port=port,
        username=username,
        password=password,
        security=security,
        timeout=timeout,
    )


# --- messages ---------------------------------------------------------------------------

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


# --- outcomes ---------------------------------------------------------------------------


class DeliveryOutcome(enum.Enum):
    SENT = "sent"
    TEMPORARY = "temporary"
    PERMANENT = "permanent"


@dataclass(frozen=True)
class DeliveryResult:
    """What became of one delivery attempt (or of the last of several)."""

    outcome: DeliveryOutcome
    code: int | None
    """The relay's reply code, None when there was no reply (network, TLS)."""
    detail: str
    """The relay's reply text or the network error, trimmed; never credentials."""
    bounced: bool = False
    """PERMANENT because the relay rejected the recipient address."""
    relay_failure: bool = False
    """TEMPORARY because the relay itself is unusable (what the circuit breaker counts)."""
    attempts: int = 1
    """Attempts made (send_with_retries); 1 for a single send."""

    def __str__(self) -> str:
        code = f" {self.code}" if self.code is not None else ""
        return f"{self.outcome.value}{code}: {self.detail}"


_AUTH_CODES = {454, 530, 534, 535, 538}
_RELAY_DENIED = re.compile(
    r"relay(ing)?\s+(access\s+)?(denied|not\s+permitted|not\s+allowed)", re.I
)
_ENHANCED = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\b")

Stage = Literal["connect", "mail", "rcpt", "data"]


def _trim(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= DETAIL_MAX else text[: DETAIL_MAX - 1] + "…"


def classify_reply(code: int, text: str, stage: Stage) -> DeliveryResult:
    """The outcome of an error reply `code text` to the command of `stage`."""
    detail = _trim(text)

    def relay_down() -> DeliveryResult:
        return DeliveryResult(DeliveryOutcome.TEMPORARY, code, detail, relay_failure=True)

    if code == 421 or stage == "connect" or code in _AUTH_CODES or _RELAY_DENIED.search(text):
        return relay_down()
    if 400 <= code < 500:
        return DeliveryResult(DeliveryOutcome.TEMPORARY, code, detail)
    if not 500 <= code < 600:  # no such reply is defined here: the dialogue went wrong
        return relay_down()
    enhanced = _ENHANCED.match(text)
    subject, item = (int(enhanced[2]), int(enhanced[3])) if enhanced else (None, None)
    if stage == "rcpt":
        bounced = subject not in (3, 6, 7)
    elif stage == "data":
        bounced = (subject == 1 and item not in (7, 8)) or subject == 2
    else:
        bounced = False
    return DeliveryResult(DeliveryOutcome.PERMANENT, code, detail, bounced=bounced)


def classify_error(exc: BaseException, stage: Stage) -> DeliveryResult:
    """The outcome of an exception raised while talking to the relay in `stage`.

    The stage is corrected from the exception type where aiosmtplib tells it.
    Anything that is not an SMTP, network or TLS problem is re-raised.
    """
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        exc = exc.recipients[0]
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        if isinstance(exc, aiosmtplib.SMTPSenderRefused):
            stage = "mail"
        elif isinstance(exc, aiosmtplib.SMTPRecipientRefused):
            stage = "rcpt"
        elif isinstance(exc, aiosmtplib.SMTPDataError):
            stage = "data"
        elif isinstance(
            exc,
            aiosmtplib.SMTPConnectResponseError
            | aiosmtplib.SMTPHeloError
            | aiosmtplib.SMTPAuthenticationError,
        ):
            stage = "connect"
        return classify_reply(exc.code, exc.message, stage)
    if isinstance(exc, TimeoutError):
        what = "timed out"
    elif isinstance(exc, ssl.SSLError | ssl.CertificateError) or isinstance(
        exc.__cause__, ssl.SSLError | ssl.CertificateError
    ):
        what = "TLS failure"
    elif isinstance(exc, OSError):  # refused, reset, unreachable, server hung up
        what = "connection failed"
    elif isinstance(exc, aiosmtplib.SMTPNotSupported) and stage != "connect":
        # e.g. a non-ASCII address and a relay without SMTPUTF8: this message can't go
        return DeliveryResult(DeliveryOutcome.PERMANENT, None, _trim(str(exc)))
    elif isinstance(exc, aiosmtplib.SMTPException):  # e.g. STARTTLS or AUTH not offered
        what = "relay refused the session"
    else:
        raise exc
    text = str(exc) or type(exc).__name__
    return DeliveryResult(
        DeliveryOutcome.TEMPORARY, None, _trim(f"{what}: {text}"), relay_failure=True
    )


# --- the relay --------------------------------------------------------------------------


class Relay(Protocol):
    """Anything that delivers one message and classifies the outcome."""

    async def send(self, message: EmailMessage) -> DeliveryResult: ...


@dataclass
class _Connection:
    client: aiosmtplib.SMTP
    loop: asyncio.AbstractEventLoop
    idle_since: float = 0.0
    sent: int = 0


class SmtpRelay:
    """Sends messages through the relay with aiosmtplib, reusing connections.

    Each `send` takes a connection of its own (a pooled idle one or a new one),
    so concurrent senders never share a session; after the transaction the
    connection goes back to the pool (at most `pool_size` idle ones, each for at
    most `idle_timeout` seconds and `max_messages` messages). A pooled
    connection the relay has meanwhile closed is replaced by a fresh one once,
    transparently. Call `close()` on shutdown to QUIT idle connections.
    """

    def __init__(
        self,
        settings: SmtpSettings,
        *,
        pool_size: int = 4,
        idle_timeout: float = 30.0,
        max_messages: int = 100,
        tls_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
    ) -> None:
        self.settings = settings
        self.pool_size = pool_size
        self.idle_timeout = idle_timeout
        self.max_messages = max_messages
        self._tls_context = tls_context
        self._local_hostname = local_hostname
        self._idle: list[_Connection] = []
        self._secrets = _secret_forms(settings)

    def __repr__(self) -> str:
        return f"SmtpRelay({self.settings.redacted_url()!r})"

    async def __aenter__(self) -> SmtpRelay:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def send(self, message: EmailMessage) -> DeliveryResult:
        """Deliver one message; relay and network problems come back classified."""
        sender, recipient = envelope_of(message)
        pooled = self._take_idle()
        if pooled is not None:
            result = await self._transact(pooled, message, sender, recipient, fresh=False)
            if result is not None:
                return result
        try:
            connection = await self._connect()
        except Exception as exc:
            return self._scrubbed(classify_error(exc, "connect"))
        result = await self._transact(connection, message, sender, recipient, fresh=True)
        assert result is not None
        return result

    async def close(self) -> None:
        """QUIT the idle connections; later sends open new ones."""
        idle, self._idle = self._idle, []
        for connection in idle:
            await self._quit(connection)

    async def _transact(
        self,
        connection: _Connection,
        message: EmailMessage,
        sender: str,
        recipient: str,
        *,
        fresh: bool,
    ) -> DeliveryResult | None:
        """One MAIL/RCPT/DATA transaction; None when a pooled connection turned out dead."""
        client = connection.client
        try:
            _, reply = await client.send_message(message, sender=sender, recipients=[recipient])
        except (aiosmtplib.SMTPException, OSError) as exc:
            if not fresh and _hung_up(exc):
                client.close()
                return None
            result = self._scrubbed(classify_error(exc, "mail"))
            await self._release(connection)
            return result
        except BaseException:  # cancelled or a programming error: the session state is unknown
            client.close()
            raise
        connection.sent += 1
        await self._release(connection)
        return self._scrubbed(DeliveryResult(DeliveryOutcome.SENT, 250, _trim(reply)))

    async def _connect(self) -> _Connection:
        settings = self.settings
        start_tls: bool | None = {"starttls": True, "opportunistic": None}.get(
            settings.security, False
        )
        client = aiosmtplib.SMTP(
            hostname=settings.host,
            port=settings.port,
            username=settings.username,
            password=settings.password,
            use_tls=settings.security == "tls",
            start_tls=start_tls,
            tls_context=self._tls_context,
            timeout=settings.timeout,
            local_hostname=await self._hostname(),
        )
        await client.connect()  # closes the client itself when it fails
        return _Connection(client, asyncio.get_running_loop())

    async def _hostname(self) -> str:
        """The EHLO name, looked up once (getfqdn may block on DNS)."""
        if self._local_hostname is None:
            self._local_hostname = await asyncio.to_thread(socket.getfqdn)
        return self._local_hostname

    def _take_idle(self) -> _Connection | None:
        loop = asyncio.get_running_loop()
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()  # most recently used first: most likely alive
            if (
                connection.loop is loop
                and connection.client.is_connected
                and now - connection.idle_since < self.idle_timeout
            ):
                return connection
            with contextlib.suppress(Exception):  # its loop may be closed already
                connection.client.close()
        return None

    async def _release(self, connection: _Connection) -> None:
        if (
            not connection.client.is_connected
            or connection.sent >= self.max_messages
            or len(self._idle) >= self.pool_size
        ):
            await self._quit(connection)
            return
        connection.idle_since = time.monotonic()
        self._idle.append(connection)

    async def _quit(self, connection: _Connection) -> None:
        client = connection.client
        if client.is_connected and connection.loop is asyncio.get_running_loop():
            with contextlib.suppress(Exception):
                await client.quit(timeout=min(self.settings.timeout, 5.0))
        with contextlib.suppress(Exception):
            client.close()

    def _scrubbed(self, result: DeliveryResult) -> DeliveryResult:
        detail = result.detail
        for secret in self._secrets:
            detail = detail.replace(secret, "***")
        return result if detail == result.detail else replace(result, detail=detail)


def _hung_up(exc: BaseException) -> bool:
    """A pooled connection the relay closed while it sat idle (not a reply, not a timeout)."""
    return isinstance(exc, aiosmtplib.SMTPServerDisconnected | ConnectionError) and not isinstance(
        exc, aiosmtplib.SMTPResponseException | TimeoutError
    )


def _secret_forms(settings: SmtpSettings) -> list[str]:
    """The password as a relay might echo it: plain, URL-encoded, or base64 as sent in AUTH."""
    password = settings.password
    if not password:
        return []
    user = settings.username or ""
    raw = [
        password.encode(),
        f"\0{user}\0{password}".encode(),  # AUTH PLAIN
    ]
    forms = {password, quote(password, safe="")}
    forms.update(base64.b64encode(item).decode() for item in raw)
    return sorted(forms, key=len, reverse=True)


# --- retries ----------------------------------------------------------------------------


async def send_with_retries(
    relay: Relay,
    message: EmailMessage,
    *,
    attempts: int = 4,
    base_delay: float = 1.0,
    max_delay: float = 30.0,
) -> DeliveryResult:
    """Send, retrying TEMPORARY outcomes with exponential backoff and full jitter.

    The n-th retry waits a random time in [0, min(max_delay, base_delay × 2^(n-1))].
    SENT and PERMANENT return at once; after `attempts` TEMPORARY outcomes the
    last one is returned. `result.attempts` tells how many were made.
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")

    made = 0

    async def attempt() -> DeliveryResult:
        nonlocal made
        made += 1
        return await relay.send(message)

    def log_retry(state: RetryCallState) -> None:
        if state.outcome is None or state.outcome.failed:
            return
        result: DeliveryResult = state.outcome.result()
        log.info(
            "smtp_retry",
            attempt=state.attempt_number,
            code=result.code,
            detail=result.detail[:200],
            wait=round(state.next_action.sleep, 3) if state.next_action else None,
        )

    def last_result(state: RetryCallState) -> DeliveryResult:
        assert state.outcome is not None
        result: DeliveryResult = state.outcome.result()
        return result

    retrying = AsyncRetrying(
        stop=stop_after_attempt(attempts),
        wait=wait_random_exponential(multiplier=base_delay, max=max_delay),
        retry=retry_if_result(lambda result: result.outcome is DeliveryOutcome.TEMPORARY),
        retry_error_callback=last_result,
        before_sleep=log_retry,
    )
    result: DeliveryResult = await retrying(attempt)
    return replace(result, attempts=made)


# --- circuit breaker --------------------------------------------------------------------


class BreakerState(enum.IntEnum):
    """The numbers are what the tune_smtp_circuit_state gauge shows."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class CircuitBreaker:
    """Stops sending while the relay is down, so queued emails wait instead of failing.

    CLOSED: everything goes. `failure_threshold` consecutive relay failures
    (`DeliveryResult.relay_failure`) open it. Any other outcome (sent, bounced, a
    4xx for one recipient) proves the relay is answering and resets the count.
    OPEN: nothing goes for `cool_down` seconds, then HALF_OPEN.
    HALF_OPEN: `allow()` lets exactly one trial through; its result closes the
    breaker (relay answered) or reopens it (relay failure). A trial whose result
    is never recorded (the caller had nothing to send) is given up after
    `cool_down` seconds and another is allowed.
    Results recorded while OPEN are ignored (they are from sends started before).

    For one event loop; not thread-safe. `on_change` is called with each new state.
    """

    def __init__(
        self,
        failure_threshold: int = 5,
        cool_down: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[BreakerState], None] | None = None,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self.failure_threshold = failure_threshold
        self.cool_down = cool_down
        self.clock = clock
        self.on_change = on_change
        self.failures = 0
        """Consecutive relay failures while closed."""
        self._state = BreakerState.CLOSED
        self._opened_at = 0.0
        self._trial_at: float | None = None

    @property
    def state(self) -> BreakerState:
        """The current state (an OPEN breaker whose cool-down is over reads HALF_OPEN)."""
        if self._state is BreakerState.OPEN and self.clock() - self._opened_at >= self.cool_down:
            self._trial_at = None
            self._set(BreakerState.HALF_OPEN)
        return self._state

    def allow(self) -> bool:
        """May a send start now? In HALF_OPEN this takes the one trial slot."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.OPEN:
            return False
        now = self.clock()
        if self._trial_at is not None and now - self._trial_at < self.cool_down:
            return False
        self._trial_at = now
        return True

    def record(self, result: DeliveryResult) -> None:
        """Count the outcome of a send."""
        state = self.state
        if state is BreakerState.OPEN:
            return
        if result.relay_failure:
            self.failures += 1
            if state is BreakerState.HALF_OPEN or self.failures >= self.failure_threshold:
                self._open()
            return
        self.failures = 0
        self._trial_at = None
        self._set(BreakerState.CLOSED)

    def _open(self) -> None:
        self._opened_at = self.clock()
        self._trial_at = None
        self.failures = 0
        self._set(BreakerState.OPEN)

    def _set(self, state: BreakerState) -> None:
        if state is self._state:
            return
        self._state = state
        if self.on_change is not None:
            try:
                self.on_change(state)
            except Exception:  # an observer must not break sending
                log.exception("breaker_on_change_failed", state=state.name)
