"""The SMTP relay connection pool: one message per `send`, never raising for relay problems.

It keeps idle connections for reuse, reconnects once when a reused connection
turned out dead, and scrubs the credentials out of every reply it reports.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
import ssl
import time
from dataclasses import dataclass, replace
from email.message import EmailMessage
from typing import Protocol
from urllib.parse import quote

import aiosmtplib

from webapp.core.logs import get_logger
from webapp.outbound.smtp.message import envelope_of
from webapp.outbound.smtp.outcomes import DeliveryOutcome, DeliveryResult, classify_error, trim
from webapp.outbound.smtp.url import SmtpSettings

log = get_logger(__name__)


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

    async def check(self) -> DeliveryResult:
        """Connect, secure and log in, then QUIT: SENT when the relay would take mail
        (`tune mailboxes test`); the reason otherwise, credentials scrubbed."""
        try:
            connection = await self._connect()
        except (aiosmtplib.SMTPException, OSError) as exc:
            return self._scrubbed(classify_error(exc, "connect"))
        await self._quit(connection)
        return DeliveryResult(DeliveryOutcome.SENT, 250, "connected and logged in")

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
        return self._scrubbed(DeliveryResult(DeliveryOutcome.SENT, 250, trim(reply)))

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
