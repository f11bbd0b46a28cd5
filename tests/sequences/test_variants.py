"""A/B variants: an even, deterministic split, and a winner only past 95% on replies or clicks."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from quart.typing import TestClientProtocol
from sqlalchemy import select, update

from tests.sequences.test_scheduler import FRIDAY_3PM_UTC, setup, tick
from webapp.core.models import Contact, Content, Reply
from webapp.inbox.message import parse_message
from webapp.inbox.outcomes import handle_inbound
from webapp.inbox.replies import relabel
from webapp.sequences import steps
from webapp.sequences.figures import step_figures, verdict
from webapp.sequences.variants import Arm, assign, probability_best, winner
from webapp.web.services import Services


@pytest.mark.parametrize("count", [2, 3, 4])
def test_contacts_split_evenly_and_always_the_same_way(count: int) -> None:
    shares = Counter(assign(7, contact_id, count) for contact_id in range(1, 12_001))
    assert set(shares) == set(range(count))
    expected = 12_000 / count
    assert all(abs(n - expected) < 0.05 * expected for n in shares.values()), shares
    assert [assign(7, c, count) for c in range(50)] == [assign(7, c, count) for c in range(50)]
    # Another step splits independently of this one.
    assert [assign(8, c, count) for c in range(50)] != [assign(7, c, count) for c in range(50)]


def test_probability_best_matches_a_two_proportion_z_test() -> None:
    # 5.0% vs 8.0% of 1,000: z = 2.72, so P(B better) ≈ Φ(2.72) = 0.9967.
    a, b = probability_best([Arm(1000, 50), Arm(1000, 80)])
    assert b == pytest.approx(0.9967, abs=0.002)
    assert a + b == pytest.approx(1.0)
    assert probability_best([Arm(200, 20), Arm(200, 20)]) == pytest.approx([0.5, 0.5], abs=1e-6)


def test_no_winner_is_called_below_95_percent() -> None:
    assert winner([Arm(1000, 50), Arm(1000, 80)]) == 1
    # A promising but thin lead: about 80%, not yet a winner.
    assert winner([Arm(100, 10), Arm(100, 14)]) is None
    assert winner([Arm(0, 0), Arm(0, 0)]) is None
    four = [Arm(500, 20), Arm(500, 22), Arm(500, 19), Arm(500, 45)]
    assert winner(four) == 3
    chances = probability_best(four)
    assert sum(chances) == pytest.approx(1.0) and chances[3] > 0.95


async def test_a_step_with_two_variants_writes_both_and_judges_them_on_replies(
    tune: Services,
) -> None:
    campaign_id, _ = await setup(tune, [{}] * 40)
    async with tune.db.write() as session:
        await steps.save_step_template(session, campaign_id, 2, "all", "A", "<p>Version A</p>")
        await steps.save_step_template(
            session, campaign_id, 2, "all", "B", "<p>Version B</p>", variant="B"
        )
    assert (await tick(tune, FRIDAY_3PM_UTC)).written == 40
    async with tune.db.read() as session:
        written = list(
            await session.scalars(select(Content).where(Content.step == 2).order_by(Content.id))
        )
    by_variant = Counter(content.variant for content in written)
    assert set(by_variant) == {0, 1} and min(by_variant.values()) >= 10
    for content in written:
        assert f"Version {'AB'[content.variant]}" in content.html

    # Synthetic outcomes: every B reply, no A reply; many opens on A must not matter.
    moment = FRIDAY_3PM_UTC + timedelta(hours=1)
    async with tune.db.write() as session:
        await session.execute(update(Content).where(Content.step == 2).values(sent_at=moment))
        await session.execute(
            update(Content).where(Content.step == 2, Content.variant == 1).values(replied_at=moment)
        )
        await session.execute(
            update(Content)
            .where(Content.step == 2, Content.variant == 0)
            .values(first_opened_at=moment)
        )
    async with tune.db.read() as session:
        figures = await step_figures(session, campaign_id)
    a, b = figures[(2, 0)], figures[(2, 1)]
    assert a["sent"] + b["sent"] == 40 and b["reply"] == b["sent"] and a["reply"] == 0
    judged = verdict([a, b], "reply")
    assert judged["winner"] == "B" and judged["probability_best"]["B"] > 0.95
    assert verdict([a, b], "click")["winner"] is None


def reply_to(message_id: str, sender: str, body: str, number: int) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "ana@sales.tune.test"
    message["Subject"] = "Re: Quick question"
    message["Message-ID"] = f"<answer.{number}@mail.example>"
    message["In-Reply-To"] = message_id
    message["Date"] = "Fri, 04 Dec 2026 17:00:00 +0000"
    message.set_content(body)
    return message.as_bytes()


async def test_positive_replies_read_by_the_inbox_count_per_variant(
    tune: Services, client: TestClientProtocol, auth: dict[str, Any]
) -> None:
    campaign_id, _ = await setup(tune, [{}] * 12)
    async with tune.db.write() as session:
        await steps.save_step_template(session, campaign_id, 2, "all", "A", "<p>Version A</p>")
        await steps.save_step_template(
            session, campaign_id, 2, "all", "B", "<p>Version B</p>", variant="B"
        )
    assert (await tick(tune, FRIDAY_3PM_UTC)).written == 12
    moment = FRIDAY_3PM_UTC + timedelta(hours=1)
    async with tune.db.write() as session:
        written = list(
            await session.scalars(select(Content).where(Content.step == 2).order_by(Content.id))
        )
        for content in written:
            content.sent_at, content.send_status = moment, "sent"
            content.message_id = f"<step2.{content.id}@sales.tune.test>"
        emails = {
            contact.id: contact.email
            for contact in await session.scalars(
                select(Contact).where(Contact.id.in_([c.contact_id for c in written]))
            )
        }
    variant_a = [c for c in written if c.variant == 0]
    variant_b = [c for c in written if c.variant == 1]
    assert len(variant_a) >= 2 and len(variant_b) >= 3
    answers = [
        (variant_a[0], "Sounds great, let's talk on Tuesday."),
        (variant_a[1], "Thanks, who else do you work with?"),
        (variant_b[0], "Interesting. Tell me more, please."),
        (variant_b[1], "Happy to chat next week."),
        (variant_b[2], "Not interested, please remove me."),
    ]
    for number, (content, body) in enumerate(answers):
        raw = reply_to(content.message_id or "", emails[content.contact_id], body, number)
        async with tune.db.write() as session:
            handled = await handle_inbound(session, parse_message(raw), "imap", now=moment)
        assert handled.outcome == "reply", body
    # The rep corrects one reading: the question is a positive sign after all.
    async with tune.db.write() as session:
        question = await session.scalar(select(Reply).where(Reply.content_id == variant_a[1].id))
        assert question is not None and question.classification == "neutral"
        await relabel(session, question.id, "positive")

    response = await client.get(f"/api/campaigns/{campaign_id}/steps", headers=auth)
    assert response.status_code == 200
    found = (await response.get_json())["items"]
    step2 = found[1]
    by_variant = {v["variant"]: v["stats"] for v in step2["variants"]}
    assert by_variant["A"]["replied"] == 2 and by_variant["A"]["positive_replies"] == 2
    assert by_variant["B"]["replied"] == 3 and by_variant["B"]["positive_replies"] == 2
    assert step2["stats"]["positive_replies"] == 4
    # Step 1 had no reply at all.
    assert found[0]["stats"]["positive_replies"] == 0
