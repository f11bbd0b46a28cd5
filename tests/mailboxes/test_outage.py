"""One mailbox's relay down, two up, over REAL SMTP relays (aiosmtpd), on SQLite and PostgreSQL:
the two keep sending, the third's emails wait (the dashboard says which mailbox is
held and until when) and go once its relay is back; nothing is sent twice."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from prometheus_client import REGISTRY
from quart.typing import TestClientProtocol
from sqlalchemy import select, update

from tests.support.factories import contents_of, make_user
from tests.support.mailboxes import MAILBOX_FAST, Provider, add_mailbox, campaign_with
from tests.support.sending import make_sender
from tests.support.signin import login, page
from tests.support.waiting import wait_for
from webapp.core.models import Contact
from webapp.outbound.sending.queue import pending, send_progress
from webapp.web.services import Services

OUTAGE = replace(MAILBOX_FAST, breaker_threshold=2, breaker_cool_down=0.6, retry_base=0.05)


async def test_one_relay_down_holds_only_its_mailbox(
    tune: Services,
    client: TestClientProtocol,
    auth: dict[str, Any],
    providers: dict[str, Provider],
) -> None:
    names = ["alpha", "beta", "gamma"]
    mailboxes = {name: await add_mailbox(tune, providers[name]) for name in names}
    campaign_id = await campaign_with(client, auth, tune, 9, names)
    # Each contact already writes from one mailbox (a thread in progress): three each.
    beta_contacts = set()
    async with tune.db.write() as session:
        contacts = list(await session.scalars(select(Contact.id).order_by(Contact.id)))
        for index, contact_id in enumerate(contacts):
            mailbox = mailboxes[names[index % 3]]
            if mailbox.name == "beta":
                beta_contacts.add(contact_id)
            await session.execute(
                update(Contact).where(Contact.id == contact_id).values(mailbox_id=mailbox.id)
            )
    await asyncio.to_thread(providers["beta"].controller.stop)  # beta's provider is down
    queued = await client.post(f"/api/campaigns/{campaign_id}/send", headers=auth)
    assert queued.status_code == 202

    sender = make_sender(tune, policy=OUTAGE)
    tune.sender = sender
    sender.start()
    try:

        async def others_sent_and_beta_held() -> bool:
            return (
                len(providers["alpha"].handler.received) == 3
                and len(providers["gamma"].handler.received) == 3
                and any(hold.mailbox == "beta" for hold in sender.breakers.holds())
            )

        await wait_for(others_sent_and_beta_held)
        assert sender.breakers.default.state.name == "CLOSED"
        assert REGISTRY.get_sample_value("tune_mailbox_circuit_state", {"mailbox": "beta"}) in {
            1,
            2,
        }
        beta_rows = [
            row
            for row in await contents_of(tune.db, campaign_id)
            if row.contact_id in beta_contacts
        ]
        assert len(beta_rows) == 3
        assert {row.send_status for row in beta_rows} <= {"queued", "sending"}
        assert all(row.attempts <= 1 for row in beta_rows), "an outage spends no attempt"

        # The dashboard and the API say which mailbox is held, and until when.
        progress = await (
            await client.get(f"/api/campaigns/{campaign_id}/sending", headers=auth)
        ).get_json()
        assert progress["relay"]["kind"] == "mailbox_held", progress["relay"]
        assert progress["relay"]["words"].startswith("Mailbox beta is held")
        assert "The other mailboxes keep sending." in progress["relay"]["words"]
        queues = {queue["name"]: queue for queue in progress["mailboxes"]}
        assert queues["beta"]["held_until"] is not None
        assert queues["alpha"]["held_until"] is None and queues["gamma"]["held_until"] is None
        async with tune.db.write() as session:
            await make_user(session)
        assert (await login(client)).status_code == 303
        status, html = await page(client, f"/campaigns/{campaign_id}/sending")
        assert status == 200 and "held: its mail server is failing" in html

        await asyncio.to_thread(providers["beta"].restart)  # back

        async def drained() -> bool:
            async with tune.db.read() as session:
                return not pending(await send_progress(session, campaign_id))

        await wait_for(drained)
    finally:
        await sender.stop()

    async with tune.db.read() as session:
        counts = await send_progress(session, campaign_id)
    assert counts["sent"] == 9 and counts["failed"] == 0
    for name in names:
        messages = providers[name].handler.messages
        assert len(messages) == 3, name
        assert {str(message["From"]) for message in messages} == {
            f"{name.title()} <{name}@sales.tune.test>"
        }
    every_id = [each for p in providers.values() for each in p.handler.message_ids()]
    assert len(every_id) == len(set(every_id)) == 9, "nothing sent twice"
    assert sender.circuit == "closed"
    assert REGISTRY.get_sample_value("tune_mailbox_circuit_state", {"mailbox": "beta"}) == 0
