"""A real SMTP server for tests: aiosmtpd on a free loopback port, recording what it gets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from typing import Any, cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, LoginPassword, Session

from webapp.outbound.smtp.message import build_message, make_message_id
from webapp.outbound.smtp.relay import SmtpRelay
from webapp.outbound.smtp.url import parse_smtp_url

SENDER = "Tune Team <team@tune.test>"
RECIPIENT = "Zoë Müller <zoe@prospect.test>"
UNKNOWN = "nobody@prospect.test"
PASSWORD = "s3cr@t/pass:word"
UNSUBSCRIBE = "<https://tune.test/t/u/abc>, <mailto:unsubscribe@tune.test?subject=abc>"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    peer: Any
    tls: bool
    login: bytes | None


@dataclass
class RecordingHandler:
    """Records what arrives (`received`, and parsed: `messages`), every MAIL and RCPT
    address and DATA command; can be told to answer 451 or 5xx at chosen commands."""

    fail_rcpt: int = 0
    """Answer `451 4.3.0 try again` to this many RCPT commands first."""
    fail_data: int = 0
    """Answer `451 4.3.0 try again` to this many DATA commands first."""
    unknown: set[str] = field(default_factory=lambda: {UNKNOWN})
    """Recipients answered `550 5.1.1 user unknown`."""
    mail_reply: str | None = None
    hang_up_on_mail: int = 0
    """Close the connection instead of answering this many MAIL commands."""
    data_reply: str | None = None
    received: list[Received] = field(default_factory=list)
    mail_froms: list[str] = field(default_factory=list)
    rcpts: list[str] = field(default_factory=list)
    data_commands: int = 0

    async def handle_MAIL(
        self, server: Any, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        self.mail_froms.append(address)
        if self.hang_up_on_mail > 0:
            self.hang_up_on_mail -= 1
            server.transport.close()
            return "421 4.3.0 bye"  # never arrives
        if self.mail_reply:
            return self.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        self.rcpts.append(address)
        if address in self.unknown:
            return "550 5.1.1 user unknown"
        if self.fail_rcpt > 0:
            self.fail_rcpt -= 1
            return "451 4.3.0 try again"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        self.data_commands += 1
        if self.fail_data > 0:
            self.fail_data -= 1
            return "451 4.3.0 try again"
        if self.data_reply:
            return self.data_reply
        auth = session.auth_data
        login = auth.login if isinstance(auth, LoginPassword) else None
        assert isinstance(envelope.content, bytes) and envelope.mail_from is not None
        self.received.append(
            Received(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                envelope.content,
                session.peer,
                server.transport.get_extra_info("ssl_object") is not None,
                login,
            )
        )
        return "250 2.0.0 OK queued as 12345"

    @property
    def peers(self) -> set[Any]:
        return {item.peer for item in self.received}

    @property
    def messages(self) -> list[EmailMessage]:
        """Every accepted message, parsed, in the order it arrived."""
        parsed = [
            message_from_bytes(item.data, policy=email_policy.default) for item in self.received
        ]
        assert all(isinstance(message, EmailMessage) for message in parsed)
        return cast(list[EmailMessage], parsed)

    def message_ids(self) -> list[str]:
        return [str(message["Message-ID"]) for message in self.messages]


@dataclass
class Server:
    handler: RecordingHandler
    port: int
    controller: Controller
    running: bool = True

    def url(self, scheme: str = "smtp", userinfo: str = "", query: str = "starttls=off") -> str:
        return f"{scheme}://{userinfo}127.0.0.1:{self.port}?{query}&timeout=5"

    def stop(self) -> None:
        if self.running:
            self.running = False
            self.controller.stop()


StartServer = Callable[..., Server]


def relay_for(url: str, **options: Any) -> SmtpRelay:
    return SmtpRelay(parse_smtp_url(url), local_hostname="tune.test", **options)


def message(recipient: str = RECIPIENT, content_id: int = 1, **overrides: Any) -> EmailMessage:
    fields: dict[str, Any] = {
        "sender": SENDER,
        "recipient": recipient,
        "subject": "Café ☕ for your team",
        "html": '<p>Hello Zoë, <a href="https://tune.test/t/c/abc">see</a></p>' + "x" * 200,
        "text": "Hello Zoë,\nsee https://tune.test/t/c/abc\n",
        "message_id": make_message_id(content_id, "tune.test", secret="k" * 32),
        "headers": {
            "List-Unsubscribe": UNSUBSCRIBE,
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    }
    fields.update(overrides)
    return build_message(**fields)
