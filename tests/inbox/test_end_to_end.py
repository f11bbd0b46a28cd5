"""Send a tier, let replies and bounces arrive in a REAL mailbox, and see Tune take them in.

aiosmtpd receives what Tune sends; the answers land in Dovecot's maildir; the
running app reads them by itself (IMAP IDLE). No API call reports anything.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.support.dovecot import Dovecot, running_dovecot
from tests.support.factories import (
    add_contacts,
    make_campaign,
    make_contact,
    make_prospect,
    make_user,
)
from tests.support.inbox import MESSAGES, sent_campaign
from tests.support.sending import drain
from tests.support.signin import login
from tests.support.smtprelay import FROM, SmtpServer, queue
from webapp import create_app
from webapp.core.config import Config
from webapp.core.models import Reply, Suppression
from webapp.web.services import Services

pytestmark = pytest.mark.slow


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    yield from running_dovecot()


def answer(fixture: str, sent: EmailMessage, replacements: dict[str, str]) -> bytes:
    """A real message file turned into an answer to `sent` (its ids, address and subject)."""
    raw = (MESSAGES / fixture).read_bytes()
    for old, new in replacements.items():
        raw = raw.replace(old.encode(), new.encode())
    message = message_from_bytes(raw, policy=email_policy.default)
    if fixture.startswith("reply"):
        del message["Subject"]
        message["Subject"] = f"Re: {sent['Subject']}"
    return message.as_bytes()


async def test_a_reply_and_a_bounce_arrive_by_themselves(
    tune: Services, config: Config, relay: SmtpServer, dovecot: Dovecot, auth: dict[str, Any]
) -> None:
    campaign_id = await add_contacts(tune, 3, tier=1)
    async with tune.db.write() as session:
        await make_user(session)
    server = create_app(
        config.with_changes(
            smtp_url=relay.url,
            smtp_from=FROM,
            send_rate="1000/second",
            run_sender=True,
            imap_url=dovecot.url,
            run_inbox=True,
        )
    )
    async with server.test_app():
        client = server.test_client()
        await queue(client, auth, campaign_id, tier=1)
        counts = await drain(tune.db, campaign_id, timeout=15)
        assert counts["sent"] == 3
        replied_to, bounced, _ = relay.handler.messages
        reply_address = replied_to["To"].addresses[0].addr_spec
        bounce_address = bounced["To"].addresses[0].addr_spec

        started = time.monotonic()
        dovecot.deliver(
            answer(
                "reply_gmail.eml",
                replied_to,
                {
                    "<tune.1001.5c1f0e9ab2d47e31@sales.tune.test>": str(replied_to["Message-ID"]),
                    "jane.doe@acme-foods.example": reply_address,
                },
            )
        )
        dovecot.deliver(
            answer(
                "dsn_postfix.eml",
                bounced,
                {
                    "<tune.1006.2b3c4d5e6f708192@sales.tune.test>": str(bounced["Message-ID"]),
                    "nobody@gone-corp.example": bounce_address,
                },
            )
        )

        stats: dict[str, Any] = {}
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            response = await client.get(f"/api/campaigns/{campaign_id}/stats", headers=auth)
            stats = (await response.get_json())["total"]
            if stats["replied"] == 1 and stats["bounced"] == 1:
                break
            await asyncio.sleep(0.1)
        elapsed = time.monotonic() - started
        assert stats["replied"] == 1 and stats["bounced"] == 1, stats
        assert stats["sent"] == 3 and stats["rates"]["reply"] == round(1 / 3, 4)
        assert elapsed < 10

        # The prospect page: hot, with the reply's text and no quoted history.
        prospects = await (
            await client.get(f"/api/campaigns/{campaign_id}/prospects/1", headers=auth)
        ).get_json()
        hot = [item for item in prospects["items"] if item["hot"]]
        assert len(hot) == 1
        detail = await (await client.get(f"/api/prospects/{hot[0]['id']}", headers=auth)).get_json()
        (reply,) = detail["replies"]
        assert reply["classification"] == "positive"
        assert reply["text"].startswith("Hi Ana,\n\nThanks for reaching out")
        assert "Teams like" not in reply["text"]
        assert (await login(client)).status_code == 303
        page = await (await client.get(f"/prospects/{hot[0]['id']}")).get_data(as_text=True)
        assert "Hot</span>" in page and "Could we set up a call on Thursday afternoon?" in page
        assert "Teams like Acme Foods" not in page

        # The bounced address is suppressed for every campaign from now on.
        async with tune.db.read() as session:
            reason = await session.scalar(
                select(Suppression.reason).where(Suppression.email == bounce_address.lower())
            )
        assert reason == "hard_bounce"
        async with tune.db.write() as session:
            again = await make_campaign(session, "Follow-up")
            prospect = await make_prospect(session, again, tier=1)
            await make_contact(session, prospect, bounce_address)
            await make_contact(session, prospect, reply_address)
        answer_json = await queue(client, auth, again.id)
        assert answer_json["skipped_suppressed"] == 1 and answer_json["queued"] == 1


async def test_a_mailbox_added_after_startup_has_its_inbox_read_at_once(
    tune: Services, config: Config, dovecot: Dovecot, auth: dict[str, Any]
) -> None:
    """A server started with no inbox at all reads the inbox of a mailbox added later
    through the API, without a restart and long before its one-minute look."""
    await sent_campaign(tune.db)
    server = create_app(config.with_changes(run_inbox=True))
    async with server.test_app():
        readers = server.extensions["tune"].poller
        assert readers is not None and readers.refresh_seconds >= 60
        client = server.test_client()
        dovecot.deliver((MESSAGES / "reply_gmail.eml").read_bytes())
        response = await client.post(
            "/api/mailboxes",
            headers=auth,
            json={
                "name": "ana",
                "from_address": "ana@sales.tune.test",
                "smtp_url": "smtp://127.0.0.1:2525?starttls=off",
                "imap_url": dovecot.url,
            },
        )
        assert response.status_code == 201
        deadline = time.monotonic() + 20
        while True:
            async with tune.db.read() as session:
                replies = await session.scalar(select(func.count()).select_from(Reply))
            if replies == 1:
                break
            assert time.monotonic() < deadline, "the new mailbox's inbox was never read"
            await asyncio.sleep(0.1)
        assert sorted(readers.pollers) == ["ana"]
