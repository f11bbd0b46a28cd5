"""webapp.mail against a real SMTP server (aiosmtpd on a free loopback port), never a mock."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from webapp.core.errors import ConfigError, ValidationFailed
from webapp.outbound.smtp.breaker import BreakerState, CircuitBreaker
from webapp.outbound.smtp.message import build_message, make_message_id
from webapp.outbound.smtp.outcomes import DeliveryOutcome, DeliveryResult
from webapp.outbound.smtp.relay import SmtpRelay
from webapp.outbound.smtp.retry import send_with_retries
from webapp.outbound.smtp.url import SmtpSettings, parse_smtp_url

SENDER = "Tune Team <team@tune.test>"
RECIPIENT = "Zoë Müller <zoe@prospect.test>"
UNKNOWN = "nobody@prospect.test"
PASSWORD = "s3cr@t/pass:word"
UNSUBSCRIBE = "<https://tune.test/t/u/abc>, <mailto:unsubscribe@tune.test?subject=abc>"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the server -------------------------------------------------------------------------


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
    """Records what arrives; can be told to answer 451 or 5xx at chosen commands."""

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


@pytest.fixture
def start_server() -> Iterator[StartServer]:
    """Start aiosmtpd servers in their own threads; all are stopped after the test."""
    servers: list[Server] = []

    def start(
        handler: RecordingHandler | None = None, port: int | None = None, **options: Any
    ) -> Server:
        handler = handler or RecordingHandler()
        port = port or free_port()
        controller = Controller(
            handler, hostname="127.0.0.1", port=port, server_hostname="relay.test", **options
        )
        controller.start()
        servers.append(Server(handler, port, controller))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


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


# --- delivery ---------------------------------------------------------------------------


async def test_message_arrives_with_headers_and_both_parts(start_server: StartServer) -> None:
    server = start_server()
    sent = message()
    async with relay_for(server.url()) as relay:
        result = await relay.send(sent)

    assert result.outcome is DeliveryOutcome.SENT and result.code == 250
    assert "queued" in result.detail
    [arrived] = server.handler.received
    assert arrived.mail_from == "team@tune.test"
    assert arrived.rcpt_tos == ["zoe@prospect.test"]
    assert max(arrived.data) < 128, "7-bit clean: deliverable without 8BITMIME"

    parsed = email.message_from_bytes(arrived.data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    assert parsed["Subject"] == "Café ☕ for your team"
    assert parsed["From"] == SENDER
    assert parsed["To"].addresses[0].display_name == "Zoë Müller"
    assert parsed["Message-ID"] == sent["Message-ID"]
    assert re.fullmatch(r"<tune\.1\.[0-9a-f]{16}@tune\.test>", parsed["Message-ID"])
    # Long enough to be folded onto the next line; a reader unfolds it.
    assert parsed["List-Unsubscribe"].strip() == UNSUBSCRIBE
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert parsed["MIME-Version"] == "1.0"
    assert parsed["Date"].datetime is not None
    assert parsed.get_content_type() == "multipart/alternative"
    plain, html = parsed.iter_parts()
    assert isinstance(plain, EmailMessage) and isinstance(html, EmailMessage)
    assert plain.get_content_type() == "text/plain"
    assert html.get_content_type() == "text/html"
    assert plain.get_content_charset() == html.get_content_charset() == "utf-8"
    assert (
        plain.get_content().replace("\r\n", "\n") == "Hello Zoë,\nsee https://tune.test/t/c/abc\n"
    )
    assert html.get_content().startswith("<p>Hello Zoë, <a href=")
    assert html["Content-Transfer-Encoding"] in {"quoted-printable", "base64"}
    assert "MIME-Version" not in plain


async def test_connections_are_reused_and_concurrent_sends_do_not_share_one(
    start_server: StartServer,
) -> None:
    server = start_server()
    async with relay_for(server.url(), pool_size=2) as relay:
        for content_id in range(3):
            result = await relay.send(message(content_id=content_id))
            assert result.outcome is DeliveryOutcome.SENT
        assert len(server.handler.peers) == 1

        results = await asyncio.gather(*(relay.send(message(content_id=n)) for n in range(6)))
    assert all(result.outcome is DeliveryOutcome.SENT for result in results)
    assert len(server.handler.received) == 9
    assert len({m.data for m in server.handler.received}) == 9


async def test_a_connection_closed_by_the_relay_is_replaced(start_server: StartServer) -> None:
    server = start_server()
    async with relay_for(server.url()) as relay:
        assert (await relay.send(message())).outcome is DeliveryOutcome.SENT
        server.stop()
        restarted = start_server(server.handler, port=server.port)
        result = await relay.send(message(content_id=2))
        assert result.outcome is DeliveryOutcome.SENT, result
        assert len(server.handler.peers) == 2

        restarted.stop()
        down = await relay.send(message(content_id=3))
    assert down.outcome is DeliveryOutcome.TEMPORARY and down.relay_failure


async def test_a_hang_up_on_a_pooled_connection_is_retried_on_a_fresh_one(
    start_server: StartServer,
) -> None:
    server = start_server()
    async with relay_for(server.url()) as relay:
        assert (await relay.send(message())).outcome is DeliveryOutcome.SENT
        server.handler.hang_up_on_mail = 1
        result = await relay.send(message(content_id=2))
        assert result.outcome is DeliveryOutcome.SENT, result
        assert len(server.handler.peers) == 2

        server.handler.hang_up_on_mail = 2  # the pooled one and the fresh one
        result = await relay.send(message(content_id=3))
    assert result.outcome is DeliveryOutcome.TEMPORARY and result.relay_failure
    assert result.code is None and result.detail.startswith("connection failed")
    assert len(server.handler.received) == 2


@pytest.mark.parametrize("stage", ["rcpt", "data"])
async def test_451_twice_is_retried_and_delivered_exactly_once(
    start_server: StartServer, stage: str
) -> None:
    handler = RecordingHandler(
        fail_rcpt=2 if stage == "rcpt" else 0, fail_data=2 * (stage == "data")
    )
    server = start_server(handler)
    async with relay_for(server.url()) as relay:
        result = await send_with_retries(relay, message(), base_delay=0.01, max_delay=0.05)

    assert result.outcome is DeliveryOutcome.SENT
    assert result.attempts == 3
    assert len(handler.received) == 1
    assert len(handler.rcpts) == 3
    assert handler.data_commands == (3 if stage == "data" else 1)


async def test_451_every_time_gives_up_with_the_last_temporary_result(
    start_server: StartServer,
) -> None:
    server = start_server(RecordingHandler(fail_data=100))
    async with relay_for(server.url()) as relay:
        result = await send_with_retries(relay, message(), attempts=3, base_delay=0.01)
    assert result.outcome is DeliveryOutcome.TEMPORARY
    assert (result.code, result.detail) == (451, "4.3.0 try again")
    assert not result.relay_failure and not result.bounced
    assert result.attempts == 3 == server.handler.data_commands
    assert server.handler.received == []


async def test_550_unknown_user_is_a_permanent_bounce_after_one_attempt(
    start_server: StartServer,
) -> None:
    server = start_server()
    async with relay_for(server.url()) as relay:
        result = await send_with_retries(relay, message(recipient=UNKNOWN), base_delay=0.01)

    assert result.outcome is DeliveryOutcome.PERMANENT
    assert result.bounced and not result.relay_failure
    assert (result.code, result.detail) == (550, "5.1.1 user unknown")
    assert result.attempts == 1
    assert server.handler.rcpts == [UNKNOWN]
    assert server.handler.data_commands == 0


@pytest.mark.parametrize(
    ("handler", "code", "bounced"),
    [
        (RecordingHandler(mail_reply="553 5.1.8 sender domain not accepted"), 553, False),
        (RecordingHandler(data_reply="554 5.6.0 message content rejected"), 554, False),
        (RecordingHandler(data_reply="550 5.2.1 mailbox disabled"), 550, True),
        (RecordingHandler(unknown={"zoe@prospect.test"}), 550, True),
    ],
    ids=["mail-5xx", "data-5xx-content", "data-5xx-mailbox", "rcpt-5xx"],
)
async def test_5xx_is_permanent_and_bounced_only_for_the_recipient(
    start_server: StartServer, handler: RecordingHandler, code: int, bounced: bool
) -> None:
    server = start_server(handler)
    async with relay_for(server.url()) as relay:
        result = await send_with_retries(relay, message(), base_delay=0.01)
        assert (result.outcome, result.code, result.bounced) == (
            DeliveryOutcome.PERMANENT,
            code,
            bounced,
        )
        assert result.attempts == 1
        # The failed transaction was reset: the same connection delivers the next message.
        handler.mail_reply = handler.data_reply = None
        handler.unknown = set()
        assert (await relay.send(message(content_id=2))).outcome is DeliveryOutcome.SENT
    assert len(handler.mail_froms) == 2
    assert len({received.peer for received in handler.received}) == 1


@pytest.mark.parametrize(
    ("reply", "relay_failure"),
    [
        ("421 4.3.2 service shutting down", True),
        ("451 4.7.1 greylisted, come back later", False),
        ("554 5.7.1 Relay access denied", True),
    ],
)
async def test_relay_wide_replies_count_as_relay_failures(
    start_server: StartServer, reply: str, relay_failure: bool
) -> None:
    server = start_server(RecordingHandler(data_reply=reply))
    async with relay_for(server.url()) as relay:
        result = await relay.send(message())
    assert result.outcome is DeliveryOutcome.TEMPORARY
    assert result.relay_failure is relay_failure
    assert result.code == int(reply[:3])


async def test_relay_down_is_temporary_quickly() -> None:
    relay = relay_for(f"smtp://127.0.0.1:{free_port()}?starttls=off")
    started = time.monotonic()
    result = await send_with_retries(relay, message(), attempts=3, base_delay=0.01)
    assert time.monotonic() - started < 2
    assert result.outcome is DeliveryOutcome.TEMPORARY
    assert result.relay_failure and result.code is None and not result.bounced
    assert result.attempts == 3
    assert result.detail.startswith("connection failed")


async def test_a_relay_that_never_greets_times_out() -> None:
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        relay = relay_for(f"smtp://127.0.0.1:{port}?starttls=off&timeout=0.3")
        started = time.monotonic()
        result = await relay.send(message())
    assert time.monotonic() - started < 3
    assert result.outcome is DeliveryOutcome.TEMPORARY and result.relay_failure
    assert result.detail.startswith("timed out")


async def test_a_programming_error_raises() -> None:
    relay = relay_for(f"smtp://127.0.0.1:{free_port()}?starttls=off")
    two = message()
    two["Cc"] = "other@prospect.test"
    with pytest.raises(ValueError, match="one recipient"):
        await relay.send(two)


# --- authentication and secrets ---------------------------------------------------------


def authenticator(
    server: Any, session: Session, envelope: Envelope, mechanism: str, data: Any
) -> AuthResult:
    """Accept user/PASSWORD; otherwise a reply that (badly) echoes the password tried."""
    assert isinstance(data, LoginPassword)
    if data.login == b"user" and data.password == PASSWORD.encode():
        return AuthResult(success=True, auth_data=data)
    tried = data.password.decode()
    return AuthResult(success=False, handled=False, message=f"535 5.7.8 bad password {tried}")


async def test_login_and_a_rejected_password_never_shows(start_server: StartServer) -> None:
    server = start_server(authenticator=authenticator, auth_require_tls=False)
    good = server.url(userinfo="user:s3cr%40t%2Fpass%3Aword@")
    async with relay_for(good) as relay:
        result = await relay.send(message())
    assert result.outcome is DeliveryOutcome.SENT
    assert server.handler.received[0].login == b"user"

    wrong = "0ther@pass/word"
    async with relay_for(server.url(userinfo="user:0ther%40pass%2Fword@")) as relay:
        refused = await send_with_retries(relay, message(), attempts=2, base_delay=0.01)
    assert refused.outcome is DeliveryOutcome.TEMPORARY, "a bad login must not burn emails"
    assert refused.relay_failure and refused.code == 535
    assert refused.detail == "5.7.8 bad password ***"
    for text in (str(refused), repr(refused)):
        assert wrong not in text
    assert len(server.handler.received) == 1


def test_password_stays_out_of_repr_and_str() -> None:
    settings = parse_smtp_url("smtp://user:s3cr%40t%2Fpass%3Aword@smtp.example.com:587")
    assert settings.password == PASSWORD
    for text in (repr(settings), str(settings), settings.redacted_url()):
        assert PASSWORD not in text and "s3cr" not in text
    assert settings.redacted_url() == "smtp://user:***@smtp.example.com:587"
    assert str(settings) == settings.redacted_url()
    assert "smtp.example.com" in repr(SmtpRelay(settings))
    assert "s3cr" not in repr(SmtpRelay(settings))


def test_settings_made_directly_are_checked() -> None:
    settings = SmtpSettings("relay.example.com", 2525, "me", "pw", security="none", timeout=5)
    assert settings.redacted_url() == "smtp://me:***@relay.example.com:2525?starttls=off&timeout=5"
    for bad in ({"port": 0}, {"security": "ssl"}, {"timeout": 0}):
        arguments: dict[str, Any] = {"host": "relay.example.com", "port": 25, **bad}
        with pytest.raises(ValueError):
            SmtpSettings(**arguments)


@pytest.mark.parametrize(
    "url",
    [
        "smtp://user:pw@smtp.example.com:2525?starttls=off&timeout=7.5",
        "smtp://127.0.0.1:1025?starttls=require",
        "smtp://mail.example.com:25",
        "smtps://user%40example.com:pw@[::1]:465",
        "smtp://localhost:587?starttls=auto",
    ],
)
def test_redacted_url_parses_back_to_the_same_settings(url: str) -> None:
    settings = parse_smtp_url(url)
    again = parse_smtp_url(settings.redacted_url().replace(":***@", ":pw@"))
    assert again == settings


# --- parsing SMTP_URL -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "smtp://user:p%40ss%2Fw0rd@smtp.example.com:587",
            ("smtp.example.com", 587, "user", "p@ss/w0rd", "starttls"),
        ),
        (
            "smtp://user:p@ss@smtp.example.com",
            ("smtp.example.com", 587, "user", "p@ss", "starttls"),
        ),
        (
            "smtp://ap%40x.com:pw@smtp.example.com",
            ("smtp.example.com", 587, "ap@x.com", "pw", "starttls"),
        ),
        ("smtps://u:p@mail.example.com", ("mail.example.com", 465, "u", "p", "tls")),
        ("SMTPS://mail.example.com:2465", ("mail.example.com", 2465, None, None, "tls")),
        ("smtp://mail.example.com", ("mail.example.com", 587, None, None, "starttls")),
        ("smtp://mail.example.com:25", ("mail.example.com", 25, None, None, "opportunistic")),
        ("smtp://u:p@mail.example.com:25", ("mail.example.com", 25, "u", "p", "starttls")),
        ("smtp://127.0.0.1:1025", ("127.0.0.1", 1025, None, None, "opportunistic")),
        ("smtp://localhost", ("localhost", 587, None, None, "opportunistic")),
        ("smtp://u:p@[::1]:2525", ("::1", 2525, "u", "p", "opportunistic")),
        ("smtp://relay:25?starttls=require", ("relay", 25, None, None, "starttls")),
        ("smtp://relay:25?starttls=1", ("relay", 25, None, None, "starttls")),
        ("smtp://u:p@relay:587?starttls=off", ("relay", 587, "u", "p", "none")),
        ("smtp://relay?starttls=auto", ("relay", 587, None, None, "opportunistic")),
    ],
)
def test_parse_smtp_url(url: str, expected: tuple[Any, ...]) -> None:
    settings = parse_smtp_url(url)
    got = (settings.host, settings.port, settings.username, settings.password, settings.security)
    assert got == expected
    assert settings.timeout == 30.0


def test_parse_smtp_url_timeout() -> None:
    assert parse_smtp_url("smtp://relay?timeout=2.5").timeout == 2.5


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("", "empty"),
        ("http://relay.example.com", "scheme"),
        ("relay.example.com:25", "scheme"),
        ("smtp://", "missing host"),
        ("smtp://:587", "missing host"),
        ("smtp://relay:99999", "port"),
        ("smtp://relay:smtp", "port"),
        ("smtp://relay:0", "port"),
        ("smtp://user:pa/ss@relay", "percent-encoded"),
        ("smtp://user:pa#ss@relay", "percent-encoded"),
        ("smtp://user@relay", "needs a password"),
        ("smtp://:secret@relay", "needs a user name"),
        ("smtps://relay?starttls=require", "smtps"),
        ("smtp://relay?starttls=maybe", "starttls must be"),
        ("smtp://relay?tls=1", "unknown parameter"),
        ("smtp://relay?timeout=0", "timeout"),
        ("smtp://relay?timeout=soon", "timeout"),
    ],
)
def test_a_bad_smtp_url_is_a_config_error_naming_smtp_url(url: str, complaint: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_smtp_url(url)
    text = str(caught.value)
    assert text.startswith("SMTP_URL: ")
    assert complaint in text
    assert "\n" not in text
    assert "secret" not in text and "pa/ss" not in text


# --- building messages ------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {"subject": "Hi\r\nBcc: victim@example.com"},
        {"subject": "Hi\nthere"},
        {"subject": "Hi\u2028there"},
        {"recipient": "zoe@prospect.test\r\nBcc: victim@example.com"},
        {"sender": "team@tune.test\nX-Injected: 1"},
        {"message_id": "<a@b>\r\nBcc: victim@example.com"},
        {"headers": {"List-Unsubscribe": "<https://x>\r\nBcc: victim@example.com"}},
        {"headers": {"X-Evil\r\nBcc": "victim@example.com"}},
        {"headers": {"X Evil": "1"}},
        {"headers": {"Bcc": "victim@example.com"}},
        {"headers": {"to": "victim@example.com"}},
    ],
)
def test_header_injection_is_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValidationFailed):
        message(**overrides)


@pytest.mark.parametrize(
    "overrides",
    [
        {"recipient": "not an address"},
        {"recipient": "a@example.com, b@example.com"},
        {"sender": ""},
        {"message_id": "no-angle-brackets@tune.test"},
        {"message_id": "<no-domain>"},
    ],
)
def test_bad_addresses_and_message_ids_are_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValidationFailed):
        message(**overrides)


def test_message_ids_are_stable_and_keyed() -> None:
    one = make_message_id(42, "Tune.Test", secret="secret-a")
    assert one == make_message_id(42, "tune.test", secret=b"secret-a")
    assert re.fullmatch(r"<tune\.42\.[0-9a-f]{16}@tune\.test>", one)
    assert one != make_message_id(42, "tune.test", secret="secret-b")
    assert one != make_message_id(43, "tune.test", secret="secret-a")
    assert make_message_id(7, "tune.test") == make_message_id(7, "tune.test")
    assert make_message_id(1, "bücher.example").endswith("@xn--bcher-kva.example>")
    for bad_domain in ("", "a b", "x@y", "a>b"):
        with pytest.raises(ValueError):
            make_message_id(1, bad_domain)
    with pytest.raises(ValueError):
        make_message_id(-1, "tune.test")


# --- the circuit breaker ----------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


DOWN = DeliveryResult(DeliveryOutcome.TEMPORARY, None, "connection failed", relay_failure=True)
GREYLISTED = DeliveryResult(DeliveryOutcome.TEMPORARY, 451, "4.7.1 greylisted")
BOUNCED = DeliveryResult(DeliveryOutcome.PERMANENT, 550, "5.1.1 user unknown", bounced=True)
SENT = DeliveryResult(DeliveryOutcome.SENT, 250, "ok")


def test_breaker_states_are_the_gauge_numbers() -> None:
    assert [int(state) for state in BreakerState] == [0, 1, 2]
    assert BreakerState.CLOSED == 0 and BreakerState.HALF_OPEN == 1 and BreakerState.OPEN == 2


def test_breaker_opens_half_opens_closes_and_reopens() -> None:
    clock = FakeClock()
    changes: list[BreakerState] = []
    breaker = CircuitBreaker(3, 60.0, clock=clock, on_change=changes.append)
    assert breaker.state is BreakerState.CLOSED and breaker.allow()

    breaker.record(DOWN)
    breaker.record(DOWN)
    assert breaker.state is BreakerState.CLOSED and breaker.allow()
    breaker.record(DOWN)
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()

    clock.now += 59.9
    assert not breaker.allow() and breaker.state is BreakerState.OPEN
    clock.now += 0.1
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow(), "one trial goes through"
    assert not breaker.allow(), "exactly one"
    breaker.record(SENT)
    assert breaker.state is BreakerState.CLOSED and breaker.allow()

    for _ in range(3):
        breaker.record(DOWN)
    clock.now += 60
    assert breaker.allow() and breaker.state is BreakerState.HALF_OPEN
    breaker.record(DOWN)
    assert breaker.state is BreakerState.OPEN, "a failed trial reopens"
    assert not breaker.allow()
    clock.now += 30
    assert breaker.state is BreakerState.OPEN, "for a full cool-down again"

    assert changes == [
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.CLOSED,
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.OPEN,
    ]


def test_breaker_counts_only_consecutive_relay_failures() -> None:
    breaker = CircuitBreaker(2, 10.0, clock=FakeClock())
    for answered in (GREYLISTED, BOUNCED, SENT):
        breaker.record(DOWN)
        breaker.record(answered)  # the relay answered: the count starts again
        assert breaker.state is BreakerState.CLOSED
    for _ in range(5):
        breaker.record(GREYLISTED)
    assert breaker.state is BreakerState.CLOSED
    breaker.record(DOWN)
    breaker.record(DOWN)
    assert breaker.state is BreakerState.OPEN


def test_breaker_half_open_details() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(1, 10.0, clock=clock)
    breaker.record(DOWN)
    breaker.record(SENT)  # a send that started before the breaker opened: ignored
    assert breaker.state is BreakerState.OPEN

    clock.now += 10
    assert breaker.allow()
    clock.now += 5
    assert not breaker.allow()
    clock.now += 5
    assert breaker.allow(), "a trial never recorded is given up after a cool-down"
    breaker.record(BOUNCED)  # the relay answered, even if with a bounce
    assert breaker.state is BreakerState.CLOSED


def test_a_failing_observer_does_not_break_the_breaker() -> None:
    def broken(state: BreakerState) -> None:
        raise RuntimeError("dashboard down")

    breaker = CircuitBreaker(1, 10.0, clock=FakeClock(), on_change=broken)
    breaker.record(DOWN)
    assert breaker.state is BreakerState.OPEN


async def test_breaker_opens_on_a_real_dead_relay() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(2, 30.0, clock=clock)
    relay = relay_for(f"smtp://127.0.0.1:{free_port()}?starttls=off")
    while breaker.allow():
        breaker.record(await relay.send(message()))
    assert breaker.state is BreakerState.OPEN


# --- TLS (self-signed certificate made with the openssl command, when there is one) --------


@dataclass(frozen=True)
class Certificate:
    server: ssl.SSLContext
    client: ssl.SSLContext


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("no openssl command to make a test certificate")
    folder: Path = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "2", "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert),
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert, key)
    return Certificate(server=server, client=ssl.create_default_context(cafile=str(cert)))


async def test_starttls_with_login(start_server: StartServer, certificate: Certificate) -> None:
    server = start_server(
        tls_context=certificate.server, require_starttls=True, authenticator=authenticator
    )
    url = server.url(userinfo="user:s3cr%40t%2Fpass%3Aword@", query="starttls=require")
    assert parse_smtp_url(url).security == "starttls"
    async with relay_for(url, tls_context=certificate.client) as relay:
        result = await relay.send(message())
    assert result.outcome is DeliveryOutcome.SENT, result
    [arrived] = server.handler.received
    assert arrived.tls and arrived.login == b"user"


async def test_implicit_tls(start_server: StartServer, certificate: Certificate) -> None:
    server = start_server(ssl_context=certificate.server)
    url = f"smtps://127.0.0.1:{server.port}?timeout=5"
    async with relay_for(url, tls_context=certificate.client) as relay:
        result = await relay.send(message())
    assert result.outcome is DeliveryOutcome.SENT, result
    assert server.handler.received[0].tls


@pytest.mark.parametrize("scheme", ["smtps", "smtp"])
async def test_an_untrusted_certificate_is_a_tls_failure(
    start_server: StartServer, certificate: Certificate, scheme: str
) -> None:
    if scheme == "smtps":
        server = start_server(ssl_context=certificate.server)
    else:
        server = start_server(tls_context=certificate.server)
    url = server.url(scheme, query="" if scheme == "smtps" else "starttls=require")
    async with relay_for(url) as relay:
        result = await relay.send(message())  # verified against the system CAs
    assert result.outcome is DeliveryOutcome.TEMPORARY and result.relay_failure
    assert result.detail.startswith("TLS failure")
    assert server.handler.received == []


async def test_required_starttls_that_the_relay_does_not_offer(start_server: StartServer) -> None:
    server = start_server()
    async with relay_for(server.url(query="starttls=require")) as relay:
        result = await relay.send(message())
    assert result.outcome is DeliveryOutcome.TEMPORARY and result.relay_failure
    assert "STARTTLS" in result.detail
    assert server.handler.received == []


async def test_opportunistic_starttls_upgrades_when_offered(
    start_server: StartServer, certificate: Certificate
) -> None:
    server = start_server(tls_context=certificate.server)
    plain = start_server()
    for target, tls in ((server, True), (plain, False)):
        url = target.url(query="starttls=auto")
        async with relay_for(url, tls_context=certificate.client) as relay:
            assert (await relay.send(message())).outcome is DeliveryOutcome.SENT
        assert target.handler.received[0].tls is tls
