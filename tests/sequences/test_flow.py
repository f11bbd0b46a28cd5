"""A three-step sequence end to end over a real SMTP server (aiosmtpd), with delays of seconds.

One contact replies (reported by the API) after step 1, a colleague of hers is
at the same company, another contact's address bounces at the relay, one goes
through all three steps and one is paused by a rep until a date a few seconds
ahead. Who gets which step, when, and threaded how is read off the relay.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from quart.typing import TestClientProtocol
from sqlalchemy import select

from tests.support.factories import make_campaign, make_contact, make_prospect
from tests.support.sending import make_sender
from tests.support.smtprelay import SmtpServer
from webapp.core.config import Config
from webapp.core.models import Content
from webapp.outbound.contents import TrackingUrls
from webapp.sequences import control, steps
from webapp.sequences.scheduler import advance, lease_due
from webapp.web.services import Services

pytestmark = pytest.mark.slow

DELAY = 2


def received(relay: SmtpServer, address: str) -> list[EmailMessage]:
    return [message for message in relay.handler.messages if address in str(message["To"])]


async def wait_for(check: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def sent_times(tune: Services, contact_id: int) -> list[datetime]:
    """When the sender recorded each of the contact's emails as delivered, in step order."""
    return [c.sent_at for c in await contents_of(tune, contact_id) if c.sent_at is not None]


async def contents_of(tune: Services, contact_id: int) -> list[Content]:
    async with tune.db.read() as session:
        rows = await session.scalars(
            select(Content).where(Content.contact_id == contact_id).order_by(Content.step)
        )
        return list(rows)


async def test_follow_ups_reach_the_right_contacts_at_the_right_times_threaded(
    tune: Services,
    client: TestClientProtocol,
    auth: dict[str, Any],
    send_config: Config,
    relay: SmtpServer,
) -> None:
    async with tune.db.write() as session:
        campaign = await make_campaign(session, name="Spring outreach")
        replying_co = await make_prospect(session, campaign, name="Replyco")
        ana = await make_contact(session, replying_co, email="ana@replyco.example")
        ben = await make_contact(session, replying_co, email="ben@replyco.example")
        bouncing = await make_contact(
            session, await make_prospect(session, campaign), email="gone@nowhere.example"
        )
        cleo = await make_contact(
            session,
            await make_prospect(session, campaign, name="Cleo Ltd"),
            email="cleo@cleo.example",
        )
        paused_co = await make_prospect(session, campaign, name="Pauseco")
        dan = await make_contact(session, paused_co, email="dan@pauseco.example")
        await steps.add_step(session, campaign.id, f"PT{DELAY}S", "no_reply")
        await steps.add_step(session, campaign.id, f"PT{DELAY}S", "no_reply")
        await steps.save_step_template(
            session, campaign.id, 3, "all", "ignored", "<p>Last note, {{ contact.first_name }}</p>"
        )
        campaign_id = campaign.id
    relay.handler.unknown.add(bouncing.email)

    sender = make_sender(tune, send_config)
    sender.start()
    try:
        response = await client.post(
            f"/api/campaigns/{campaign_id}/send", query_string={"tier": 1}, headers=auth
        )
        assert response.status_code == 202
        await wait_for(lambda: len(relay.handler.messages) == 4)
        first_wave = datetime.now(UTC)
        [ana_first] = await contents_of(tune, ana.id)
        reply = await client.post(
            "/api/tracking/email-replied",
            json={"content_id": ana_first.id, "contact_id": ana.id},
            headers=auth,
        )
        assert reply.status_code == 200, await reply.get_data(as_text=True)
        pause_until = first_wave + timedelta(seconds=3 * DELAY)
        async with tune.db.write() as session:
            assert await control.pause_prospect(session, paused_co.id, pause_until) == 1

        await wait_for(lambda: len(received(relay, dan.email)) == 3, timeout=40)
        await asyncio.sleep(DELAY + 0.5)  # time for anything wrong to arrive too
    finally:
        await sender.stop()

    # Step 1 reached everyone whose address works; the bounce got nothing more.
    assert len(received(relay, ana.email)) == 1
    assert len(received(relay, ben.email)) == 1, "nobody at the replying company gets step 2"
    assert received(relay, bouncing.email) == []

    m1, m2, m3 = received(relay, cleo.email)
    t1, t2, t3 = await sent_times(tune, cleo.id)
    assert t2 - t1 >= timedelta(seconds=DELAY - 0.2)
    assert t3 - t2 >= timedelta(seconds=DELAY - 0.2)
    assert t3 - t1 < timedelta(seconds=4 * DELAY + 6)
    assert "In-Reply-To" not in m1
    assert m2["In-Reply-To"] == m1["Message-ID"]
    assert m2["References"] == m1["Message-ID"]
    assert m3["In-Reply-To"] == m2["Message-ID"]
    assert str(m3["References"]).split() == [m1["Message-ID"], m2["Message-ID"]]
    assert m2["Subject"] == m3["Subject"] == f"Re: {m1['Subject']}"
    body = m3.get_body(preferencelist=("plain",))
    assert body is not None and "Last note" in body.get_content()

    export = await client.get(f"/api/campaigns/{campaign_id}/export.mbox", headers=auth)
    assert f"In-Reply-To: {m1['Message-ID']}" in await export.get_data(as_text=True)

    dans = received(relay, dan.email)
    assert (await sent_times(tune, dan.id))[1] >= pause_until, "nothing before its date"
    assert dans[1]["In-Reply-To"] == dans[0]["Message-ID"]

    answer = await client.get(f"/api/prospects/{replying_co.id}", headers=auth)
    assert answer.status_code == 200
    async with tune.db.read() as session:
        places = {p["email"]: p for p in await control.positions(session, replying_co.id)}
        for contact in (cleo, bouncing):
            found = await control.positions(session, contact.prospect_id)
            places.update({p["email"]: p for p in found})
    assert places[ana.email]["status"] == "stopped"
    assert places[ana.email]["stop_reason"] == "replied"
    assert places[ben.email]["stop_reason"] == "colleague_replied"
    assert places[bouncing.email]["stop_reason"] == "bounced"
    assert places[cleo.email]["status"] == "finished" and places[cleo.email]["step"] == 3
    for contact in (ana, ben, cleo, dan):
        written = await contents_of(tune, contact.id)
        assert len({c.step for c in written}) == len(written), "a step written twice"


async def test_a_sender_dying_mid_step_loses_and_doubles_no_follow_up(
    tune: Services,
    client: TestClientProtocol,
    auth: dict[str, Any],
    send_config: Config,
    relay: SmtpServer,
) -> None:
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
        people = [
            await make_contact(session, await make_prospect(session, campaign)) for _ in range(3)
        ]
        await steps.add_step(session, campaign.id, "PT1S")
        campaign_id = campaign.id
    first = make_sender(tune, send_config)
    first.start()
    try:
        await client.post(f"/api/campaigns/{campaign_id}/send", headers=auth)
        await wait_for(lambda: len(relay.handler.messages) == 3)
    finally:
        await first.stop()
    await asyncio.sleep(1.2)

    # A sender takes the due steps and dies before writing them: its lease must run out.
    async with tune.db.write() as session:
        dead = await lease_due(session, "dead-sender", 100, lease_seconds=2)
    assert len(dead) == 3
    leased_at = datetime.now(UTC)
    relay.handler.fail_data = 2  # and the relay stumbles on the way
    second = make_sender(tune, send_config)
    second.start()
    try:
        await wait_for(lambda: len(relay.handler.messages) == 6)
        await asyncio.sleep(1.0)  # anything doubled would arrive now
    finally:
        await second.stop()

    assert len(relay.handler.messages) == 6
    for person in people:
        one, two = received(relay, person.email)
        sent = (await sent_times(tune, person.id))[1]
        assert sent >= leased_at + timedelta(seconds=2), "taken over only after the lease ran out"
        assert two["In-Reply-To"] == one["Message-ID"]
    async with tune.db.write() as session:
        late = await advance(
            session, "dead-sender", dead, TrackingUrls("http://tune.test", tune.signer), "Ana"
        )
    assert late.written == 0 and late.lost == 3
