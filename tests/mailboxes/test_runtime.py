"""A Tune started with no relay and no mailbox sends once a mailbox is added, without a
restart: over REAL SMTP relays (aiosmtpd), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from quart.typing import TestClientProtocol

from tests.support.mailboxes import MAILBOX_FAST, Provider, add_mailbox, campaign_with
from tests.support.sending import drain, make_sender
from webapp import create_app
from webapp.web.services import Services


async def test_a_mailbox_added_to_a_running_server_sends_at_once(
    tune: Services, auth: dict[str, Any], providers: dict[str, Provider]
) -> None:
    assert tune.config.smtp_url is None
    server = create_app(tune.config.with_changes(run_sender=True))
    async with server.test_app():
        client = server.test_client()
        running = server.extensions["tune"].sender
        assert running is not None and running.running and not await running.can_send()
        provider = providers["alpha"]
        added = await client.post(
            "/api/mailboxes",
            json={
                "name": "alpha",
                "from_address": "alpha@sales.tune.test",
                "smtp_url": provider.smtp_url,
            },
            headers=auth,
        )
        assert added.status_code == 201, await added.get_data(as_text=True)
        campaign_id = await campaign_with(client, auth, tune, 3, ["alpha"])
        assert (
            await client.post(f"/api/campaigns/{campaign_id}/send", headers=auth)
        ).status_code == 202
        counts = await drain(tune.db, campaign_id)
    assert counts["sent"] == 3 and len(provider.handler.messages) == 3


async def test_a_waiting_sender_finds_a_mailbox_added_by_another_process(
    tune: Services, client: TestClientProtocol, auth: dict[str, Any], providers: dict[str, Provider]
) -> None:
    sender = make_sender(tune, policy=replace(MAILBOX_FAST, relay_refresh=0.2))
    sender.start()
    try:
        await asyncio.sleep(0.3)
        assert not await sender.can_send()
        # Added straight in the database, as another process would: nobody wakes this sender.
        await add_mailbox(tune, providers["beta"])
        campaign_id = await campaign_with(client, auth, tune, 2, ["beta"])
        assert (
            await client.post(f"/api/campaigns/{campaign_id}/send", headers=auth)
        ).status_code == 202
        counts = await drain(tune.db, campaign_id)
    finally:
        await sender.stop()
    assert counts["sent"] == 2 and len(providers["beta"].handler.messages) == 2
