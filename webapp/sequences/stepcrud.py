"""A campaign's sequence steps: listing, adding, changing, moving and deleting them.

Steps are numbered from 1; step 1 is the campaign's first email and exists for
every campaign (saved on first change when the campaign predates sequences).
A step that has sent anything keeps its number (it cannot be deleted or moved,
only disabled), so `contents.step` stays true. A new last step reopens the
contacts who had finished the sequence.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.campaigns.queries import get_campaign
from webapp.core.errors import Conflict, NotFound, ValidationFailed
from webapp.core.models import Content, Enrollment, SequenceStep
from webapp.sequences import testsend
from webapp.sequences.stepinput import parse_bool, parse_condition, parse_delay
from webapp.sequences.variants import label

MAX_STEPS = 10
REOPEN_BATCH = 1000


async def ensure_first_step(session: AsyncSession, campaign_id: int) -> SequenceStep:
    """Step 1 of the campaign, created when the campaign predates sequences."""
    first = await session.scalar(
        select(SequenceStep).where(
            SequenceStep.campaign_id == campaign_id, SequenceStep.position == 1
        )
    )
    if first is None:
        first = _first_step(campaign_id)
        session.add(first)
        await session.flush()
    return first


async def list_steps(session: AsyncSession, campaign_id: int) -> list[SequenceStep]:
    """The campaign's steps in order; step 1 always among them (unsaved if it has no row)."""
    await get_campaign(session, campaign_id)
    rows = list(
        await session.scalars(
            select(SequenceStep)
            .where(SequenceStep.campaign_id == campaign_id)
            .order_by(SequenceStep.position)
        )
    )
    if not rows or rows[0].position != 1:
        rows.insert(0, _first_step(campaign_id))
    return rows


def _first_step(campaign_id: int) -> SequenceStep:
    return SequenceStep(
        campaign_id=campaign_id,
        position=1,
        delay="PT0S",
        delay_seconds=0,
        condition="no_reply",
        as_reply=False,
        enabled=True,
    )


async def get_step(
    session: AsyncSession, campaign_id: int, position: int, *, create: bool = False
) -> SequenceStep:
    """One step; `create` saves step 1 of a campaign that has no row for it yet."""
    await get_campaign(session, campaign_id)
    if position == 1:
        if create:
            return await ensure_first_step(session, campaign_id)
        return (await list_steps(session, campaign_id))[0]
    step = await session.scalar(
        select(SequenceStep).where(
            SequenceStep.campaign_id == campaign_id, SequenceStep.position == position
        )
    )
    if step is None:
        raise NotFound(f"campaign {campaign_id} has no step {position}")
    return step


async def add_step(
    session: AsyncSession,
    campaign_id: int,
    delay: object,
    condition: object = "no_reply",
    as_reply: object = True,
) -> SequenceStep:
    """Append a follow-up; contacts who had finished the sequence go on to it."""
    delay_text, seconds = parse_delay(delay)
    await ensure_first_step(session, campaign_id)
    steps = await list_steps(session, campaign_id)
    if len(steps) >= MAX_STEPS:
        raise Conflict(f"a sequence has at most {MAX_STEPS} steps")
    step = SequenceStep(
        campaign_id=campaign_id,
        position=steps[-1].position + 1,
        delay=delay_text,
        delay_seconds=seconds,
        condition=parse_condition(condition),
        as_reply=parse_bool(as_reply, "as_reply"),
        enabled=True,
    )
    session.add(step)
    await session.flush()
    await _reopen_finished(session, campaign_id, seconds)
    return step


async def _reopen_finished(session: AsyncSession, campaign_id: int, delay_seconds: int) -> None:
    """Contacts who had finished the sequence are due for the new last step."""
    after = 0
    while True:
        rows = (
            await session.execute(
                select(Enrollment.id, Enrollment.last_sent_at)
                .where(
                    Enrollment.campaign_id == campaign_id,
                    Enrollment.status == "finished",
                    Enrollment.last_sent_at.is_not(None),
                    Enrollment.id > after,
                )
                .order_by(Enrollment.id)
                .limit(REOPEN_BATCH)
            )
        ).all()
        if not rows:
            return
        after = rows[-1][0]
        await session.execute(
            update(Enrollment),
            [
                {
                    "id": row_id,
                    "status": "active",
                    "due_at": last_sent + timedelta(seconds=delay_seconds),
                }
                for row_id, last_sent in rows
                if last_sent is not None
            ],
        )


def step_json(step: SequenceStep) -> dict[str, Any]:
    """A step without its figures (step 1 has no delay or condition: it is the first email)."""
    first = step.position == 1
    return {
        "step": step.position,
        "delay": None if first else step.delay,
        "delay_seconds": None if first else step.delay_seconds,
        "condition": None if first else step.condition,
        "as_reply": step.as_reply,
        "enabled": step.enabled,
        "test": None
        if not step.test_share
        else {
            "share": step.test_share,
            "wait": step.test_wait,
            "started_at": step.test_started_at.isoformat() if step.test_started_at else None,
            "winner": label(step.winner) if step.winner is not None else None,
            "decided_by": step.winner_reason,
        },
    }


async def has_sent(session: AsyncSession, campaign_id: int, positions: list[int]) -> bool:
    """Whether any email of these steps was written for anyone (sent or on its way)."""
    found = await session.scalar(
        select(Content.id)
        .where(Content.campaign_id == campaign_id, Content.step.in_(positions))
        .limit(1)
    )
    return found is not None


async def update_step(
    session: AsyncSession, campaign_id: int, position: int, changes: dict[str, Any]
) -> SequenceStep:
    """Change a step's delay, condition, as_reply, enabled, test send (`test_share`,
    `test_wait`), or move it (`position`)."""
    step = await get_step(session, campaign_id, position, create=True)
    if position == 1 and set(changes) & {"delay", "condition", "position"}:
        raise ValidationFailed("step 1 is the first email: it has no delay, condition or place")
    if "delay" in changes:
        step.delay, step.delay_seconds = parse_delay(changes["delay"])
    if "condition" in changes:
        step.condition = parse_condition(changes["condition"])
    if "as_reply" in changes:
        step.as_reply = parse_bool(changes["as_reply"], "as_reply")
    if "enabled" in changes:
        enabled = parse_bool(changes["enabled"], "enabled")
        if position == 1 and not enabled:
            raise ValidationFailed("step 1 cannot be disabled", field="enabled")
        step.enabled = enabled
    if "position" in changes:
        await _move(session, campaign_id, step, changes["position"])
    if {"test_share", "test_wait"} & set(changes):
        _set_test(step, changes.get("test_share", step.test_share), changes.get("test_wait"))
    await session.flush()
    return step


def _set_test(step: SequenceStep, share: object, wait: object) -> None:
    """Test then winner: `test_share` percent first, the winner after `test_wait`;
    a share of 0 (or null) sends every contact its variant at once."""
    if share in (None, 0):
        step.test_share = step.test_wait = step.test_wait_seconds = None
        return
    if step.position == 1:
        raise ValidationFailed("step 1 has no test send: it is the first email", field="test_share")
    low, high = testsend.SHARE_MIN, testsend.SHARE_MAX
    if isinstance(share, bool) or not isinstance(share, int) or not low <= share <= high:
        raise ValidationFailed(
            f"test_share: a whole percentage from {low} to {high} (0 switches the test off)",
            field="test_share",
        )
    if wait is None and step.test_wait is None:
        raise ValidationFailed("test_wait: how long the test runs, such as PT4H", field="test_wait")
    if wait is not None:
        try:
            text, seconds = parse_delay(wait)
        except ValidationFailed:
            raise ValidationFailed(
                "test_wait: an ISO 8601 duration such as PT4H or P1D", field="test_wait"
            ) from None
        step.test_wait, step.test_wait_seconds = text, seconds
    step.test_share = share


async def _move(
    session: AsyncSession, campaign_id: int, step: SequenceStep, target: object
) -> None:
    steps = await list_steps(session, campaign_id)
    last = steps[-1].position
    if isinstance(target, bool) or not isinstance(target, int) or not 2 <= target <= last:
        raise ValidationFailed(f"position: a step number from 2 to {last}", field="position")
    low, high = sorted((step.position, target))
    if await has_sent(session, campaign_id, list(range(low, high + 1))):
        raise Conflict("steps that have sent emails keep their place; disable them instead")
    order = [s for s in steps if s.id != step.id]
    order.insert(target - 1, step)
    # Two passes so the unique (campaign, position) never sees a duplicate.
    for s in order:
        s.position = -s.position if s.position > 0 else s.position
    await session.flush()
    for number, s in enumerate(order, start=1):
        s.position = number
    await session.flush()


async def delete_step(session: AsyncSession, campaign_id: int, position: int) -> None:
    """Delete a follow-up that has sent nothing; later steps move up one."""
    step = await get_step(session, campaign_id, position)
    if position == 1:
        raise Conflict("step 1 is the first email and cannot be deleted")
    steps = await list_steps(session, campaign_id)
    later = [s.position for s in steps if s.position >= position]
    if await has_sent(session, campaign_id, later):
        raise Conflict(f"step {position} or a later one has sent emails: disable it instead")
    await session.delete(step)
    await session.flush()
    for s in steps:
        if s.position > position:
            s.position -= 1
            await session.flush()
