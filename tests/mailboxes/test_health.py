"""A mailbox that crosses its bounce limit pauses once, with one notice, however many
transactions record its bounces at the same moment."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from tests.support.factories import make_campaign, make_recipient
from webapp.core.models import Mailbox, WebhookDelivery
from webapp.mailboxes import health, store
from webapp.web.services import Services
from webapp.webhooks.endpoints import create_endpoint


@pytest.mark.timeout(60)
async def test_two_transactions_crossing_the_limit_at_once_pause_once(pg: Services) -> None:
    # Not on SQLite: it runs one write transaction at a time.
    async with pg.db.write() as session:
        await create_endpoint(
            session,
            app_secret=pg.config.secret_key,
            url="https://crm.example/hook",
            events=["mailbox.paused"],
            include_flagged=False,
        )
        mailbox = await store.create_mailbox(
            session,
            pg.config,
            {
                "name": "beta",
                "from_address": "beta@sales.tune.test",
                "smtp_url": "smtp://127.0.0.1:2525?starttls=off",
            },
        )
        campaign = await make_campaign(session)
        for _ in range(4):
            await make_recipient(session, campaign, mailbox_id=mailbox.id, send_status="bounced")
        mailbox_id = mailbox.id
    both_read = asyncio.Barrier(2)

    async def judge() -> None:
        async with pg.db.write() as session:
            running = await session.get(Mailbox, mailbox_id)
            assert running is not None and running.paused_at is None
            await both_read.wait()  # each has seen the mailbox running before either pauses it
            await health.evaluate(session, running, min_sends=4)
            assert running.paused_at is not None

    await asyncio.gather(judge(), judge())
    async with pg.db.read() as session:
        notices = list(
            await session.scalars(
                select(WebhookDelivery).where(WebhookDelivery.event_type == "mailbox.paused")
            )
        )
        paused = await session.get(Mailbox, mailbox_id)
    assert len(notices) == 1 and "mailbox beta: hard bounces" in str(notices[0].detail)
    assert paused is not None and paused.paused_reason is not None
