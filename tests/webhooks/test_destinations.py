"""Webhook URLs that reach private, loopback, link-local, multicast or reserved addresses
are refused when saved (422, the one error shape) and never connected to at delivery
time, unless WEBHOOKS_ALLOW_PRIVATE allows them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client
from sqlalchemy import select

from tests.support.factories import make_campaign, make_contact, make_content, make_prospect
from tests.support.receiver import receiving
from tests.webhooks.test_dispatch import FAST
from webapp import create_app
from webapp.accounts.apikeys import create_key
from webapp.core.config import Config
from webapp.core.models import WebhookDelivery
from webapp.tracking.events import OpenEvent
from webapp.tracking.store import store_events
from webapp.web.services import Services
from webapp.webhooks.destinations import refusal
from webapp.webhooks.dispatcher import Dispatcher
from webapp.webhooks.endpoints import create_endpoint


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("172.16.5.4", "private"),
        ("fd00::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.251", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("0.0.0.0", "unspecified"),  # noqa: S104 (an address to refuse, not to bind)
        ("100.64.0.1", "not public"),
        ("93.184.215.14", None),
        ("2606:4700::6810:84e5", None),
    ],
)
def test_only_public_addresses_pass(address: str, reason: str | None) -> None:
    assert refusal(address) == reason


@pytest.fixture
async def strict_app(config: Config) -> AsyncIterator[Quart]:
    application = create_app(config.with_changes(webhooks_allow_private=False))
    async with application.test_app():
        yield application


async def strict_client(strict_app: Quart) -> tuple[Client, dict[str, Any]]:
    tune: Services = strict_app.extensions["tune"]
    async with tune.db.write() as session:
        key = (await create_key(session, "tests")).key
    return strict_app.test_client(), {"X-API-Key": key}


async def test_saving_a_url_that_reaches_inside_is_refused(strict_app: Quart) -> None:
    client, auth = await strict_client(strict_app)
    for url, words in (
        ("http://127.0.0.1:8080/hook", "loopback address (127.0.0.1)"),
        ("http://localhost/hook", "loopback address"),
        ("http://[::1]/hook", "loopback address (::1)"),
        ("http://10.0.0.5/hook", "private address (10.0.0.5)"),
        ("http://169.254.169.254/latest/meta-data", "link-local address (169.254.169.254)"),
        ("http://224.0.0.1/hook", "multicast address"),
        ("https://no-such-host.invalid/hook", "does not resolve"),
    ):
        answer = await client.post(
            "/api/webhooks", json={"url": url, "events": ["open"]}, headers=auth
        )
        assert answer.status_code == 422, url
        error = (await answer.get_json())["error"]
        assert error["field"] == "url" and words in error["message"], (url, error)
    # A public address is fine; changing it to an inside one is refused the same way.
    created = await client.post(
        "/api/webhooks",
        json={"url": "https://93.184.215.14/hook", "events": ["open"]},
        headers=auth,
    )
    assert created.status_code == 201
    endpoint_id = (await created.get_json())["id"]
    changed = await client.patch(
        f"/api/webhooks/{endpoint_id}", json={"url": "http://192.168.1.1/admin"}, headers=auth
    )
    assert changed.status_code == 422
    assert "private address" in (await changed.get_json())["error"]["message"]
    listed = await (await client.get("/api/webhooks", headers=auth)).get_json()
    assert [item["url"] for item in listed["items"]] == ["https://93.184.215.14/hook"]


async def test_the_setting_allows_inside_addresses_in_development(
    client: Client, auth: dict[str, Any]
) -> None:
    answer = await client.post(
        "/api/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["open"]}, headers=auth
    )
    assert answer.status_code == 201


def test_private_addresses_are_refused_by_default_in_production_only() -> None:
    base = {"TUNE_SECRET_KEY": "a-long-enough-secret-key"}
    production = Config.from_env({**base, "TUNE_ENV": "production"}, load_dotenv=False)
    assert production.allow_private_webhooks is False
    development = Config.from_env(base, load_dotenv=False)
    assert development.allow_private_webhooks is True
    strict = Config.from_env({**base, "WEBHOOKS_ALLOW_PRIVATE": "false"}, load_dotenv=False)
    assert strict.allow_private_webhooks is False
    opened = Config.from_env(
        {**base, "TUNE_ENV": "production", "WEBHOOKS_ALLOW_PRIVATE": "true"}, load_dotenv=False
    )
    assert opened.allow_private_webhooks is True


@pytest.mark.slow
async def test_delivery_never_connects_to_an_inside_address(tune: Services) -> None:
    """An endpoint saved while allowed (or whose name now resolves inside) gets nothing
    from a dispatcher that refuses such addresses; the refusal is its recorded error."""
    with receiving() as receiver:
        async with tune.db.write() as session:
            created = await create_endpoint(
                session,
                app_secret=tune.config.secret_key,
                url=receiver.url.replace("127.0.0.1", "localhost"),
                events=["open"],
            )
            receiver.secret = created.secret
            campaign = await make_campaign(session)
            contact = await make_contact(session, await make_prospect(session, campaign))
            content = await make_content(session, contact, send_status="sent")
            await store_events(session, [OpenEvent(content.id, source="api")])
        strict = Dispatcher(tune.db, tune.config.secret_key, replace(FAST, allow_private=False))
        strict.start()
        try:
            deadline = time.monotonic() + 30
            while True:
                async with tune.db.read() as session:
                    [row] = await session.scalars(select(WebhookDelivery))
                if row.attempts >= 2:
                    break
                assert time.monotonic() < deadline, "no attempt recorded"
                await asyncio.sleep(0.05)
        finally:
            await strict.stop()
        async with tune.db.read() as session:
            [row] = await session.scalars(select(WebhookDelivery))
        assert receiver.received == []
        assert row.status == "pending" and "refused: localhost resolves to a loopback" in (
            row.last_error or ""
        )

        # The same delivery, by a dispatcher allowed to reach inside, arrives.
        allowed = Dispatcher(tune.db, tune.config.secret_key, FAST)
        allowed.start()
        try:
            deadline = time.monotonic() + 30
            while not receiver.accepted():
                assert time.monotonic() < deadline, "never delivered"
                await asyncio.sleep(0.05)
        finally:
            await allowed.stop()
        assert receiver.accepted()[0].body["type"] == "open"
