"""Test then winner on a fixed clock: a share of the step's contacts get the variants
first; after the wait the rest get the winner (past 95%, or the leader when none is)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from quart.typing import TestClientProtocol
from sqlalchemy import select, update

from tests.sequences.test_scheduler import FRIDAY_3PM_UTC, setup, tick
from webapp.core.models import Content, SequenceStep
from webapp.sequences import steps, testsend
from webapp.sequences.variants import Arm
from webapp.web.services import Services

CONTACTS = 100
"""All leased in one tick of the test helper."""


async def two_variant_test(
    tune: Services, share: int = 20, wait: str = "PT1H"
) -> tuple[int, list[int]]:
    campaign_id, contacts = await setup(tune, [{}] * CONTACTS)
    async with tune.db.write() as session:
        await steps.save_step_template(session, campaign_id, 2, "all", "A", "<p>Version A</p>")
        await steps.save_step_template(
            session, campaign_id, 2, "all", "B", "<p>Version B</p>", variant="B"
        )
        await steps.update_step(session, campaign_id, 2, {"test_share": share, "test_wait": wait})
    return campaign_id, contacts


async def step_two(tune: Services, campaign_id: int) -> list[Content]:
    async with tune.db.read() as session:
        rows = await session.scalars(
            select(Content)
            .where(Content.campaign_id == campaign_id, Content.step == 2)
            .order_by(Content.id)
        )
        return list(rows)


async def the_step(tune: Services, campaign_id: int) -> SequenceStep:
    async with tune.db.read() as session:
        step = await session.scalar(
            select(SequenceStep).where(
                SequenceStep.campaign_id == campaign_id, SequenceStep.position == 2
            )
        )
        assert step is not None
        return step


async def test_the_test_share_goes_first_and_the_winner_to_the_rest(tune: Services) -> None:
    campaign_id, contacts = await two_variant_test(tune)
    step = await the_step(tune, campaign_id)
    summary = await tick(tune, FRIDAY_3PM_UTC)
    tested = await step_two(tune, campaign_id)
    expected = {c for c in contacts if testsend.in_test(step.id, c, 20)}
    assert {c.contact_id for c in tested} == expected
    assert summary.written == len(tested) and summary.waiting == CONTACTS - len(tested)
    assert 0.1 * CONTACTS < len(tested) < 0.3 * CONTACTS
    assert {c.variant for c in tested} == {0, 1}

    # Half-way through the wait nothing more goes out.
    assert (await tick(tune, FRIDAY_3PM_UTC + timedelta(minutes=30))).written == 0

    # Every B test email is answered, no A one: B wins with 95% probability.
    moment = FRIDAY_3PM_UTC + timedelta(minutes=10)
    async with tune.db.write() as session:
        await session.execute(
            update(Content)
            .where(Content.campaign_id == campaign_id, Content.step == 2)
            .values(sent_at=moment, send_status="sent")
        )
        await session.execute(
            update(Content)
            .where(Content.campaign_id == campaign_id, Content.step == 2, Content.variant == 1)
            .values(replied_at=moment)
        )
    rest = await tick(tune, FRIDAY_3PM_UTC + timedelta(hours=1))
    assert rest.written == CONTACTS - len(tested)
    written = await step_two(tune, campaign_id)
    assert {c.variant for c in written if c.id not in {t.id for t in tested}} == {1}
    assert all("Version B" in c.html for c in written if c.variant == 1)
    decided = await the_step(tune, campaign_id)
    assert (decided.winner, decided.winner_reason) == (1, "probability")


async def test_the_leader_wins_when_the_wait_runs_out_below_95_percent(tune: Services) -> None:
    campaign_id, _ = await two_variant_test(tune, share=30, wait="PT2H")
    await tick(tune, FRIDAY_3PM_UTC)
    tested = await step_two(tune, campaign_id)
    a_emails = [c for c in tested if c.variant == 0]
    moment = FRIDAY_3PM_UTC + timedelta(minutes=5)
    async with tune.db.write() as session:
        await session.execute(
            update(Content)
            .where(Content.campaign_id == campaign_id, Content.step == 2)
            .values(sent_at=moment, send_status="sent")
        )
        # One reply for A: ahead, far from 95%.
        await session.execute(
            update(Content).where(Content.id == a_emails[0].id).values(replied_at=moment)
        )
    assert (await tick(tune, FRIDAY_3PM_UTC + timedelta(hours=1, minutes=59))).written == 0
    rest = await tick(tune, FRIDAY_3PM_UTC + timedelta(hours=2))
    assert rest.written == CONTACTS - len(tested)
    decided = await the_step(tune, campaign_id)
    assert (decided.winner, decided.winner_reason) == (0, "leader")
    later = [c for c in await step_two(tune, campaign_id) if c.id not in {t.id for t in tested}]
    assert {c.variant for c in later} == {0}


def test_the_leader_rule() -> None:
    assert testsend.choose([Arm(100, 10), Arm(100, 30)]) == (1, "probability")
    assert testsend.choose([Arm(20, 2), Arm(20, 3)]) == (1, "leader")
    assert testsend.choose([Arm(0, 0), Arm(0, 0)]) == (0, "leader")  # a tie: the earlier


async def test_the_api_sets_and_shows_the_test(
    tune: Services, client: TestClientProtocol, auth: dict[str, Any]
) -> None:
    campaign_id, _ = await setup(tune, [{}])
    path = f"/api/campaigns/{campaign_id}/steps/2"
    answer = await client.patch(path, json={"test_share": 20, "test_wait": "PT4H"}, headers=auth)
    assert answer.status_code == 200
    assert (await answer.get_json())["test"] == {
        "share": 20,
        "wait": "PT4H",
        "started_at": None,
        "winner": None,
        "decided_by": None,
    }
    for body, field in (
        ({"test_share": 80, "test_wait": "PT4H"}, "test_share"),
        ({"test_share": 20, "test_wait": "soon"}, "test_wait"),
    ):
        bad = await client.patch(path, json=body, headers=auth)
        assert bad.status_code == 422
        assert (await bad.get_json())["error"]["field"] == field
    first = await client.patch(
        f"/api/campaigns/{campaign_id}/steps/1",
        json={"test_share": 20, "test_wait": "PT1H"},
        headers=auth,
    )
    assert first.status_code == 422
    off = await client.patch(path, json={"test_share": 0}, headers=auth)
    assert (await off.get_json())["test"] is None


@pytest.mark.parametrize("share", [5, 50])
def test_the_share_is_about_right(share: int) -> None:
    inside = sum(testsend.in_test(3, contact, share) for contact in range(1, 20_001))
    assert abs(inside - 200 * share) < 0.1 * 200 * share
