"""IMAP_URL parsing, and the mailbox lease that keeps one reader per folder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from webapp.core.errors import ConfigError
from webapp.inbox import lease
from webapp.inbox.mailbox import parse_mailbox_url
from webapp.web.services import Services


def test_an_imaps_url_with_an_encoded_user_and_folder() -> None:
    url = parse_mailbox_url(
        "imaps://ana%40example.com:p%40ss%3Aword@imap.gmail.com/%5BGmail%5D/All"
    )
    assert (url.host, url.port, url.username, url.password) == (
        "imap.gmail.com",
        993,
        "ana@example.com",
        "p@ss:word",
    )
    assert url.folder == "[Gmail]/All" and url.tls and not url.starttls
    assert url.key == "ana@example.com@imap.gmail.com:993/[Gmail]/All"
    assert "p@ss" not in url.redacted() and "p@ss" not in repr(url)


def test_plain_imap_requires_starttls_unless_turned_off_for_loopback() -> None:
    url = parse_mailbox_url("imap://ana:secret@mail.example.com/INBOX")
    assert url.port == 143 and url.starttls and not url.tls
    loopback = parse_mailbox_url("imap://ana:secret@127.0.0.1:1143/INBOX?starttls=false")
    assert not loopback.starttls and not loopback.tls
    oauth = parse_mailbox_url("imaps://ana@outlook.office365.com/INBOX?auth=xoauth2")
    assert oauth.xoauth2 and oauth.password == ""


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://ana:secret@mail.example.com", "expected imaps://"),
        ("imaps://ana:secret@mail.example.com:99999/INBOX", "port"),
        ("imaps://ana:secret@mail.example.com/INBOX?tls=maybe", "unknown option 'tls'"),
        ("imaps://ana:secret@mail.example.com/INBOX?auth=kerberos", "auth must be"),
    ],
)
def test_a_bad_url_names_the_variable_and_never_the_password(url: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_mailbox_url(url)
    assert str(error.value).startswith("IMAP_URL: ") and message in str(error.value)
    assert "secret" not in str(error.value)


async def test_the_lease_is_one_holders_until_it_expires(tune: Services) -> None:
    start = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    async with tune.db.write() as session:
        assert await lease.acquire(session, "box", "a", 90, now=start)
        assert not await lease.acquire(session, "box", "b", 90, now=start + timedelta(seconds=60))
        assert await lease.acquire(session, "box", "a", 90, now=start + timedelta(seconds=60))
        await lease.save_progress(
            session, "box", "a", uidvalidity=7, last_uid=12, seconds=90, now=start
        )
        # "a" stopped renewing: after its lease ends "b" takes over, and "a" may not save.
        later = start + timedelta(seconds=200)
        assert await lease.acquire(session, "box", "b", 90, now=later)
        with pytest.raises(lease.LeaseLost):
            await lease.save_progress(
                session, "box", "a", uidvalidity=7, last_uid=13, seconds=90, now=later
            )
        state = await lease.state(session, "box")
    assert state is not None and (state.uidvalidity, state.last_uid) == (7, 12)
    assert state.lease_owner == "b"
