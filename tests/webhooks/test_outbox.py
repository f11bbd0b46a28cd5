"""The outbox rows are written in the event writer's own transaction, only where wanted."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from tests.support.factories import make_campaign, make_recipient
from webapp.core.models import Link, Prospect, WebhookDelivery, WebhookEndpoint
from webapp.outbound.sending.queue import SendPolicy, lease_batch, queue_campaign, record_outcome
from webapp.outbound.smtp.outcomes import DeliveryOutcome, DeliveryResult
from webapp.tracking.events import ClickEvent, OpenEvent, Outcome, ReplyEvent, Target, TrackedEvent
from webapp.tracking.store import store_events
from webapp.tracking.writer import EventWriter
from webapp.web.services import Services
from webapp.webhooks.endpoints import (
    SUBSCRIPTIONS,
    create_endpoint,
    delete_endpoint,
    update_endpoint,
)

APP_SECRET = "an-application-secret-0123456789"


async def outbox(tune: Services) -> list[WebhookDelivery]:
    async with tune.db.read() as session:
        return list(await session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


async def subscribe(tune: Services, events: list[str], include_flagged: bool = False) -> int:
    async with tune.db.write() as session:
        created = await create_endpoint(
            session,
            app_secret=APP_SECRET,
            url="https://crm.example/hook",
            events=events,
            include_flagged=include_flagged,
        )
        return created.endpoint.id


async def test_no_endpoint_no_outbox_rows(tune: Services) -> None:
    async with tune.db.write() as session:
        content = await make_recipient(session)
    await tune.writer.record(OpenEvent(content.id, source="api"))
    assert await outbox(tune) == []


async def test_subscribed_events_get_a_row_per_endpoint_in_the_same_commit(tune: Services) -> None:
    opens = await subscribe(tune, ["open"])
    everything = await subscribe(tune, ["open", "click", "reply", "prospect.hot"])
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
        content = await make_recipient(session, campaign, urls=("https://example.com/a",))
        link_id = await session.scalar(select(Link.id).where(Link.content_id == content.id))
    # A human click without an open before it: the writer infers the open, first.
    await tune.writer.record(ClickEvent(content.id, source="api", link_id=link_id))
    await tune.writer.record(ReplyEvent(content.id, source="api"))
    rows = await outbox(tune)
    got = [(row.endpoint_id, row.event_type) for row in rows]
    assert got == [
        (opens, "open"),
        (everything, "open"),
        (everything, "click"),
        (everything, "reply"),
        (everything, "prospect.hot"),
    ]
    assert {row.contact_id for row in rows} == {content.contact_id}
    assert [row.link_id for row in rows if row.event_type == "click"] == [link_id]
    assert all(row.status == "pending" and row.message_id.startswith("msg_") for row in rows)
    assert len({row.message_id for row in rows}) == len(rows)
    # A second reply: the prospect is already hot, so no second prospect.hot.
    await tune.writer.record(ReplyEvent(content.id, source="api"))
    types = [row.event_type for row in await outbox(tune)]
    assert types.count("prospect.hot") == 1 and types.count("reply") == 2
    async with tune.db.read() as session:
        assert (await session.get(Prospect, content.prospect_id)).hot  # type: ignore[union-attr]


def machine(event: TrackedEvent, target: Target) -> str | None:
    return "prefetch" if event.kind == "open" else None


async def test_machine_opens_go_only_to_endpoints_that_ask(tune: Services) -> None:
    human_only = await subscribe(tune, ["open"])
    with_machines = await subscribe(tune, ["open"], include_flagged=True)
    async with tune.db.write() as session:
        content = await make_recipient(session)
    writer = EventWriter(tune.db, classify=machine)
    writer.start()
    try:
        await writer.record(OpenEvent(content.id))
    finally:
        await writer.stop()
    rows = await outbox(tune)
    assert [(row.endpoint_id, row.flag_reason) for row in rows] == [(with_machines, "prefetch")]
    assert human_only not in {row.endpoint_id for row in rows}


async def test_inactive_and_deleted_endpoints_get_nothing(tune: Services) -> None:
    paused = await subscribe(tune, ["open"])
    gone = await subscribe(tune, ["open"])
    async with tune.db.write() as session:
        content = await make_recipient(session)
        await update_endpoint(session, paused, active=False)
        await delete_endpoint(session, gone)
    await tune.writer.record(OpenEvent(content.id, source="api"))
    assert await outbox(tune) == []


async def test_a_stale_subscription_cache_cannot_fail_the_batch(tune: Services) -> None:
    """Another process deleted the endpoint; this one's cache still lists it."""
    endpoint_id = await subscribe(tune, ["open"])
    async with tune.db.write() as session:
        content = await make_recipient(session)
    await tune.writer.record(OpenEvent(content.id, source="api"))  # caches the endpoint
    async with tune.db.write() as session:
        await session.delete(await session.get(WebhookEndpoint, endpoint_id))
    # No invalidation here, as in another process: the event is still stored.
    assert await tune.writer.record(OpenEvent(content.id, source="api")) is Outcome.STORED
    assert len(await outbox(tune)) == 0  # the first row went with its endpoint (cascade)


async def test_a_failed_send_and_a_bounce_reach_the_outbox_with_the_reason(tune: Services) -> None:
    await subscribe(tune, ["send.failed", "bounce"])
    policy = SendPolicy()
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
        failing = await make_recipient(session, campaign)
        bouncing = await make_recipient(session, campaign)
        await queue_campaign(session, campaign.id)
    async with tune.db.write() as session:
        leased = await lease_batch(session, "w1", 5, policy=policy, message_id=str)
        outcomes = {
            failing.id: DeliveryResult(DeliveryOutcome.PERMANENT, 554, "message refused"),
            bouncing.id: DeliveryResult(DeliveryOutcome.PERMANENT, 550, "no mailbox", bounced=True),
        }
        for email in leased:
            await record_outcome(session, email, outcomes[email.content_id], "w1", policy=policy)
    rows = {row.content_id: row for row in await outbox(tune)}
    assert rows[failing.id].event_type == "send.failed"
    assert rows[failing.id].detail == "554 message refused"
    assert rows[failing.id].contact_id == failing.contact_id
    assert rows[bouncing.id].event_type == "bounce"


@pytest.mark.timeout(60)
async def test_transactions_reloading_stale_routes_at_once_all_finish(tune: Services) -> None:
    """The inbox stores its events on the event loop: while one transaction reloads the
    subscription routes another may ask for them. A lock held across that reload once
    blocked the loop's thread for good (seen with two inbox pollers on PostgreSQL)."""
    await subscribe(tune, ["open"])
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
        contents = [await make_recipient(session, campaign) for _ in range(4)]
    SUBSCRIPTIONS.invalidate()

    async def store(content_id: int) -> None:
        async with tune.db.write() as session:
            await store_events(session, [OpenEvent(content_id, source="imap")])

    await asyncio.gather(*(store(content.id) for content in contents))
    assert sorted(row.content_id for row in await outbox(tune)) == sorted(c.id for c in contents)
