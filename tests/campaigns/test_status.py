"""Campaign status: draft → sending → active → finished, and paused by a rep."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from quart.typing import TestClientProtocol as Client
from sqlalchemy import select

from tests.support.factories import add_contacts
from tests.support.sending import make_sender, send_all
from tests.support.smtprelay import SmtpServer, queue
from webapp.campaigns import status as statuses
from webapp.core.config import Config
from webapp.core.models import Campaign, Content, utcnow
from webapp.tracking.events import ReplyEvent
from webapp.web.services import Services


async def status_of(client: Client, auth: dict[str, Any], campaign_id: int) -> str:
    response = await client.get(f"/api/campaigns/{campaign_id}", headers=auth)
    body: dict[str, Any] = await response.get_json()
    listed = await (await client.get("/api/campaigns", headers=auth)).get_json()
    assert {c["id"]: c["status"] for c in listed["items"]}[campaign_id] == body["status"]
    return str(body["status"])


async def test_status_follows_the_emails_and_a_pause_holds_them_back(
    tune: Services,
    client: Client,
    auth: dict[str, Any],
    send_config: Config,
    relay: SmtpServer,
) -> None:
    campaign_id = await add_contacts(tune, 2)
    assert await status_of(client, auth, campaign_id) == "draft"
    await queue(client, auth, campaign_id)
    assert await status_of(client, auth, campaign_id) == "sending"

    paused = await client.post(f"/api/campaigns/{campaign_id}/pause", headers=auth)
    assert (await paused.get_json())["status"] == "paused"
    sender = make_sender(tune, send_config)
    sender.start()
    try:
        await asyncio.sleep(1.0)
        assert relay.handler.messages == []  # held back while paused
        assert await status_of(client, auth, campaign_id) == "paused"
    finally:
        await sender.stop()

    resumed = await client.post(f"/api/campaigns/{campaign_id}/resume", headers=auth)
    assert (await resumed.get_json())["status"] == "sending"
    counts = await send_all(make_sender(tune, send_config), campaign_id)
    assert counts["sent"] == 2 and len(relay.handler.messages) == 2
    assert await status_of(client, auth, campaign_id) == "active"

    # Two weeks on: finished while nobody needs a follow-up; a reply makes it active again.
    later = utcnow() + timedelta(days=statuses.FINISHED_AFTER_DAYS + 1)
    async with tune.db.read() as session:
        campaign = await session.get(Campaign, campaign_id)
        assert campaign is not None
        assert await statuses.campaign_statuses(session, [campaign], now=later) == {
            campaign_id: "finished"
        }
    async with tune.db.read() as session:
        content = (
            await session.scalars(select(Content).where(Content.campaign_id == campaign_id))
        ).first()
    assert content is not None
    await tune.writer.record(ReplyEvent(content.id, later - timedelta(hours=1), source="api"))
    async with tune.db.read() as session:
        campaign = await session.get(Campaign, campaign_id)
        assert campaign is not None
        assert await statuses.campaign_status(session, campaign) == "active"
        assert (await statuses.campaign_statuses(session, [campaign], now=later))[
            campaign_id
        ] == "active"


async def test_pause_of_an_unknown_campaign_is_a_404(client: Client, auth: dict[str, Any]) -> None:
    response = await client.post("/api/campaigns/424242/pause", headers=auth)
    assert response.status_code == 404
