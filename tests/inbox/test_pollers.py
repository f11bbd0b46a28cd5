"""One inbox reader per mailbox with an IMAP URL: two real Dovecot servers, each the inbox
of one mailbox, both read at once; a mailbox added while the readers run is picked up at
their next look; a deleted mailbox's reader stops."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from tests.support.dovecot import Dovecot, running_dovecot
from tests.support.inbox import MESSAGES, sent_campaign
from webapp.core.models import Reply
from webapp.inbox.poller import InboxPolicy
from webapp.inbox.pollers import InboxPollers
from webapp.mailboxes import store
from webapp.web.services import Services

pytestmark = pytest.mark.slow


@pytest.fixture
def inboxes() -> Iterator[tuple[Dovecot, Dovecot]]:
    first = running_dovecot()
    second = running_dovecot()
    yield next(first), next(second)
    for server in (first, second):
        next(server, None)


async def test_each_mailbox_inbox_is_read_by_its_own_poller(
    tune: Services, inboxes: tuple[Dovecot, Dovecot]
) -> None:
    await sent_campaign(tune.db)

    async def add(name: str, inbox: Dovecot) -> None:
        async with tune.db.write() as session:
            await store.create_mailbox(
                session,
                tune.config,
                {
                    "name": name,
                    "from_address": f"{name}@sales.tune.test",
                    "smtp_url": "smtp://127.0.0.1:2525?starttls=off",
                    "imap_url": inbox.url,
                },
            )

    await add("ana", inboxes[0])
    inboxes[0].deliver((MESSAGES / "reply_gmail.eml").read_bytes())
    inboxes[1].deliver((MESSAGES / "reply_outlook.eml").read_bytes())

    pollers = InboxPollers(
        tune.db, tune.config, policy=InboxPolicy(lease_seconds=10, timeout=10), refresh_seconds=0.2
    )
    pollers.start()
    try:
        # Added while the readers run, as another process would (no wake()).
        await add("ben", inboxes[1])
        async with tune.db.read() as session:
            stored = [row.imap_url for row in await store.list_mailboxes(session)]
        assert all(url and ":***@" in url for url in stored)
        deadline = time.monotonic() + 30
        while True:
            async with tune.db.read() as session:
                replies = await session.scalar(select(func.count()).select_from(Reply))
            if replies == 2:
                break
            assert time.monotonic() < deadline, f"{replies} replies read"
            await asyncio.sleep(0.1)
        assert sorted(pollers.pollers) == ["ana", "ben"]

        async with tune.db.write() as session:
            await store.delete_mailbox(session, "ben")
        deadline = time.monotonic() + 10
        while sorted(pollers.pollers) != ["ana"]:
            assert time.monotonic() < deadline, sorted(pollers.pollers)
            await asyncio.sleep(0.1)
    finally:
        await pollers.stop()
    assert not pollers.pollers
