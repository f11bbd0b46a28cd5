"""An out-of-office answer with a return date pauses the contact's sequence until the
day after, and it resumes by itself: a three-step sequence with delays of seconds,
run on a fixed clock through the inbox's reading of a real automatic answer and the
sender's own queue (lease, record as delivered)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

from quart.typing import TestClientProtocol as Client
from sqlalchemy import select

from tests.sequences.test_scheduler import tick
from tests.support.factories import (
    enrollment_of,
    make_campaign,
    make_contact,
    make_content,
    make_prospect,
)
from tests.support.signin import page
from webapp.core.models import Content
from webapp.inbox.message import parse_message
from webapp.inbox.outcomes import handle_inbound
from webapp.outbound.sending.queue import SendPolicy, lease_batch, record_outcome
from webapp.outbound.smtp.outcomes import DeliveryOutcome, DeliveryResult
from webapp.sequences import control, steps
from webapp.sequences.scheduler import enroll
from webapp.web.services import Services

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
DELAY = 5
BACK = datetime(2026, 12, 10, tzinfo=UTC)
"""The date the automatic answer names."""


def out_of_office(to_message_id: str, sender: str) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "ana@sales.tune.test"
    message["Subject"] = "Automatic reply: Quick question"
    message["Message-ID"] = "<ooo.4711@mail.example>"
    message["In-Reply-To"] = to_message_id
    message["References"] = to_message_id
    message["Auto-Submitted"] = "auto-replied"
    message["Date"] = "Mon, 07 Dec 2026 09:00:02 +0000"
    message.set_content(
        "Thank you for your message.\n\nI am out of the office until 10 December 2026 "
        "with limited access to email.\n"
    )
    return message.as_bytes()


async def send_due(tune: Services, now: datetime) -> list[int]:
    """The sender's round at `now`: lease what is queued, record each as delivered."""
    policy = SendPolicy()
    async with tune.db.write() as session:
        leased = await lease_batch(
            session, "s1", 50, policy=policy, message_id=lambda cid: f"<{cid}@t.test>", now=now
        )
        for email in leased:
            await record_outcome(
                session,
                email,
                DeliveryResult(DeliveryOutcome.SENT, 250, "ok"),
                "s1",
                policy=policy,
                now=now,
            )
    return [email.contact_id for email in leased]


async def steps_of(tune: Services, contact_id: int) -> list[tuple[int, datetime | None]]:
    async with tune.db.read() as session:
        rows = await session.execute(
            select(Content.step, Content.sent_at)
            .where(Content.contact_id == contact_id)
            .order_by(Content.step)
        )
        return [(step, sent_at) for step, sent_at in rows]


async def test_an_out_of_office_pauses_until_the_day_after_its_return_then_resumes(
    tune: Services, signed_in: Client
) -> None:
    async with tune.db.write() as session:
        campaign = await make_campaign(session, name="Winter outreach")
        away_co = await make_prospect(session, campaign, name="Awayco")
        away = await make_contact(session, away_co, email="eva@awayco.example")
        here = await make_contact(
            session, await make_prospect(session, campaign), email="tom@hereco.example"
        )
        for number, contact in enumerate((away, here)):
            await make_content(
                session,
                contact,
                send_status="sent",
                sent_at=T0,
                message_id=f"<step1.{number}@sales.tune.test>",
                subject="Quick question",
            )
        await steps.add_step(session, campaign.id, f"PT{DELAY}S")
        await steps.add_step(session, campaign.id, f"PT{DELAY}S")
        assert await enroll(session, campaign.id, now=T0) == 2

    inbound = parse_message(out_of_office("<step1.0@sales.tune.test>", "eva@awayco.example"))
    async with tune.db.write() as session:
        handled = await handle_inbound(session, inbound, "imap", now=T0 + timedelta(seconds=2))
    assert (handled.outcome, handled.detail) == ("auto_reply", "2026-12-10")

    # The prospect page says why and until when, before any step falls due.
    status, html = await page(signed_in, f"/prospects/{away_co.id}")
    assert status == 200
    assert "paused until 2026-12-11: out of office" in html
    async with tune.db.read() as session:
        [place] = await control.positions(session, away_co.id, now=T0)
    assert place["status"] == "paused" and place["pause_reason"] == "out_of_office"
    assert place["paused_until"] == "2026-12-11T00:00:00+00:00"

    # Step 2 falls due: only the contact who is in goes on; the other is not even due.
    step2 = T0 + timedelta(seconds=DELAY)
    assert (await tick(tune, step2)).written == 1
    assert await send_due(tune, step2) == [here.id]
    step3 = step2 + timedelta(seconds=DELAY)
    assert (await tick(tune, step3)).written == 1
    assert await send_due(tune, step3) == [here.id]
    assert [step for step, _ in await steps_of(tune, here.id)] == [1, 2, 3]

    # The return date itself is not enough: a day to read the mail first.
    assert (await tick(tune, BACK + timedelta(hours=23, minutes=59))).written == 0
    assert [step for step, _ in await steps_of(tune, away.id)] == [1]

    # The day after, the sequence resumes by itself: step 2, then step 3 after its delay.
    resumed = BACK + timedelta(days=1)
    assert (await tick(tune, resumed)).written == 1
    assert await send_due(tune, resumed) == [away.id]
    assert (await tick(tune, resumed + timedelta(seconds=DELAY - 1))).written == 0
    later = resumed + timedelta(seconds=DELAY)
    assert (await tick(tune, later)).written == 1
    assert await send_due(tune, later) == [away.id]
    assert await steps_of(tune, away.id) == [(1, T0), (2, resumed), (3, later)]
    enrollment = await enrollment_of(tune.db, away.id)
    assert (enrollment.status, enrollment.pause_reason, enrollment.paused_until) == (
        "finished",
        None,
        None,
    )


async def test_an_answer_whose_return_is_past_pauses_nothing(tune: Services) -> None:
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
        contact = await make_contact(session, await make_prospect(session, campaign))
        await make_content(
            session,
            contact,
            send_status="sent",
            sent_at=T0,
            message_id="<step1.9@sales.tune.test>",
            subject="Quick question",
        )
        await steps.add_step(session, campaign.id, f"PT{DELAY}S")
        await enroll(session, campaign.id, now=T0)
    inbound = parse_message(out_of_office("<step1.9@sales.tune.test>", contact.email))
    async with tune.db.write() as session:
        # Read long after: the return date is behind us.
        await handle_inbound(session, inbound, "imap", now=datetime(2026, 12, 20, tzinfo=UTC))
    enrollment = await enrollment_of(tune.db, contact.id)
    assert enrollment.status == "active"
    assert enrollment.pause_reason is None


async def test_a_rep_can_resume_an_out_of_office_pause_early(tune: Services) -> None:
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
        prospect = await make_prospect(session, campaign)
        contact = await make_contact(session, prospect)
        await make_content(
            session,
            contact,
            send_status="sent",
            sent_at=T0,
            message_id="<step1.8@sales.tune.test>",
            subject="Quick question",
        )
        await steps.add_step(session, campaign.id, f"PT{DELAY}S")
        await enroll(session, campaign.id, now=T0)
    inbound = parse_message(out_of_office("<step1.8@sales.tune.test>", contact.email))
    async with tune.db.write() as session:
        await handle_inbound(session, inbound, "imap", now=T0 + timedelta(seconds=1))
    assert (await tick(tune, T0 + timedelta(seconds=DELAY))).written == 0
    async with tune.db.write() as session:
        assert await control.resume_prospect(session, prospect.id, now=T0 + timedelta(seconds=6))
    assert (await tick(tune, T0 + timedelta(seconds=6))).written == 1
