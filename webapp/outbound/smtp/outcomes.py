"""What an attempt to deliver came to, read from the relay's reply or the error.

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
"""

from __future__ import annotations

import enum
import re
import ssl
from dataclasses import dataclass
from typing import Literal

import aiosmtplib

DETAIL_MAX = 400


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


def trim(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= DETAIL_MAX else text[: DETAIL_MAX - 1] + "…"


def classify_reply(code: int, text: str, stage: Stage) -> DeliveryResult:
    """The outcome of an error reply `code text` to the command of `stage`."""
    detail = trim(text)

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
        return DeliveryResult(DeliveryOutcome.PERMANENT, None, trim(str(exc)))
    elif isinstance(exc, aiosmtplib.SMTPException):  # e.g. STARTTLS or AUTH not offered
        what = "relay refused the session"
    else:
        raise exc
    text = str(exc) or type(exc).__name__
    return DeliveryResult(
        DeliveryOutcome.TEMPORARY, None, trim(f"{what}: {text}"), relay_failure=True
    )
