"""`tune inbox check` as a real process, reading a real Dovecot mailbox."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.dovecot import PASSWORD, Dovecot, running_dovecot
from tests.support.inbox import MESSAGES, sent_campaign
from tests.support.servers import run_cli
from webapp.core.config import Config
from webapp.core.db import Database

pytestmark = pytest.mark.slow


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    yield from running_dovecot()


async def seed(url: str) -> None:
    db = Database(Config(database_url=url, secret_key="x" * 20))
    try:
        await sent_campaign(db)
    finally:
        await db.dispose()


def test_inbox_check_prints_what_each_new_message_was(
    database_url: str, env: dict[str, str], tmp_path: Path, dovecot: Dovecot
) -> None:
    asyncio.run(seed(database_url))
    dovecot.deliver((MESSAGES / "reply_gmail.eml").read_bytes())
    dovecot.deliver((MESSAGES / "dsn_postfix.eml").read_bytes())
    dovecot.deliver(b"From: news@shop.example\nSubject: Black Friday\n\nSale!\n")
    env = {**env, "IMAP_URL": dovecot.url}

    first = run_cli(["inbox", "check"], env, tmp_path)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.strip().splitlines()
    assert "reply" in lines[0] and "Re: Faster onboarding for Acme Foods" in lines[0]
    assert "bounce" in lines[1] and "Undelivered Mail Returned to Sender" in lines[1]
    assert "unmatched" in lines[2] and "Black Friday" in lines[2]
    assert lines[-1] == "3 new messages: 1 bounce, 1 reply, 1 unmatched."

    again = run_cli(["inbox", "check"], env, tmp_path)
    assert again.returncode == 0 and again.stdout.strip() == "0 new messages."


def test_inbox_check_explains_a_refused_login_without_the_password(
    env: dict[str, str], tmp_path: Path, dovecot: Dovecot
) -> None:
    wrong = dovecot.url.replace(PASSWORD, "wrong-secret-123")
    result = run_cli(["inbox", "check"], {**env, "IMAP_URL": wrong}, tmp_path)
    assert result.returncode != 0
    assert "the mailbox cannot be read: login failed" in result.stderr
    assert "wrong-secret-123" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_inbox_check_needs_imap_url(env: dict[str, str], tmp_path: Path) -> None:
    result = run_cli(["inbox", "check"], env, tmp_path)
    assert result.returncode != 0 and "IMAP_URL" in result.stderr


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("pop3://ana:secret@mail.example.com", "IMAP_URL: expected imaps://"),
        ("imaps://mail.example.com/INBOX", "IMAP_URL: the URL needs a user name"),
        ("imaps://ana@mail.example.com/INBOX", "IMAP_URL: the URL needs a password"),
        ("imaps://ana@mail.example.com/INBOX?auth=xoauth2", "IMAP_OAUTH2_TOKEN_COMMAND"),
    ],
)
def test_a_bad_imap_url_stops_with_one_line(
    env: dict[str, str], tmp_path: Path, url: str, message: str
) -> None:
    result = run_cli(["inbox", "check"], {**env, "IMAP_URL": url}, tmp_path)
    assert result.returncode != 0
    assert message in result.stderr and "secret" not in result.stderr
    assert "Traceback" not in result.stderr


@pytest.fixture
def second_dovecot() -> Iterator[Dovecot]:
    yield from running_dovecot()


async def seed_mailboxes(url: str, secret_key: str, inboxes: dict[str, str]) -> None:
    from webapp.mailboxes import store

    config = Config(database_url=url, secret_key=secret_key)
    db = Database(config)
    try:
        await sent_campaign(db)
        async with db.write() as session:
            for name, imap_url in inboxes.items():
                await store.create_mailbox(
                    session,
                    config,
                    {
                        "name": name,
                        "from_address": f"{name}@sales.tune.test",
                        "smtp_url": "smtp://127.0.0.1:2525?starttls=off",
                        "imap_url": imap_url,
                    },
                )
    finally:
        await db.dispose()


def test_inbox_check_reads_every_mailboxs_inbox_too(
    database_url: str,
    env: dict[str, str],
    tmp_path: Path,
    dovecot: Dovecot,
    second_dovecot: Dovecot,
) -> None:
    # Another folder of the same account, with a password that no longer opens it.
    wrong = second_dovecot.url.replace(PASSWORD, "wrong-secret-456").replace("/INBOX?", "/Old?")
    asyncio.run(
        seed_mailboxes(
            database_url, env["TUNE_SECRET_KEY"], {"ben": second_dovecot.url, "cal": wrong}
        )
    )
    dovecot.deliver((MESSAGES / "reply_gmail.eml").read_bytes())
    second_dovecot.deliver((MESSAGES / "dsn_postfix.eml").read_bytes())
    second_dovecot.deliver(b"From: news@shop.example\nSubject: Black Friday\n\nSale!\n")

    result = run_cli(["inbox", "check"], {**env, "IMAP_URL": dovecot.url}, tmp_path)
    assert result.returncode != 0  # cal's inbox could not be read
    assert "not read: cal" in result.stderr and "Traceback" not in result.stderr
    assert "wrong-secret-456" not in result.stdout + result.stderr
    sections = result.stdout.split("== ")[1:]
    assert [section.split(" ", 1)[0] for section in sections] == ["default", "ben", "cal"]
    default, ben, cal = sections
    assert "Re: Faster onboarding for Acme Foods" in default
    assert default.strip().endswith("1 new messages: 1 reply.")
    assert "Undelivered Mail Returned to Sender" in ben and "Black Friday" in ben
    assert ben.strip().endswith("2 new messages: 1 bounce, 1 unmatched.")
    assert "not read: the mailbox cannot be read: login failed" in cal
    assert ":***@" in cal and PASSWORD not in result.stdout

    # Without IMAP_URL, the mailboxes' inboxes are still read.
    again = run_cli(["inbox", "check"], env, tmp_path)
    assert "== ben" in again.stdout and "0 new messages." in again.stdout
    assert "== default" not in again.stdout
