"""The events other packages record reach a real receiver: replies with their excerpt and
tone, automatic answers with their return date, complaints, a rep's outcomes, and
stopped sequences with their reason; each written with what it records."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tests.support.inbox import MESSAGES, NOW, sent_campaign
from tests.support.receiver import Received, receiving
from tests.support.waiting import wait_for
from tests.webhooks.test_dispatch import FAST, endpoint_for
from webapp.core.models import Content, Enrollment, WebhookDelivery
from webapp.inbox.message import parse_message
from webapp.inbox.outcomes import handle_inbound
from webapp.sequences import control, steps
from webapp.sequences.scheduler import enroll
from webapp.web.services import Services
from webapp.webhooks.dispatcher import Dispatcher
from webapp.workspace.outcomes import record_outcome

pytestmark = pytest.mark.slow

TYPES = ["reply", "auto_reply", "complaint", "outcome", "sequence.stopped"]


def of_type(received: list[Received], kind: str) -> list[dict[str, Any]]:
    return [item.body for item in received if item.body["type"] == kind]


async def test_inbox_outcome_and_sequence_events_reach_the_receiver(tune: Services) -> None:
    sent = await sent_campaign(tune.db)
    async with tune.db.write() as session:
        await steps.add_step(session, sent.campaign_id, "P2D")
        await enroll(session, sent.campaign_id, now=NOW)
        prospect_of = {
            name: (await session.get(Content, content_id)).prospect_id  # type: ignore[union-attr]
            for name, content_id in sent.contents.items()
        }
    with receiving() as receiver:
        await endpoint_for(tune, receiver, TYPES)
        for name in ("reply_gmail.eml", "auto_exchange.eml", "arf_complaint.eml"):
            inbound = parse_message((MESSAGES / name).read_bytes())
            async with tune.db.write() as session:
                await handle_inbound(session, inbound, "imap", now=NOW)
        async with tune.db.write() as session:
            await record_outcome(
                session, prospect_of["reply_no_in_reply_to.eml"], "not_interested", "Has a vendor"
            )
            await record_outcome(session, prospect_of["dsn_qmail.eml"], "meeting")
            # A rep's stop, and a stop that finds nothing left to stop (no second event).
            await control.stop_prospect(session, prospect_of["reply_apple.eml"])
            await control.stop_prospect(session, prospect_of["reply_apple.eml"])
        async with tune.db.read() as session:
            planned = len(list(await session.scalars(select(WebhookDelivery.id))))
        # reply, its stop; auto_reply; complaint, its stop; 2 outcomes, 1 outcome stop; rep stop
        assert planned == 9

        dispatcher = Dispatcher(tune.db, tune.config.secret_key, FAST)
        dispatcher.start()
        try:

            async def all_arrived() -> bool:
                return len(receiver.accepted()) >= planned

            await wait_for(all_arrived)
        finally:
            await dispatcher.stop()
        assert receiver.rejected == 0
        accepted = receiver.accepted()

    [reply] = of_type(accepted, "reply")
    assert reply["data"]["contact"]["email"] == "jane.doe@acme-foods.example"
    assert reply["data"]["classification"] == "positive"
    assert reply["data"]["reply_excerpt"].startswith("Hi Ana")
    assert len(reply["data"]["reply_excerpt"].splitlines()) <= 3

    [auto] = of_type(accepted, "auto_reply")
    assert auto["data"]["contact"]["email"] == "p.janssen@dijk-logistics.example"
    assert auto["data"]["return_at"] == "2027-01-12"
    assert "office" in auto["data"]["reply_excerpt"].lower()

    [complaint] = of_type(accepted, "complaint")
    assert complaint["data"]["contact"]["email"] == "r.meyer@spam-watchers.example"

    outcomes = {body["data"]["outcome"]: body["data"] for body in of_type(accepted, "outcome")}
    assert set(outcomes) == {"not_interested", "meeting"}
    assert outcomes["not_interested"]["note"] == "Has a vendor"
    assert outcomes["not_interested"]["outcome_text"] == "Not interested"
    assert outcomes["meeting"]["note"] is None

    stopped = {
        body["data"]["contact"]["email"]: body["data"]
        for body in of_type(accepted, "sequence.stopped")
    }
    assert {email: data["reason"] for email, data in stopped.items()} == {
        "jane.doe@acme-foods.example": "replied",
        "r.meyer@spam-watchers.example": "complained",
        "compras@ferreteria-sol.example": "not_interested",
        "m.lopez@costa-hotels.example": "stopped_by_rep",
    }
    assert stopped["jane.doe@acme-foods.example"]["step"] == 1
    assert stopped["compras@ferreteria-sol.example"]["reason_text"].startswith("not interested")

    # What was announced is what is stored.
    async with tune.db.read() as session:
        rows = await session.execute(
            select(Enrollment.contact_id, Enrollment.status, Enrollment.stop_reason)
        )
        stored = {contact_id: (status, reason) for contact_id, status, reason in rows}
    for data in stopped.values():
        assert stored[data["contact"]["id"]] == ("stopped", data["reason"])
    paused = stored[auto["data"]["contact"]["id"]]
    assert paused == ("paused", None)


async def test_nothing_is_written_while_no_endpoint_wants_the_type(tune: Services) -> None:
    sent = await sent_campaign(tune.db)
    async with tune.db.write() as session:
        await steps.add_step(session, sent.campaign_id, "P2D")
        await enroll(session, sent.campaign_id, now=NOW)
    with receiving() as receiver:
        await endpoint_for(tune, receiver, ["open"])
        inbound = parse_message((MESSAGES / "reply_gmail.eml").read_bytes())
        async with tune.db.write() as session:
            await handle_inbound(session, inbound, "imap", now=NOW)
    async with tune.db.read() as session:
        assert list(await session.scalars(select(WebhookDelivery.id))) == []
        stopped = await session.scalar(
            select(Enrollment.stop_reason).where(
                Enrollment.contact_id
                == select(Content.contact_id)
                .where(Content.id == sent.contents["reply_gmail.eml"])
                .scalar_subquery()
            )
        )
    assert stopped == "replied"
