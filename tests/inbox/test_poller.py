"""Reading a REAL mailbox: Dovecot on loopback, fed with real message files.

Each message is handled once, marked on the server, and progress survives a
restart, a changed UIDVALIDITY and a dropped connection; one poller per mailbox.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator

import pytest
from imapclient import IMAPClient

from tests.support.dovecot import PASSWORD, USER, Dovecot, running_dovecot
from tests.support.inbox import MESSAGES, SENT, sent_campaign
from webapp.campaigns.stats import campaign_stats
from webapp.core.config import Config
from webapp.inbox.mailbox import MailboxError
from webapp.inbox.poller import InboxBusy, InboxPolicy, Poller
from webapp.web.services import Services

pytestmark = pytest.mark.slow
FAST = InboxPolicy(lease_seconds=6, reconnect_base=0.1, reconnect_max=0.5, timeout=5)


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    yield from running_dovecot()


def poller(tune: Services, server: Dovecot, worker: str = "w1", **changes: object) -> Poller:
    settings: dict[str, object] = {"imap_url": server.url, "imap_poll_seconds": 30, **changes}
    config: Config = tune.config.with_changes(**settings)
    return Poller(tune.db, config, policy=FAST, worker_id=worker)


def flags(server: Dovecot) -> dict[str, bool]:
    """Subject → carries $TuneProcessed, read straight from the server."""
    with IMAPClient("127.0.0.1", port=server.port, ssl=False) as client:
        client.login(USER, PASSWORD)
        client.select_folder("INBOX", readonly=True)
        found = client.fetch(client.search("ALL"), ["FLAGS", "BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
    return {
        data[b"BODY[HEADER.FIELDS (SUBJECT)]"].decode().strip(): b"$TuneProcessed" in data[b"FLAGS"]
        for data in found.values()
    }


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 8.0) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, "not within the time allowed"
        await asyncio.sleep(0.1)


async def totals(tune: Services, campaign_id: int) -> dict[str, object]:
    return (await campaign_stats(tune.db, campaign_id))["total"]


async def test_a_pass_handles_each_message_once_and_marks_it(
    tune: Services, dovecot: Dovecot
) -> None:
    sent = await sent_campaign(tune.db)
    for name, *_ in SENT:
        dovecot.deliver((MESSAGES / name).read_bytes())
    stranger = b"From: someone@else.example\nSubject: Lunch?\nMessage-ID: <x1@else.example>\n\nHi\n"
    dovecot.deliver(stranger)

    report = await poller(tune, dovecot).check_once()
    assert dict(report.outcomes) == {
        "reply": 4,
        "auto_reply": 2,
        "bounce": 3,
        "soft_bounce": 1,
        "complaint": 1,
        "unmatched": 1,
    }
    marked = flags(dovecot)
    assert marked.pop("Subject: Lunch?") is False  # left alone
    assert all(marked.values()) and len(marked) == len(SENT)
    counts = await totals(tune, sent.campaign_id)
    assert (counts["replied"], counts["bounced"], counts["auto_replied"]) == (4, 3, 2)

    again = await poller(tune, dovecot, "w2").check_once()
    assert again.messages == []
    assert await totals(tune, sent.campaign_id) == counts


async def test_progress_survives_a_restart_and_a_new_uidvalidity(
    tune: Services, dovecot: Dovecot
) -> None:
    sent = await sent_campaign(tune.db)
    dovecot.deliver((MESSAGES / "reply_gmail.eml").read_bytes())
    assert (await poller(tune, dovecot).check_once()).outcomes["reply"] == 1
    dovecot.deliver((MESSAGES / "dsn_postfix.eml").read_bytes())
    report = await poller(tune, dovecot, "after-restart").check_once()
    assert [outcome for _, _, outcome, _ in report.messages] == ["bounce"]

    dovecot.stop()
    dovecot.reset_uidvalidity()
    dovecot.start()
    report = await poller(tune, dovecot, "rebuilt").check_once()
    assert report.messages == []
    counts = await totals(tune, sent.campaign_id)
    assert (counts["replied"], counts["bounced"]) == (1, 1)


async def test_one_poller_per_mailbox(tune: Services, dovecot: Dovecot) -> None:
    await sent_campaign(tune.db)
    first = poller(tune, dovecot, "first")
    first.start()
    await eventually(lambda: _holds(tune, first))
    with pytest.raises(InboxBusy) as busy:
        await poller(tune, dovecot, "second").check_once()
    assert busy.value.owner == "first"
    await first.stop()
    dovecot.deliver((MESSAGES / "reply_apple.eml").read_bytes())
    assert (await poller(tune, dovecot, "second").check_once()).outcomes["reply"] == 1


async def _holds(tune: Services, running: Poller) -> bool:
    from webapp.inbox import lease

    async with tune.db.read() as session:
        state = await lease.state(session, running.url.key)
    return state is not None and state.lease_owner == running.worker_id


async def test_a_new_message_is_read_within_seconds_with_idle(
    tune: Services, dovecot: Dovecot
) -> None:
    sent = await sent_campaign(tune.db)
    running = poller(tune, dovecot, imap_poll_seconds=600)
    running.start()
    try:
        await eventually(lambda: _holds(tune, running))
        await asyncio.sleep(0.5)  # idling now
        started = time.monotonic()
        dovecot.deliver((MESSAGES / "reply_gmail.eml").read_bytes())

        async def replied() -> bool:
            return (await totals(tune, sent.campaign_id))["replied"] == 1

        await eventually(replied, 5)
        assert time.monotonic() - started < 5
    finally:
        await running.stop()


async def test_the_poller_reconnects_after_the_server_went_away(
    tune: Services, dovecot: Dovecot
) -> None:
    sent = await sent_campaign(tune.db)
    running = poller(tune, dovecot, imap_poll_seconds=1)
    running.start()
    try:
        await eventually(lambda: _holds(tune, running))
        dovecot.stop()

        async def noticed() -> bool:
            return running.failures >= 1

        await eventually(noticed, 10)
        dovecot.start()
        dovecot.deliver((MESSAGES / "dsn_exchange.eml").read_bytes())

        async def bounced() -> bool:
            return (await totals(tune, sent.campaign_id))["bounced"] == 1

        await eventually(bounced, 10)
        assert running.failures == 0
    finally:
        await running.stop()


async def test_a_wrong_password_is_a_clear_error_without_the_password(
    tune: Services, dovecot: Dovecot
) -> None:
    url = dovecot.url.replace(PASSWORD, "not-the-password")
    config = tune.config.with_changes(imap_url=url)
    with pytest.raises(MailboxError) as failed:
        await Poller(tune.db, config, policy=FAST).check_once()
    assert str(failed.value).startswith("login failed")
    assert "not-the-password" not in str(failed.value)
