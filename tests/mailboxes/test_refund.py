"""A send slot taken for an email that never reaches the relay goes back to its mailbox;
a send the relay saw keeps its slot, so caps are never passed. Over REAL SMTP relays
(aiosmtpd), on SQLite and PostgreSQL, with the slots in the database and in Redis."""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

import pytest
from quart.typing import TestClientProtocol
from sqlalchemy import select, update

from tests.support.mailboxes import MAILBOX_FAST, Provider, add_mailbox, campaign_with
from tests.support.sending import make_sender, send_all
from tests.support.servers import REDIS_URL, redis_available
from webapp.core.models import Contact, utcnow
from webapp.mailboxes.capacity import DatabaseSlots, Limit, RedisSlots, Slots, Taken
from webapp.web.services import Services


async def send_all_fast(tune: Services, campaign_id: int) -> dict[str, int]:
    return await send_all(make_sender(tune, policy=MAILBOX_FAST), campaign_id)


async def test_an_email_that_cannot_be_built_gives_its_slot_back(
    tune: Services, client: TestClientProtocol, auth: dict[str, Any], providers: dict[str, Provider]
) -> None:
    await add_mailbox(tune, providers["alpha"], daily_cap=2, hourly_cap=2)
    campaign_id = await campaign_with(client, auth, tune, 2, ["alpha"])
    async with tune.db.write() as session:
        first = await session.scalar(select(Contact.id).order_by(Contact.id).limit(1))
        await session.execute(update(Contact).where(Contact.id == first).values(email="no-domain"))
    assert (
        await client.post(f"/api/campaigns/{campaign_id}/send", headers=auth)
    ).status_code == 202

    counts = await send_all_fast(tune, campaign_id)
    assert (counts["sent"], counts["failed"]) == (1, 1)
    alpha = await (await client.get("/api/mailboxes/alpha", headers=auth)).get_json()
    assert alpha["remaining"] == 1, "the email that never left gave its slot back"

    # So one more goes now, and then the cap holds.
    more = await campaign_with(client, auth, tune, 2, ["alpha"])
    assert (await client.post(f"/api/campaigns/{more}/send", headers=auth)).status_code == 202
    sender = make_sender(tune, policy=MAILBOX_FAST)
    sender.start()
    try:
        deadline = time.monotonic() + 30
        while len(providers["alpha"].handler.messages) < 2:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
    finally:
        await sender.stop()
    assert len(providers["alpha"].handler.messages) == 2, "the daily cap of 2 is never passed"
    alpha = await (await client.get("/api/mailboxes/alpha", headers=auth)).get_json()
    assert alpha["remaining"] == 0


@pytest.mark.parametrize("storage", ["database", "redis"])
async def test_release_gives_back_exactly_the_slots_of_one_reservation(
    storage: str, tune: Services
) -> None:
    if storage == "redis" and not redis_available():
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    prefix = f"tune-test:{secrets.token_hex(4)}:"
    slots: Slots = RedisSlots(REDIS_URL, prefix=prefix) if storage == "redis" else DatabaseSlots()
    limit = Limit("mailbox:7:1", daily=3, hourly=3)
    domain = Limit("domain:example.com", hourly=5)
    now = utcnow()
    members = [secrets.token_hex(8) for _ in range(3)]
    async with tune.db.write() as session:
        for member in members:
            assert await slots.reserve(session, [limit, domain], now, member) is None
        assert await slots.reserve(session, [limit, domain], now, "one-too-many") is not None
        await slots.release(session, Taken((limit.key, domain.key), now, members[1]))
        assert (await slots.usage(session, limit, now)).remaining == 1
        assert (await slots.usage(session, domain, now)).remaining == 3
        assert await slots.reserve(session, [limit, domain], now, "again") is None
        assert (await slots.usage(session, limit, now)).remaining == 0
