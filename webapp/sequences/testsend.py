"""Test then winner: a follow-up step with variants goes to a share of its contacts
first, and after a wait the winning variant goes to the rest.

A contact is in the test when a hash of (step, contact) falls below the step's
`test_share` percent: deterministic like the variant split, and independent of
it. Test contacts get their variant as usual; the others wait. The first
contact to reach the step starts the wait; when `test_wait` has passed, the
winner is chosen once and stored on the step: the variant that is best with at
least 95% probability on the campaign's winner metric (replies, or human
clicks; never opens), judged by the same
Beta-Binomial rule as the A/B verdict, or when none has reached 95% by then,
the leader (the best rate so far; the earlier variant on a tie). Every contact
not in the test gets that variant. Step 1 (the send queue's first email) has
no test.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from webapp.core.models import SequenceStep
from webapp.sequences.figures import step_figures
from webapp.sequences.variants import Arm, winner

SHARE_MIN, SHARE_MAX = 5, 50
"""The test share, in percent of the step's contacts."""


def in_test(step_id: int, contact_id: int, share: int) -> bool:
    digest = hashlib.blake2b(f"test:{step_id}:{contact_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 100 < share


def decision_time(step: SequenceStep, now: datetime) -> datetime:
    """When the winner will be chosen (a wait's length from now if no test email yet)."""
    wait = timedelta(seconds=step.test_wait_seconds or 0)
    return (step.test_started_at or now) + wait


def choose(arms: list[Arm]) -> tuple[int, str]:
    """The winner past 95%, else the leader: (variant, `probability` or `leader`)."""
    best = winner(arms)
    if best is not None:
        return best, "probability"
    rates = [arm.successes / arm.trials if arm.trials else 0.0 for arm in arms]
    return max(range(len(arms)), key=lambda i: (rates[i], -i)), "leader"


async def winner_for(
    session: AsyncSession, step: SequenceStep, count: int, metric: str, now: datetime
) -> int | None:
    """The variant the rest of the step's contacts get, chosen (and stored) once the wait
    is over; None while they must wait."""
    if step.winner is not None:
        return step.winner
    if step.test_started_at is None or now < decision_time(step, now):
        return None
    if session.get_bind().dialect.name == "postgresql":
        # Another scheduler may be deciding too: the first one's choice holds.
        await session.flush()
        await session.refresh(step, with_for_update=True)
        if step.winner is not None:
            return step.winner
    figures = await step_figures(session, step.campaign_id, with_totals=False)
    success = "reply" if metric == "reply" else "click_unique"
    arms = [
        Arm(
            figures.get((step.position, v), {}).get("sent", 0),
            figures.get((step.position, v), {}).get(success, 0),
        )
        for v in range(count)
    ]
    step.winner, step.winner_reason = choose(arms)
    await session.flush()
    return step.winner
