"""Sending through several mailboxes, over REAL SMTP relays (aiosmtpd), on SQLite and PostgreSQL.

The rolling-window test drives the sender's own lease, routing and outcome code with
a clock it moves forward itself (ten minutes a step, three simulated days), so caps
over rolling 24-hour and 60-minute windows are checked at every send without
waiting a day; every email still crosses a real SMTP connection.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial
from typing import Any

import pytest
from prometheus_client import REGISTRY
from quart.typing import TestClientProtocol
from sqlalchemy import select

from tests.support.factories import contents_of
from tests.support.mailboxes import MAILBOX_FAST, SIGNATURES, Provider, add_mailbox, campaign_with
from tests.support.sending import make_sender, send_all
from webapp.core.models import Contact, Mailbox, WebhookDelivery, utcnow
from webapp.mailboxes import store
from webapp.mailboxes.capacity import daily_cap_today
from webapp.outbound.sending.queue import (
    LeasedEmail,
    lease_batch,
    message_id_for,
    record_outcome,
    send_progress,
)
from webapp.outbound.sending.sender import Sender
from webapp.outbound.smtp.retry import send_with_retries
from webapp.web.services import Services


async def deliver(sender: Sender, email: LeasedEmail, now: datetime) -> str | None:
    """What the sender's delivery does, at a chosen time: real SMTP, real outcome."""
    relay = await sender.relay_for(email)
    assert relay is not None
    result = await send_with_retries(relay, sender.message_for(email), attempts=1)
    async with sender.db.write() as session:
        return await record_outcome(
            session,
            email,
            result,
            sender.worker_id,
            policy=MAILBOX_FAST,
            now=now,
            health_min_sends=sender.config.mailbox_health_min_sends,
        )


async def lease_at(sender: Sender, now: datetime) -> list[LeasedEmail]:
    async with sender.db.write() as session:
        return await lease_batch(
            session,
            sender.worker_id,
            100,
            policy=MAILBOX_FAST,
            message_id=partial(message_id_for, sender.config),
            now=now,
            router=sender.router,
        )


def assert_within_caps(mailbox: Mailbox, times: list[datetime]) -> None:
    """At every send: at most the cap in the 24 hours and the 60 minutes that end there."""
    times = sorted(times)
    for index, moment in enumerate(times):
        day = [t for t in times[: index + 1] if t > moment - timedelta(hours=24)]
        hour = [t for t in day if t > moment - timedelta(hours=1)]
        assert len(day) <= daily_cap_today(mailbox, moment), (mailbox.name, moment, len(day))
        assert len(hour) <= mailbox.hourly_cap, (mailbox.name, moment, len(hour))
        if index and mailbox.min_gap_seconds:
            gap = (moment - times[index - 1]).total_seconds()
            assert gap >= mailbox.min_gap_seconds, (mailbox.name, gap)


@pytest.mark.slow
async def test_a_tier_spreads_by_capacity_within_rolling_caps_and_follow_ups_keep_the_mailbox(
    tune: Services,
    client: TestClientProtocol,
    auth: dict[str, Any],
    providers: dict[str, Provider],
) -> None:
    alpha = await add_mailbox(tune, providers["alpha"], daily_cap=12, hourly_cap=5)
    beta = await add_mailbox(
        tune, providers["beta"], daily_cap=15, hourly_cap=4, min_gap_seconds=60
    )
    gamma = await add_mailbox(
        tune, providers["gamma"], daily_cap=10, hourly_cap=6, warmup_start=4, warmup_step=3
    )
    mailboxes = {mailbox.name: mailbox for mailbox in (alpha, beta, gamma)}
    campaign_id = await campaign_with(client, auth, tune, 50, ["alpha", "beta", "gamma"])
    step = await client.post(
        f"/api/campaigns/{campaign_id}/steps", json={"delay": "PT2H"}, headers=auth
    )
    assert step.status_code == 201, await step.get_data(as_text=True)
    sent = await client.post(f"/api/campaigns/{campaign_id}/send", headers=auth)
    assert sent.status_code == 202 and (await sent.get_json())["queued"] == 50

    sender = make_sender(tune, policy=MAILBOX_FAST)
    start = utcnow() + timedelta(seconds=1)

    # The first pass: each mailbox sends what its windows allow now, the most capacity first.
    first = await lease_at(sender, start)
    for email in first:
        assert await deliver(sender, email, start) == "sent"
    by_mailbox = {name: sum(1 for e in first if e.mailbox_name == name) for name in mailboxes}
    assert by_mailbox == {"alpha": 5, "beta": 1, "gamma": 4}, "hourly caps, beta's gap, warm-up"
    waiting = [c for c in await contents_of(tune.db, campaign_id) if c.send_status == "queued"]
    assert len(waiting) == 40
    # Nobody can send before beta's minimum gap is over: that is every waiting email's time.
    for content in waiting:
        assert content.next_attempt_at is not None
        assert abs((content.next_attempt_at - (start + timedelta(seconds=60))).total_seconds()) < 1
        assert content.mailbox_id is None, "a contact gets a mailbox only when written to"

    # Three simulated days, ten minutes a step: the scheduler writes follow-ups, the sender sends.
    sends: dict[str, list[datetime]] = {name: [start] * by_mailbox[name] for name in mailboxes}
    now = start
    while now < start + timedelta(days=4):
        now += timedelta(minutes=10)
        await sender.schedule_due(now=now)
        for email in await lease_at(sender, now):
            assert await deliver(sender, email, now) == "sent"
            sends[email.mailbox_name].append(now)
        async with tune.db.read() as session:
            counts = await send_progress(session, campaign_id)
        if counts["sent"] == 100:
            break
    assert counts["sent"] == 100, counts
    await sender.stop()

    for name, mailbox in mailboxes.items():
        assert_within_caps(mailbox, sends[name])
        assert len(providers[name].handler.messages) == len(sends[name])
    assert sum(len(times) for times in sends.values()) == 100

    # Every email came from its mailbox, signed with its signature, through its relay.
    contents = await contents_of(tune.db, campaign_id)
    async with tune.db.read() as session:
        assigned = dict(
            (row.id, row.mailbox_id)
            for row in await session.execute(select(Contact.id, Contact.mailbox_id))
        )
    names = {mailbox.id: name for name, mailbox in mailboxes.items()}
    delivered = {
        str(message["Message-ID"]): (name, message)
        for name in mailboxes
        for message in providers[name].handler.messages
    }
    first_ids = {c.contact_id: c.message_id for c in contents if c.step == 1}
    for content in contents:
        name, message = delivered[str(content.message_id)]
        assert content.mailbox_id == assigned[content.contact_id]
        assert names[content.mailbox_id] == name
        assert message["From"] == f"{name.title()} <{name}@sales.tune.test>"
        text_part = message.get_body(preferencelist=("plain",))
        assert text_part is not None
        if content.step == 1:
            assert SIGNATURES[name].splitlines()[0] in text_part.get_content()
        else:
            # The follow-up left from the contact's first mailbox, in the same thread.
            assert message["In-Reply-To"] == first_ids[content.contact_id]
    html_part = delivered[str(contents[0].message_id)][1].get_body(preferencelist=("html",))
    assert html_part is not None and "tune-signature" not in html_part.get_content()
    logins = {item.login for p in providers.values() for item in p.handler.received}
    assert logins == {b"alpha", b"beta", b"gamma"}


@pytest.mark.slow
async def test_a_bouncing_mailbox_pauses_itself_and_the_others_carry_on(
    tune: Services,
    client: TestClientProtocol,
    auth: dict[str, Any],
    providers: dict[str, Provider],
    capfd: pytest.CaptureFixture[str],
) -> None:
    config = tune.config.with_changes(mailbox_health_min_sends=4, send_concurrency=2)
    await add_mailbox(tune, providers["alpha"], daily_cap=200, hourly_cap=200)
    await add_mailbox(tune, providers["beta"], daily_cap=200, hourly_cap=200)
    hook = await client.post(
        "/api/webhooks",
        json={"url": "https://crm.example/hooks", "events": ["mailbox.paused"]},
        headers=auth,
    )
    assert hook.status_code == 201
    campaign_id = await campaign_with(client, auth, tune, 30, ["alpha", "beta"])
    async with tune.db.read() as session:
        emails = list(await session.scalars(select(Contact.email)))
    providers["beta"].handler.unknown = set(emails)  # beta's provider now refuses everyone
    assert (
        await client.post(f"/api/campaigns/{campaign_id}/send", headers=auth)
    ).status_code == 202

    sender = make_sender(tune, config, policy=MAILBOX_FAST)
    counts = await send_all(sender, campaign_id, timeout=60)

    answer = await client.get("/api/mailboxes/beta", headers=auth)
    beta = await answer.get_json()
    assert beta["paused"] is True
    assert beta["paused_reason"].startswith("hard bounces")
    assert beta["health"]["bounce_rate"] > 0.05
    alpha = await (await client.get("/api/mailboxes/alpha", headers=auth)).get_json()
    assert alpha["paused"] is False
    # Beta bounced only what it took before it paused; alpha sent all the rest.
    assert counts["bounced"] == beta["health"]["sends"] >= 4
    assert counts["sent"] == 30 - counts["bounced"] == len(providers["alpha"].handler.received)
    assert counts["bounced"] <= 4 + config.send_concurrency
    async with tune.db.read() as session:
        notices = list(
            await session.scalars(
                select(WebhookDelivery).where(WebhookDelivery.event_type == "mailbox.paused")
            )
        )
    assert len(notices) == 1 and "mailbox beta: hard bounces" in str(notices[0].detail)
    assert REGISTRY.get_sample_value("tune_mailbox_paused", {"mailbox": "beta"}) == 1
    assert REGISTRY.get_sample_value("tune_mailbox_paused", {"mailbox": "alpha"}) == 0

    # A rep resumes it: it is judged afresh only on new sends, and sends again.
    resumed = await client.patch("/api/mailboxes/beta", json={"paused": False}, headers=auth)
    assert (await resumed.get_json())["paused"] is False

    # No password in any log line written meanwhile.
    output = capfd.readouterr()
    for provider in providers.values():
        assert provider.password not in output.out + output.err


async def test_passwords_are_sealed_in_the_database_and_masked_everywhere(
    tune: Services, client: TestClientProtocol, auth: dict[str, Any], providers: dict[str, Provider]
) -> None:
    provider = providers["alpha"]
    imap = "imaps://alpha:Imap-S3cret%2Fx@imap.tune.test:993/INBOX"
    answer = await client.post(
        "/api/mailboxes",
        json={
            "name": "alpha",
            "from_address": "alpha@sales.tune.test",
            "smtp_url": provider.smtp_url,
            "imap_url": imap,
        },
        headers=auth,
    )
    assert answer.status_code == 201, await answer.get_data(as_text=True)
    body = await answer.get_data(as_text=True)
    from urllib.parse import quote

    secrets = [provider.password, quote(provider.password, safe=""), "Imap-S3cret"]
    assert not any(secret in body for secret in secrets)
    shown = await answer.get_json()
    assert shown["smtp_url"].startswith("smtp://alpha:***@127.0.0.1:")
    assert shown["imap_url"] == "imaps://alpha:***@imap.tune.test:993/INBOX"

    async with tune.db.read() as session:
        row = (await session.execute(select(Mailbox.__table__))).one()
    stored = " ".join(str(value) for value in row)
    assert not any(secret in stored for secret in secrets)
    if tune.config.is_sqlite:
        raw = open(tune.config.database_url.split("///", 1)[1], "rb").read()
        assert not any(secret.encode() in raw for secret in secrets)

    # Given back masked, the URL keeps its password: the relay still takes the login.
    changed = await client.patch(
        "/api/mailboxes/alpha", json={"smtp_url": shown["smtp_url"], "hourly_cap": 7}, headers=auth
    )
    assert changed.status_code == 200
    async with tune.db.read() as session:
        mailbox = await store.get_mailbox(session, "alpha")
        settings = store.smtp_settings(tune.config, mailbox)
    assert settings.password == provider.password
    assert provider.password not in repr(settings)


async def test_a_full_mailbox_keeps_its_contacts_waiting_with_their_time(
    tune: Services, client: TestClientProtocol, auth: dict[str, Any], providers: dict[str, Provider]
) -> None:
    await add_mailbox(tune, providers["alpha"], daily_cap=3, hourly_cap=2)
    campaign_id = await campaign_with(client, auth, tune, 5, ["alpha"])
    assert (
        await client.post(f"/api/campaigns/{campaign_id}/send", headers=auth)
    ).status_code == 202
    sender = make_sender(tune, policy=MAILBOX_FAST)
    start = utcnow()
    for email in await lease_at(sender, start):
        await deliver(sender, email, start)
    await sender.stop()

    contents = await contents_of(tune.db, campaign_id)
    assert [c.send_status for c in contents].count("sent") == 2
    for content in contents:
        if content.send_status == "queued":
            assert content.next_attempt_at is not None
            assert abs((content.next_attempt_at - (start + timedelta(hours=1))).total_seconds()) < 1

    progress = await (
        await client.get(f"/api/campaigns/{campaign_id}/sending", headers=auth)
    ).get_json()
    assert progress["bottleneck"] == "alpha"
    [queue] = progress["mailboxes"]
    assert queue["pending"] == 3 and queue["remaining"] == 0
    # Three more: two in the next hour... but the day allows only one more until tomorrow.
    assert queue["drain_seconds"] > 20 * 3600
    drains_at = datetime.fromisoformat(progress["drains_at"].replace("Z", "+00:00"))
    assert drains_at > start + timedelta(hours=20)


async def test_a_paused_mailbox_holds_its_emails_until_a_rep_resumes_it(
    tune: Services, client: TestClientProtocol, auth: dict[str, Any], providers: dict[str, Provider]
) -> None:
    await add_mailbox(tune, providers["alpha"])
    campaign_id = await campaign_with(client, auth, tune, 3, ["alpha"])
    paused = await client.patch("/api/mailboxes/alpha", json={"paused": True}, headers=auth)
    assert (await paused.get_json())["paused_reason"] == "paused by a rep"
    assert (
        await client.post(f"/api/campaigns/{campaign_id}/send", headers=auth)
    ).status_code == 202
    sender = make_sender(tune, policy=MAILBOX_FAST)
    start = utcnow()
    assert await lease_at(sender, start) == []
    contents = await contents_of(tune.db, campaign_id)
    assert all(c.next_attempt_at and c.next_attempt_at > start for c in contents)
    progress = await (
        await client.get(f"/api/campaigns/{campaign_id}/sending", headers=auth)
    ).get_json()
    assert progress["bottleneck"] == "alpha" and progress["drains_at"] is None

    await client.patch("/api/mailboxes/alpha", json={"paused": False}, headers=auth)
    leased = await lease_at(sender, utcnow())
    assert len(leased) == 3 and {email.mailbox_name for email in leased} == {"alpha"}
    for email in leased:
        assert await deliver(sender, email, utcnow()) == "sent"
    await sender.stop()
    assert len(providers["alpha"].handler.received) == 3
