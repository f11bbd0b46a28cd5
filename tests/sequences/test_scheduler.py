"""The scheduler with a fixed clock: send windows across time zones, conditions on human
activity only, and leases that survive a scheduler dying mid-step."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.support.factories import (
    enrollment_of,
    make_campaign,
    make_contact,
    make_content,
    make_prospect,
)
from webapp.core.config import Config
from webapp.core.models import Content, Enrollment
from webapp.outbound.contents import TrackingUrls
from webapp.outbound.sending.queue import SendPolicy, lease_batch, record_outcome
from webapp.outbound.smtp.outcomes import DeliveryOutcome, DeliveryResult
from webapp.sequences import steps
from webapp.sequences.scheduler import TickSummary, advance, enroll, lease_due
from webapp.tracking.events import OpenEvent
from webapp.tracking.store import store_events
from webapp.web.services import Services

FRIDAY_3PM_UTC = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)
SENT = FRIDAY_3PM_UTC - timedelta(days=3)


async def setup(
    tune: Services, contacts: list[dict[str, Any]], condition: str = "no_reply", **campaign: Any
) -> tuple[int, list[int]]:
    """A campaign with a 1-day step 2; each contact got step 1 at SENT and is enrolled."""
    async with tune.db.write() as session:
        row = await make_campaign(session, **campaign)
        ids = []
        for number, fields in enumerate(contacts):
            prospect = await make_prospect(session, row, country=fields.get("country"))
            contact = await make_contact(session, prospect)
            await make_content(
                session,
                contact,
                send_status="sent",
                sent_at=SENT,
                message_id=f"<step1.{number}@sales.tune.test>",
                subject="Quick question",
                first_opened_at=fields.get("opened"),
            )
            ids.append(contact.id)
        await steps.add_step(session, row.id, "P1D", condition)
        assert await enroll(session, row.id, now=SENT) == len(contacts)
        return row.id, ids


async def tick(tune: Services, now: datetime, worker: str = "w1") -> TickSummary:
    async with tune.db.write() as session:
        leased = await lease_due(session, worker, 100, lease_seconds=60, now=now)
    async with tune.db.write() as session:
        return await advance(
            session, worker, leased, TrackingUrls("http://tune.test", tune.signer), "Ana", now
        )


async def step_two(tune: Services, campaign_id: int) -> dict[int, Content]:
    async with tune.db.read() as session:
        rows = await session.scalars(
            select(Content).where(Content.campaign_id == campaign_id, Content.step == 2)
        )
        return {row.contact_id: row for row in rows}


async def due_times(tune: Services, contact_ids: list[int]) -> dict[int, datetime | None]:
    async with tune.db.read() as session:
        rows = await session.execute(
            select(Enrollment.contact_id, Enrollment.due_at).where(
                Enrollment.contact_id.in_(contact_ids)
            )
        )
        return {contact_id: due for contact_id, due in rows}


async def test_steps_wait_for_the_window_in_each_contacts_local_time(tune: Services) -> None:
    campaign_id, (berlin, tokyo, new_york, unknown) = await setup(
        tune,
        [{"country": "Germany"}, {"country": "Japan"}, {"country": "USA"}, {}],
        send_days="12345",
        send_from_hour=9,
        send_until_hour=17,
        timezone="America/New_York",
    )
    # Friday 15:00 UTC: 16:00 in Berlin, 10:00 in New York, Saturday 00:00 in Tokyo.
    summary = await tick(tune, FRIDAY_3PM_UTC)
    assert summary.written == 3 and summary.waiting == 1
    assert set(await step_two(tune, campaign_id)) == {berlin, new_york, unknown}
    # Tokyo waits for Monday 09:00 JST, which is Monday 00:00 UTC.
    assert (await due_times(tune, [tokyo]))[tokyo] == datetime(2026, 12, 7, 0, 0, tzinfo=UTC)

    assert (await tick(tune, datetime(2026, 12, 6, 23, 59, tzinfo=UTC))).written == 0
    assert (await tick(tune, datetime(2026, 12, 7, 0, 0, tzinfo=UTC))).written == 1
    assert tokyo in await step_two(tune, campaign_id)


async def test_a_step_outside_hours_waits_for_the_next_opening_across_a_weekend(
    tune: Services,
) -> None:
    _, (berlin, new_york) = await setup(
        tune,
        [{"country": "Deutschland"}, {"country": "United States"}],
        send_days="12345",
        send_from_hour=9,
        send_until_hour=17,
        timezone="America/New_York",
    )
    friday_late = datetime(2026, 12, 4, 22, 30, tzinfo=UTC)  # 23:30 Berlin, 17:30 New York
    assert (await tick(tune, friday_late)).waiting == 2
    due = await due_times(tune, [berlin, new_york])
    assert due[berlin] == datetime(2026, 12, 7, 8, 0, tzinfo=UTC)  # Monday 09:00 CET
    assert due[new_york] == datetime(2026, 12, 7, 14, 0, tzinfo=UTC)  # Monday 09:00 EST


async def test_only_human_opens_satisfy_an_opened_condition(tune: Services) -> None:
    campaign_id, (human, machine, none) = await setup(
        tune, [{"opened": SENT + timedelta(hours=1)}, {}, {}], condition="opened_no_reply"
    )
    async with tune.db.write() as session:
        [machine_content] = await session.scalars(
            select(Content).where(Content.contact_id == machine)
        )
        # A privacy proxy fetched the pixel: stored, flagged, not a human open.
        await store_events(
            session,
            [OpenEvent(machine_content.id, SENT + timedelta(minutes=1))],
            classify=lambda event, target: "apple_mpp",
        )
    summary = await tick(tune, FRIDAY_3PM_UTC)
    assert summary.written == 1 and summary.skipped == 2
    assert set(await step_two(tune, campaign_id)) == {human}
    async with tune.db.read() as session:
        rows = await session.execute(
            select(Enrollment.contact_id, Enrollment.status).where(
                Enrollment.contact_id.in_([machine, none])
            )
        )
        statuses = {contact_id: status for contact_id, status in rows}
    assert statuses == {machine: "finished", none: "finished"}


async def test_a_scheduler_dying_mid_step_loses_and_doubles_nothing(
    tune: Services, config: Config
) -> None:
    campaign_id, contacts = await setup(tune, [{}, {}, {}])
    now = FRIDAY_3PM_UTC
    async with tune.db.write() as session:
        dead = await lease_due(session, "dead", 100, lease_seconds=30, now=now)
    assert len(dead) == 3
    # The dead scheduler's lease holds: nobody else takes the rows meanwhile.
    assert (await tick(tune, now + timedelta(seconds=10), worker="live")).written == 0

    # A scheduler that fails mid-write commits nothing; the lease stays and expires.
    async with tune.db.write() as session:
        leased = await lease_due(
            session, "flaky", 100, lease_seconds=30, now=now + timedelta(seconds=31)
        )
    try:
        async with tune.db.write() as session:
            await advance(
                session,
                "flaky",
                leased,
                TrackingUrls("http://tune.test", tune.signer),
                "Ana",
                now + timedelta(seconds=31),
            )
            raise ConnectionError("the process died here")
    except ConnectionError:
        pass
    assert await step_two(tune, campaign_id) == {}

    summary = await tick(tune, now + timedelta(seconds=62), worker="live")
    assert summary.written == 3
    # The dead and the flaky scheduler come back: their leases are gone, they write nothing.
    async with tune.db.write() as session:
        late = await advance(
            session, "dead", dead, TrackingUrls("http://tune.test", tune.signer), "Ana", now
        )
    assert late.written == 0 and late.lost == 3
    assert (await tick(tune, now + timedelta(days=30), worker="live")).written == 0
    async with tune.db.read() as session:
        written = await session.scalar(
            select(func.count()).select_from(Content).where(Content.step == 2)
        )
    assert written == 3
    assert set(await step_two(tune, campaign_id)) == set(contacts)


@pytest.mark.parametrize(
    ("result", "reason"),
    [
        (DeliveryResult(DeliveryOutcome.PERMANENT, 550, "no such user", bounced=True), "bounced"),
        (DeliveryResult(DeliveryOutcome.PERMANENT, 554, "message refused"), "send_failed"),
    ],
)
async def test_an_email_that_cannot_be_delivered_stops_the_sequence(
    tune: Services, result: DeliveryResult, reason: str
) -> None:
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
        await steps.add_step(session, campaign.id, "P1D")
        contact = await make_contact(session, await make_prospect(session, campaign))
        await make_content(
            session, contact, send_status="queued", next_attempt_at=datetime.now(UTC)
        )
        await enroll(session, campaign.id)
    policy = SendPolicy()
    async with tune.db.write() as session:
        [email] = await lease_batch(
            session, "w1", 10, policy=policy, message_id=lambda cid: f"<{cid}@t.test>"
        )
        await record_outcome(session, email, result, "w1", policy=policy)
    enrollment = await enrollment_of(tune.db, contact.id)
    assert (enrollment.status, enrollment.stop_reason, enrollment.due_at) == (
        "stopped",
        reason,
        None,
    )
