"""Delivery to a real receiver that verifies Standard Webhooks signatures: through
failures, slow answers, downtime and a dispatcher killed mid-delivery, every event
arrives at least once and in order per contact, and nothing after the endpoint goes."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select

from tests.support.factories import make_campaign, make_recipient
from tests.support.receiver import Receiver, receiving
from tests.support.waiting import wait_for
from webapp.core.models import Link, WebhookDelivery, WebhookEndpoint, utcnow
from webapp.tracking.events import ClickEvent, OpenEvent, ReplyEvent
from webapp.web.services import Services
from webapp.webhooks.dispatcher import (
    Answer,
    Dispatcher,
    DispatchPolicy,
    lease_deliveries,
    record_answer,
    retry_after_seconds,
)
from webapp.webhooks.endpoints import create_endpoint, delete_endpoint

FAST = DispatchPolicy(
    timeout=0.5,
    retry_base=0.05,
    retry_max=0.3,
    lease_seconds=5,
    idle_poll=0.05,
    stop_grace=1,
    gauges_every=0.1,
)


async def deliveries(tune: Services) -> list[WebhookDelivery]:
    async with tune.db.read() as session:
        return list(await session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


async def endpoint_for(tune: Services, receiver: Receiver, events: list[str]) -> int:
    async with tune.db.write() as session:
        created = await create_endpoint(
            session, app_secret=tune.config.secret_key, url=receiver.url, events=events
        )
    receiver.secret = created.secret
    return created.endpoint.id


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.slow
async def test_every_event_arrives_in_order_through_failures_slowness_and_downtime(
    tune: Services,
) -> None:
    retries_before = sample("tune_webhook_deliveries_total", result="retry")
    with receiving() as receiver:
        endpoint_id = await endpoint_for(tune, receiver, ["open", "click", "reply"])
        async with tune.db.write() as session:
            campaign = await make_campaign(session, name="Spring push")
            contents = [
                await make_recipient(session, campaign, urls=("https://example.com/pricing",))
                for _ in range(4)
            ]
            links = {
                content.id: await session.scalar(
                    select(Link.id).where(Link.content_id == content.id)
                )
                for content in contents
            }
        receiver.fail_next = 3  # 500, 500 (Retry-After: 0), 500
        receiver.slow_next = 2  # then two answers slower than the dispatcher waits
        receiver.slow_seconds = 1.5
        dispatcher = Dispatcher(tune.db, tune.config.secret_key, FAST)
        dispatcher.start()
        try:
            for content in contents:
                await tune.writer.record(OpenEvent(content.id, source="api"))
            for content in contents:
                await tune.writer.record(
                    ClickEvent(content.id, source="api", link_id=links[content.id])
                )
            receiver.stop()  # down for a while; events keep coming
            for content in contents:
                await tune.writer.record(ReplyEvent(content.id, source="api"))
            await asyncio.sleep(1.0)
            receiver.start()

            async def all_delivered() -> bool:
                rows = await deliveries(tune)
                return len(rows) == 12 and all(row.status == "delivered" for row in rows)

            await wait_for(all_delivered)
            rows = await deliveries(tune)
            assert receiver.rejected == 0
            accepted = receiver.accepted()
            assert {row.message_id for row in rows} <= {item.message_id for item in accepted}
            for content in contents:
                expected = [row.message_id for row in rows if row.contact_id == content.contact_id]
                first_seen: list[str] = []
                for item in accepted:
                    contact = item.body["data"]["contact"]["id"]
                    if contact == content.contact_id and item.message_id not in first_seen:
                        first_seen.append(item.message_id)
                assert first_seen == expected
                types = [
                    next(i.body["type"] for i in accepted if i.message_id == m) for m in first_seen
                ]
                assert types == ["open", "click", "reply"]
            click = next(item.body for item in accepted if item.body["type"] == "click")
            assert click["data"]["link"]["url"] == "https://example.com/pricing"
            assert click["data"]["campaign"] == {"id": campaign.id, "name": "Spring push"}
            assert click["data"]["contact"]["email"].endswith(".example")
            assert click["data"]["prospect"]["tier"] == 1
            assert sample("tune_webhook_deliveries_total", result="retry") > retries_before
            await wait_for(lambda: _gauge_is_zero())

            # Deleted: nothing more goes out, whatever happens next.
            async with tune.db.write() as session:
                await delete_endpoint(session, endpoint_id)
            seen = len(receiver.received)
            for content in contents:
                await tune.writer.record(OpenEvent(content.id, source="api"))
            await asyncio.sleep(1.0)
            assert len(receiver.received) == seen
            assert await deliveries(tune) == []
        finally:
            await dispatcher.stop()


async def _gauge_is_zero() -> bool:
    return sample("tune_webhook_queue_depth") == 0.0


@pytest.mark.slow
async def test_a_dispatcher_killed_mid_delivery_loses_nothing(tune: Services) -> None:
    with receiving() as receiver:
        await endpoint_for(tune, receiver, ["open"])
        async with tune.db.write() as session:
            content = await make_recipient(session)
        receiver.slow_next = 1
        receiver.slow_seconds = 3.0
        first = Dispatcher(
            tune.db,
            tune.config.secret_key,
            DispatchPolicy(timeout=10, lease_seconds=1, idle_poll=0.05),
        )
        first.start()
        await tune.writer.record(OpenEvent(content.id, source="api"))
        await wait_for(lambda: _arrived(receiver, 1))
        # Killed while the receiver is still answering: nothing recorded, lease left behind.
        for task in [*first._in_flight, first._task]:
            assert task is not None
            task.cancel()
        await asyncio.gather(*first._in_flight, return_exceptions=True)
        await first.client.aclose()
        (row,) = await deliveries(tune)
        assert row.status == "delivering" and row.lease_owner == first.worker_id

        second = Dispatcher(tune.db, tune.config.secret_key, FAST)
        second.start()
        try:
            await wait_for(lambda: _status(tune, "delivered"))
        finally:
            await second.stop()
        ids = [item.message_id for item in receiver.received]
        assert ids == [row.message_id, row.message_id]  # at least once: the same webhook-id


async def _arrived(receiver: Receiver, count: int) -> bool:
    return len(receiver.received) >= count


async def _status(tune: Services, status: str) -> bool:
    return all(row.status == status for row in await deliveries(tune))


@pytest.mark.slow
async def test_two_dispatchers_share_the_queue_without_double_sending(tune: Services) -> None:
    with receiving() as receiver:
        await endpoint_for(tune, receiver, ["open"])
        async with tune.db.write() as session:
            campaign = await make_campaign(session)
            contents = [await make_recipient(session, campaign) for _ in range(30)]
        for content in contents:
            await tune.writer.record(OpenEvent(content.id, source="api"))
        pair = [Dispatcher(tune.db, tune.config.secret_key, FAST) for _ in range(2)]
        for dispatcher in pair:
            dispatcher.start()
        try:
            await wait_for(lambda: _status(tune, "delivered"))
        finally:
            for dispatcher in pair:
                await dispatcher.stop()
        ids = [item.message_id for item in receiver.received]
        assert len(ids) == 30 and len(set(ids)) == 30


async def test_retry_after_is_respected_and_a_day_of_failures_switches_the_endpoint_off(
    tune: Services,
) -> None:
    async with tune.db.write() as session:
        created = await create_endpoint(
            session,
            app_secret=tune.config.secret_key,
            url="https://crm.example/hook",
            events=["open"],
        )
        content = await make_recipient(session)
    await tune.writer.record(OpenEvent(content.id, source="api"))
    policy = DispatchPolicy()
    start = utcnow()
    async with tune.db.write() as session:
        (leased,) = await lease_deliveries(
            session, "w1", 10, app_secret=tune.config.secret_key, policy=policy, now=start
        )
        answer = Answer(503, retry_after=retry_after_seconds("120", start))
        assert await record_answer(session, leased, answer, "w1", policy=policy, now=start) == (
            "pending"
        )
    (row,) = await deliveries(tune)
    assert row.next_attempt_at == start + timedelta(seconds=120)
    assert row.last_status_code == 503
    # Failing ever since, a day later: the endpoint is switched off, with the reason.
    later = start + timedelta(hours=25)
    async with tune.db.write() as session:
        (leased,) = await lease_deliveries(
            session, "w1", 10, app_secret=tune.config.secret_key, policy=policy, now=later
        )
        await record_answer(
            session, leased, Answer(None, "timed out"), "w1", policy=policy, now=later
        )
        endpoint = await session.get(WebhookEndpoint, created.endpoint.id)
        assert endpoint is not None
        assert not endpoint.active and endpoint.disabled_reason
        assert "timed out" in endpoint.disabled_reason
    (row,) = await deliveries(tune)
    assert row.status == "failed"  # older than a day: given up
    # Switched off: nothing is leased for it any more.
    await tune.writer.record(OpenEvent(content.id, source="api"))
    async with tune.db.write() as session:
        assert (
            await lease_deliveries(
                session,
                "w1",
                10,
                app_secret=tune.config.secret_key,
                policy=policy,
                now=later + timedelta(hours=1),
            )
            == []
        )
