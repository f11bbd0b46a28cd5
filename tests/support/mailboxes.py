"""Several mailboxes over real SMTP relays, for the mailbox tests: each mailbox's relay
(`Provider`: aiosmtpd on a loopback port that takes a login with its own password), the
mailbox added for it, a campaign sending through chosen mailboxes, and the send policy
those tests run with."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from quart.typing import TestClientProtocol

from tests.support.factories import add_contacts
from tests.support.sending import FAST
from tests.support.servers import free_port
from tests.support.smtp import RecordingHandler
from webapp.core.models import Mailbox
from webapp.mailboxes import store
from webapp.outbound.contents import save_template
from webapp.web.services import Services

MAILBOX_FAST = replace(
    FAST, smtp_attempts=2, breaker_threshold=5, breaker_cool_down=60.0, health_every=0.2
)
"""The sending tests' fast policy with two SMTP attempts a round, the usual breaker (five
failed rounds, a minute's cool-down) and each mailbox's health looked at every 0.2 s."""
SIGNATURES = {"alpha": "Ana Alpha\nAlpha Corp", "beta": "Ben Beta", "gamma": "Gia Gamma"}
TEMPLATE = "<p>Hello {{ contact.first_name }},</p><p>A short note.</p><p>{{ sender.signature }}</p>"


@dataclass
class Provider:
    """One mailbox's relay: where it listens, the login it takes, what it received."""

    name: str
    handler: RecordingHandler
    port: int
    password: str
    controller: Controller

    @property
    def smtp_url(self) -> str:
        """The URL a rep pastes in, password included (percent-encoded)."""
        secret = quote(self.password, safe="")
        return f"smtp://{self.name}:{secret}@127.0.0.1:{self.port}?starttls=off&timeout=5"

    @property
    def running(self) -> bool:
        return self.controller._thread is not None

    def restart(self) -> None:
        """Listen again on the same port after `controller.stop()` (the stopped
        controller's loop is closed, so a new one takes its place)."""
        self.controller = _controller(self.handler, self.port, self.password)
        self.controller.start()


def start_provider(name: str) -> Provider:
    """A running relay for the mailbox `name`, with a password of its own."""
    handler = RecordingHandler(unknown=set())
    port = free_port()
    password = f"pw-{name}-Zx9/q@r:7"
    controller = _controller(handler, port, password)
    controller.start()
    return Provider(name, handler, port, password, controller)


def _authenticator(password: str) -> Any:
    def check(
        server: Any, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.password == password.encode()
        return AuthResult(success=ok, auth_data=data if ok else None, handled=False)

    return check


def _controller(handler: RecordingHandler, port: int, password: str) -> Controller:
    return Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        authenticator=_authenticator(password),
        auth_require_tls=False,
    )


async def add_mailbox(tune: Services, provider: Provider, **fields: Any) -> Mailbox:
    """A mailbox sending through `provider`'s relay, named after it (`fields` override)."""
    async with tune.db.write() as session:
        return await store.create_mailbox(
            session,
            tune.config,
            {
                "name": provider.name,
                "from_address": f"{provider.name}@sales.tune.test",
                "from_name": provider.name.title(),
                "smtp_url": provider.smtp_url,
                "signature": SIGNATURES.get(provider.name, ""),
                **fields,
            },
        )


async def campaign_with(
    client: TestClientProtocol, auth: dict[str, Any], tune: Services, count: int, names: list[str]
) -> int:
    """A campaign of `count` tier 1 contacts with a template, sending through the mailboxes
    `names` (chosen through the API)."""
    campaign_id = await add_contacts(tune, count, first_name="Lee")
    async with tune.db.write() as session:
        await save_template(session, campaign_id, 1, "A note", TEMPLATE)
    answer = await client.put(
        f"/api/campaigns/{campaign_id}/mailboxes", json={"mailboxes": names}, headers=auth
    )
    assert answer.status_code == 200, await answer.get_data(as_text=True)
    return campaign_id
