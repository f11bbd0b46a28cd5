"""The SMTP relay against a real SMTP server (aiosmtpd on a free loopback port), never a mock."""

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
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from tests.support.servers import free_port
from tests.support.smtp import (
    PASSWORD,
    SENDER,
    UNKNOWN,
    UNSUBSCRIBE,
    RecordingHandler,
    StartServer,
    message,
    relay_for,
)
from webapp.outbound.smtp.outcomes import DeliveryOutcome
from webapp.outbound.smtp.retry import send_with_retries
from webapp.outbound.smtp.url import parse_smtp_url

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
