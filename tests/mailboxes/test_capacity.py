"""Caps over rolling windows: the warm-up ramp, slots taken by many senders at once (in
Redis and in the database, never one too many), and per-recipient-domain pacing."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest

from tests.support.factories import make_campaign, make_contact, make_prospect
from tests.support.servers import REDIS_URL, redis_available
from webapp.core.models import Mailbox, utcnow
from webapp.mailboxes.capacity import (
    DatabaseSlots,
    Limit,
    RedisSlots,
    Slots,
    assess,
    daily_cap_today,
)
from webapp.mailboxes.routing import Router
from webapp.outbound.sending.queue import SendPolicy, lease_batch, message_id_for, queue_campaign
from webapp.web.services import Services

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def test_warm_up_ramps_a_day_at_a_time_up_to_the_cap() -> None:
    mailbox = Mailbox(daily_cap=50, warmup_start=10, warmup_step=15, warmup_started_at=START)
    caps = [daily_cap_today(mailbox, START + timedelta(days=day, hours=23)) for day in range(5)]
    assert caps == [10, 25, 40, 50, 50]
    assert daily_cap_today(Mailbox(daily_cap=50, warmup_start=None), START) == 50


def test_rolling_windows_free_a_slot_when_the_oldest_send_leaves_them() -> None:
    limit = Limit("mailbox:1", daily=3, hourly=2, gap=30)
    now = START.timestamp()
    times = [now - 7200, now - 1800, now - 600]
    # Day full (3 in 24 h): free when the send of two hours ago is a day old.
    assert assess(times, limit, now) == (0, now - 7200 + 86400)
    # Hourly: two in the last hour, the first of them leaves the window at +30 min.
    hourly = Limit("mailbox:1", hourly=2)
    assert assess(times, hourly, now) == (0, now - 1800 + 3600)
    # The gap alone: one send 10 s ago, 30 s apart.
    assert assess([now - 10], Limit("m", gap=30), now) == (1_000_000, now + 20)


async def _race(slots: Slots, tune: Services, limit: Limit, tries: int) -> int:
    now = utcnow()

    async def take() -> bool:
        async with tune.db.write() as session:
            return await slots.reserve(session, [limit], now) is None

    return sum(await asyncio.gather(*(take() for _ in range(tries))))


async def test_database_slots_never_give_one_too_many(tune: Services) -> None:
    limit = Limit(f"mailbox:race:{secrets.token_hex(4)}", daily=20, hourly=5)
    assert await _race(DatabaseSlots(), tune, limit, 12) == 5


@pytest.mark.skipif(not redis_available(), reason="Redis is not running on 127.0.0.1:6379")
async def test_redis_slots_never_give_one_too_many(tune: Services) -> None:
    prefix = f"tune-test:{secrets.token_hex(4)}:"
    slots = RedisSlots(REDIS_URL, prefix=prefix)
    limit = Limit("mailbox:race", daily=7, hourly=50, gap=0)
    try:
        assert await _race(slots, tune, limit, 20) == 7
        async with tune.db.read() as session:
            usage = await slots.usage(session, limit, utcnow())
        assert (usage.day, usage.remaining) == (7, 0)
        assert usage.next_free is not None and usage.next_free > utcnow() + timedelta(hours=23)
        # Two keys at once: all or nothing.
        both = [Limit("mailbox:other", hourly=10), limit]
        async with tune.db.write() as session:
            assert await slots.reserve(session, both, utcnow()) is not None
            other = await slots.usage(session, Limit("mailbox:other", hourly=10), utcnow())
        assert other.hour == 0
    finally:
        await slots.client.delete([prefix + "mailbox:race", prefix + "mailbox:other"])


async def test_per_domain_pacing_holds_emails_to_one_company(tune: Services) -> None:
    config = tune.config.with_changes(send_domain_hourly=2)
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
        prospect = await make_prospect(session, campaign, domain="bigco.example")
        for number in range(4):
            await make_contact(session, prospect, f"p{number}@BigCo.example")
        other = await make_prospect(session, campaign, domain="small.example")
        await make_contact(session, other, "x@small.example")
    from webapp.outbound.contents import TrackingUrls, generate_contents

    await generate_contents(tune.db, campaign.id, TrackingUrls("http://t", tune.signer))
    now = utcnow()
    async with tune.db.write() as session:
        await queue_campaign(session, campaign.id, now=now)
        leased = await lease_batch(
            session,
            "w1",
            50,
            policy=SendPolicy(),
            message_id=partial(message_id_for, config),
            now=now,
            router=Router(config, DatabaseSlots()),
        )
    domains = sorted(email.email.split("@")[1].lower() for email in leased)
    assert domains == ["bigco.example", "bigco.example", "small.example"]
    assert all(email.mailbox_id is None for email in leased), "no mailboxes: the default one"
