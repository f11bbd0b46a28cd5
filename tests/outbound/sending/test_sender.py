"""Sending over a REAL SMTP server (aiosmtpd on a loopback port), on SQLite and PostgreSQL.

The relay can be told to answer 451 a few times, to reject some recipients with
550, or be stopped and started again to play an outage.
"""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from quart.typing import TestClientProtocol
from sqlalchemy import select

from tests.support import sending
from tests.support.factories import (
    add_contacts,
    contents_of,
    make_campaign,
    make_contact,
    make_prospect,
)
from tests.support.sending import FAST, drain, make_sender
from tests.support.servers import TUNE, run_cli, tune_env
from tests.support.smtprelay import FROM, SmtpServer, queue
from webapp import create_app
from webapp.core.config import Config
from webapp.core.db import Database
from webapp.core.models import Link
from webapp.outbound.contents import TrackingUrls
from webapp.outbound.sending.queue import (
    SendPolicy,
    lease_batch,
    message_id_for,
    record_outcome,
)
from webapp.outbound.smtp.outcomes import DeliveryOutcome, DeliveryResult
from webapp.web.services import Services

QueuedCampaign = Callable[[int], Awaitable[int]]


@pytest.fixture
def queued_campaign(
    tune: Services, client: TestClientProtocol, auth: dict[str, Any]
) -> QueuedCampaign:
    """Make a campaign with `count` contacts and queue it through the API; returns its id."""

    async def make(count: int) -> int:
        campaign_id = await add_contacts(tune, count)
        await queue(client, auth, campaign_id)
        return campaign_id

    return make


async def send_all(tune: Services, config: Config, campaign_id: int, **kw: Any) -> dict[str, int]:
    return await sending.send_all(make_sender(tune, config, **kw), campaign_id)


async def stats(client: TestClientProtocol, auth: dict[str, Any], campaign_id: int) -> Any:
    response = await client.get(f"/api/campaigns/{campaign_id}/stats", headers=auth)
    return (await response.get_json())["total"]


def circuit_metric() -> float | None:
    return REGISTRY.get_sample_value("tune_smtp_circuit_state")


async def test_email_arrives_as_mime_with_both_parts_and_tracking_headers(
    tune: Services,
    client: TestClientProtocol,
    auth: dict[str, Any],
    send_config: Config,
    relay: SmtpServer,
) -> None:
    campaign_id = await add_contacts(tune, 1, first_name="Mia", last_name="Stone")
    answer = await queue(client, auth, campaign_id, tier=1)
    assert answer["generated"] == 1 and answer["queued"] == 1

    counts = await send_all(tune, send_config, campaign_id)

    assert counts["sent"] == 1
    [received] = relay.handler.messages
    [content] = await contents_of(tune.db, campaign_id)
    urls = TrackingUrls(send_config.base_url, tune.signer)
    assert received["From"] == FROM
    assert "Mia Stone" in str(received["To"])
    assert received["Subject"] == content.subject
    assert received["Message-ID"] == content.message_id
    assert str(content.message_id).endswith("@sales.tune.test>")
    assert received["List-Unsubscribe"] == f"<{urls.unsubscribe(content.id)}>"
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert received.get_content_type() == "multipart/alternative"
    parts = {part.get_content_type(): part for part in received.iter_parts()}
    assert set(parts) == {"text/plain", "text/html"}
    assert urls.pixel(content.id) in parts["text/html"].get_content()
    assert content.send_status == "sent" and content.sent_at is not None
    assert (await stats(client, auth, campaign_id))["sent"] == 1


async def test_pixel_and_link_in_a_received_email_resolve_against_the_app(
    tune: Services,
    client: TestClientProtocol,
    auth: dict[str, Any],
    send_config: Config,
    relay: SmtpServer,
    queued_campaign: QueuedCampaign,
) -> None:
    campaign_id = await queued_campaign(1)
    await send_all(tune, send_config, campaign_id)

    [received] = relay.handler.messages
    html_part = received.get_body(preferencelist=("html",))
    assert html_part is not None
    html = html_part.get_content()
    base = re.escape(send_config.base_url)
    pixel_path = re.search(base + r"(/t/o/[A-Za-z0-9_\-]+\.gif)", html)
    click_path = re.search(base + r"(/t/c/[A-Za-z0-9_\-]+)", html)
    assert pixel_path and click_path

    pixel = await client.get(pixel_path.group(1))
    assert pixel.status_code == 200 and pixel.headers["Content-Type"] == "image/gif"
    click = await client.get(click_path.group(1))
    assert click.status_code == 302
    [content] = await contents_of(tune.db, campaign_id)
    async with tune.db.read() as session:
        originals = set(
            await session.scalars(select(Link.url).where(Link.content_id == content.id))
        )
    assert click.headers["Location"] in originals

    totals = await stats(client, auth, campaign_id)
    assert totals["opened"]["total"] >= 1  # the pixel, plus the open a click implies
    assert totals["clicked"]["total"] == 1
    # Seconds after the recorded send time: the machine-open rule flags the pixel hit.
    assert totals["opened"]["machine"] == 1


async def test_temporary_failures_are_retried_and_delivered_exactly_once(
    tune: Services,
    send_config: Config,
    relay: SmtpServer,
    queued_campaign: QueuedCampaign,
) -> None:
    relay.handler.fail_data = 2
    campaign_id = await queued_campaign(1)

    counts = await send_all(tune, send_config, campaign_id)

    assert counts["sent"] == 1
    assert len(relay.handler.messages) == 1
    assert relay.handler.data_commands == 3
    [content] = await contents_of(tune.db, campaign_id)
    assert content.attempts == 1  # retried within one round


async def test_temporary_failures_beyond_every_round_fail_the_email(
    tune: Services,
    send_config: Config,
    relay: SmtpServer,
    queued_campaign: QueuedCampaign,
) -> None:
    relay.handler.fail_data = 10_000
    campaign_id = await queued_campaign(1)
    counts = await send_all(tune, send_config, campaign_id)

    assert counts["failed"] == 1 and counts["sent"] == 0
    [content] = await contents_of(tune.db, campaign_id)
    assert content.attempts == FAST.max_attempts
    assert relay.handler.data_commands == FAST.max_attempts * FAST.smtp_attempts
    assert content.last_error is not None and content.last_error.startswith("451")


async def test_permanent_rejection_bounces_at_once_and_is_counted(
    tune: Services,
    client: TestClientProtocol,
    auth: dict[str, Any],
    send_config: Config,
    relay: SmtpServer,
    queued_campaign: QueuedCampaign,
) -> None:
    campaign_id = await queued_campaign(2)
    rejected, accepted = await contents_of(tune.db, campaign_id)
    async with tune.db.read() as session:
        from webapp.core.models import Contact

        bad = await session.get(Contact, rejected.contact_id)
        good = await session.get(Contact, accepted.contact_id)
    assert bad is not None and good is not None
    relay.handler.unknown = {bad.email}

    counts = await send_all(tune, send_config, campaign_id)

    assert counts["bounced"] == 1 and counts["sent"] == 1
    assert relay.handler.rcpts.count(bad.email) == 1
    assert [str(m["To"]) for m in relay.handler.messages] == [good.email]
    bounced = (await contents_of(tune.db, campaign_id))[0]
    assert bounced.send_status == "bounced" and bounced.attempts == 1
    assert bounced.last_error is not None and "550" in bounced.last_error
    totals = await stats(client, auth, campaign_id)
    assert totals["bounced"] == 1 and totals["sent"] == 1


async def test_relay_outage_opens_the_breaker_and_loses_nothing(
    tune: Services,
    client: TestClientProtocol,
    auth: dict[str, Any],
    send_config: Config,
    relay: SmtpServer,
    queued_campaign: QueuedCampaign,
) -> None:
    campaign_id = await queued_campaign(6)
    relay.stop()
    sender = make_sender(tune, send_config)
    sender.start()
    try:
        deadline = time.monotonic() + 20
        while sender.circuit != "open" or any(
            row.send_status == "sending" for row in await contents_of(tune.db, campaign_id)
        ):
            assert time.monotonic() < deadline, "the breaker did not open"
            await asyncio.sleep(0.02)
        assert circuit_metric() == 2
        before = await contents_of(tune.db, campaign_id)
        assert {row.send_status for row in before} == {"queued"}
        assert [row.attempts for row in before] == [0] * 6  # a relay outage spends no attempt

        await asyncio.sleep(FAST.breaker_cool_down * 3)  # half-open probes fail too
        during = await contents_of(tune.db, campaign_id)
        assert {row.send_status for row in during} <= {"queued", "sending"}
        assert [row.attempts for row in during if row.send_status == "queued"] == [0] * len(
            [row for row in during if row.send_status == "queued"]
        )
        answer = await client.get(f"/api/campaigns/{campaign_id}/sending", headers=auth)
        assert (await answer.get_json())["counts"]["sent"] == 0

        relay.start()
        counts = await drain(tune.db, campaign_id)
    finally:
        await sender.stop()

    assert counts["sent"] == 6
    assert len(relay.handler.message_ids()) == len(set(relay.handler.message_ids())) == 6
    assert sender.circuit == "closed" and circuit_metric() == 0


async def test_unsubscribed_contacts_never_receive(
    tune: Services,
    client: TestClientProtocol,
    auth: dict[str, Any],
    send_config: Config,
    relay: SmtpServer,
) -> None:
    campaign_id = await add_contacts(tune, 3)
    await client.post(f"/api/campaigns/{campaign_id}/contents/generate", headers=auth)
    early, late, stays = await contents_of(tune.db, campaign_id)
    urls = TrackingUrls(send_config.base_url, tune.signer)
    path = urls.unsubscribe(early.id).removeprefix(send_config.base_url)
    assert (await client.post(path)).status_code == 200

    answer = await queue(client, auth, campaign_id)
    assert answer["queued"] == 2 and answer["skipped_unsubscribed"] == 1
    # The second one unsubscribes after queueing, before the sender gets to it.
    path = urls.unsubscribe(late.id).removeprefix(send_config.base_url)
    assert (await client.post(path)).status_code == 200

    counts = await send_all(tune, send_config, campaign_id)

    assert counts["skipped_unsubscribed"] == 2 and counts["sent"] == 1
    delivered = (await contents_of(tune.db, campaign_id))[2]
    assert delivered.id == stays.id and delivered.send_status == "sent"
    assert relay.handler.message_ids() == [delivered.message_id]
    assert len(relay.handler.rcpts) == 1


async def test_two_senders_on_one_database_never_send_an_email_twice(
    tune: Services,
    client: TestClientProtocol,
    auth: dict[str, Any],
    send_config: Config,
    relay: SmtpServer,
    queued_campaign: QueuedCampaign,
) -> None:
    campaign_id = await queued_campaign(40)
    other_db = Database(send_config)  # a second engine, like a second process
    first = make_sender(tune, send_config)
    second = make_sender(tune, send_config, db=other_db)
    assert first.worker_id != second.worker_id
    first.start()
    second.start()
    try:
        counts = await drain(tune.db, campaign_id)
    finally:
        await first.stop()
        await second.stop()
        await other_db.dispose()

    ids = relay.handler.message_ids()
    assert counts["sent"] == 40
    assert len(ids) == len(set(ids)) == 40
    assert (await stats(client, auth, campaign_id))["sent"] == 40


async def test_queueing_twice_sends_once(
    tune: Services,
    client: TestClientProtocol,
    auth: dict[str, Any],
    send_config: Config,
    relay: SmtpServer,
) -> None:
    campaign_id = await add_contacts(tune, 3)
    first = await queue(client, auth, campaign_id)
    second = await queue(client, auth, campaign_id)
    assert (first["queued"], second["queued"], second["unchanged"]) == (3, 0, 3)

    await send_all(tune, send_config, campaign_id)
    third = await queue(client, auth, campaign_id)
    await send_all(tune, send_config, campaign_id)

    assert third["queued"] == 0 and third["counts"]["sent"] == 3
    assert len(relay.handler.messages) == 3


async def test_a_crashed_senders_rows_are_retried_with_the_same_message_id(
    tune: Services,
    send_config: Config,
    relay: SmtpServer,
    queued_campaign: QueuedCampaign,
) -> None:
    campaign_id = await queued_campaign(3)
    short = SendPolicy(lease_seconds=0.3)
    async with tune.db.write() as session:
        leased = await lease_batch(
            session,
            "crashed-worker",
            10,
            policy=short,
            message_id=partial(message_id_for, send_config),
        )
    assert len(leased) == 3  # ...and the worker dies before sending any of them

    counts = await send_all(tune, send_config, campaign_id)

    assert counts["sent"] == 3
    assert sorted(relay.handler.message_ids()) == sorted(email.message_id for email in leased)
    # The dead worker coming back cannot overwrite what the live one recorded.
    failure = DeliveryResult(DeliveryOutcome.PERMANENT, 550, "late", True)
    async with tune.db.write() as session:
        assert (
            await record_outcome(session, leased[0], failure, "crashed-worker", policy=short)
            is None
        )
    assert (await contents_of(tune.db, campaign_id))[0].send_status == "sent"


async def test_sending_is_throttled_to_send_rate(
    tune: Services,
    send_config: Config,
    relay: SmtpServer,
    queued_campaign: QueuedCampaign,
) -> None:
    campaign_id = await queued_campaign(8)
    started = time.monotonic()
    await send_all(tune, send_config.with_changes(send_rate="4/second"), campaign_id)
    assert time.monotonic() - started >= 0.9
    assert len(relay.handler.messages) == 8


async def test_the_server_runs_a_sender_that_starts_when_a_campaign_is_queued(
    tune: Services, auth: dict[str, Any], send_config: Config, relay: SmtpServer
) -> None:
    campaign_id = await add_contacts(tune, 2)
    server = create_app(send_config.with_changes(run_sender=True))
    async with server.test_app():
        client = server.test_client()
        await queue(client, auth, campaign_id)
        counts = await drain(tune.db, campaign_id, timeout=10)
        answer = await client.get(f"/api/campaigns/{campaign_id}/sending", headers=auth)
        progress = await answer.get_json()
    assert counts["sent"] == 2 and len(relay.handler.messages) == 2
    assert progress["sender"] == {"running": True, "circuit": "closed"}
    assert progress["counts"]["sent"] == 2 and progress["pending"] == 0


# --- API -------------------------------------------------------------------------------


async def test_send_api_validates_tier_and_campaign(
    tune: Services, client: TestClientProtocol, auth: dict[str, Any]
) -> None:
    campaign_id = await add_contacts(tune, 1)
    bad = await client.post(f"/api/campaigns/{campaign_id}/send?tier=7", headers=auth)
    assert bad.status_code == 422
    assert (await bad.get_json())["error"]["field"] == "tier"
    assert (await contents_of(tune.db, campaign_id)) == []
    missing = await client.post("/api/campaigns/999/send", headers=auth)
    assert missing.status_code == 404
    assert (await client.get("/api/campaigns/999/sending", headers=auth)).status_code == 404


async def test_send_api_queues_one_tier_only(
    tune: Services, client: TestClientProtocol, auth: dict[str, Any]
) -> None:
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
        for tier in (1, 1, 2):
            await make_contact(session, await make_prospect(session, campaign, tier=tier))
        campaign_id = campaign.id
    answer = await queue(client, auth, campaign_id, tier=1)
    assert answer["generated"] == 3 and answer["queued"] == 2
    assert answer["counts"]["queued"] == 2 and answer["counts"]["draft"] == 1

    progress = await (
        await client.get(f"/api/campaigns/{campaign_id}/sending", headers=auth)
    ).get_json()
    assert progress["counts"]["queued"] == 2 and progress["pending"] == 2
    assert progress["sender"] == {"running": False, "circuit": None}


# --- CLI -------------------------------------------------------------------------------


async def seed_tiers(database_url: str, tiers: tuple[int, ...]) -> int:
    """A campaign with one contact per given tier (no emails written); returns its id."""
    db = Database(Config(database_url=database_url, secret_key="x" * 20))
    try:
        async with db.write() as session:
            campaign = await make_campaign(session)
            for tier in tiers:
                await make_contact(session, await make_prospect(session, campaign, tier=tier))
            return campaign.id
    finally:
        await db.dispose()


def test_tune_send_waits_until_delivered(
    database_url: str, tmp_path: Path, relay: SmtpServer
) -> None:
    campaign_id = asyncio.run(seed_tiers(database_url, (1, 1, 2)))
    env = tune_env(database_url, tmp_path, SMTP_URL=relay.url, SEND_RATE="100/second")

    result = run_cli(["send", str(campaign_id), "--tier", "1"], env, tmp_path)

    assert result.returncode == 0, result.stderr
    assert "Queued 2 emails" in result.stdout
    assert "sent: 2" in result.stdout and "draft: 1" in result.stdout
    assert len(relay.handler.messages) == 2

    again = run_cli(["send", str(campaign_id), "--tier", "1"], env, tmp_path)
    assert again.returncode == 0 and "Queued 0 emails" in again.stdout
    assert len(relay.handler.messages) == 2


def test_tune_send_without_a_relay_only_queues_with_no_wait(
    database_url: str, tmp_path: Path
) -> None:
    env = tune_env(database_url, tmp_path)
    refused = run_cli(["send", "1"], env, tmp_path)
    assert refused.returncode != 0 and "SMTP_URL" in refused.stderr
    assert "Traceback" not in refused.stderr
    bad = run_cli(["worker"], {**env, "SMTP_URL": "smtpx://ana:s3cret@relay:25"}, tmp_path)
    assert bad.returncode != 0 and "SMTP_URL" in bad.stderr
    assert "s3cret" not in bad.stderr + bad.stdout and "Traceback" not in bad.stderr


def test_tune_worker_sends_what_was_queued_and_stops_on_sigterm(
    database_url: str, tmp_path: Path, relay: SmtpServer
) -> None:
    campaign_id = asyncio.run(seed_tiers(database_url, (1, 2, 3)))
    env = tune_env(database_url, tmp_path, SMTP_URL=relay.url, SEND_RATE="100/second")
    queued = run_cli(["send", str(campaign_id), "--no-wait"], env, tmp_path)
    assert queued.returncode == 0 and "Queued 3 emails" in queued.stdout
    assert relay.handler.messages == []

    worker = subprocess.Popen(
        [TUNE, "worker"], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 30
        while len(relay.handler.messages) < 3:
            assert worker.poll() is None, worker.communicate()[1].decode()
            assert time.monotonic() < deadline, "the worker sent nothing"
            time.sleep(0.1)
    finally:
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(timeout=30)
    assert code == 0
    assert len(set(relay.handler.message_ids())) == 3
