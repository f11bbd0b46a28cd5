"""`tune mailboxes` as a real process: add (the password never printed), list, test against
a real relay and a real Dovecot, pause, resume, and rekey after a key rotation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.dovecot import Dovecot, running_dovecot
from tests.support.servers import run_cli
from tests.support.smtprelay import SmtpServer

pytestmark = pytest.mark.slow
SECRET = "Sm7p-S3cret%2Fq"


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    yield from running_dovecot()


def test_add_list_test_pause_resume(
    env: dict[str, str], tmp_path: Path, relay: SmtpServer, dovecot: Dovecot
) -> None:
    added = run_cli(
        [
            "mailboxes",
            "add",
            "ana",
            "--from",
            "ana@sales.tune.test",
            "--hourly-cap",
            "20",
            "--daily-cap",
            "60",
        ],
        {
            **env,
            "MAILBOX_SMTP_URL": f"{relay.url}?starttls=off",
            "MAILBOX_IMAP_URL": dovecot.url,
        },
        tmp_path,
    )
    assert added.returncode == 0, added.stderr
    assert "Added mailbox ana" in added.stdout and dovecot.url.split(":")[2] not in added.stdout

    listed = run_cli(["mailboxes", "list"], env, tmp_path)
    assert listed.returncode == 0 and "ana" in listed.stdout and "sending" in listed.stdout

    tested = run_cli(["mailboxes", "test", "ana"], env, tmp_path)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "smtp: ok" in tested.stdout and "imap: ok" in tested.stdout
    assert ":***@" in tested.stdout

    dovecot.stop()
    broken = run_cli(["mailboxes", "test", "ana"], env, tmp_path)
    assert broken.returncode == 1 and "imap: FAILED" in broken.stdout

    paused = run_cli(["mailboxes", "pause", "ana", "--reason", "domain check"], env, tmp_path)
    assert paused.returncode == 0
    assert "domain check" in run_cli(["mailboxes", "list"], env, tmp_path).stdout
    assert run_cli(["mailboxes", "resume", "ana"], env, tmp_path).returncode == 0
    assert "sending" in run_cli(["mailboxes", "list"], env, tmp_path).stdout
    missing = run_cli(["mailboxes", "pause", "zed"], env, tmp_path)
    assert missing.returncode != 0 and "does not exist" in missing.stderr


def test_rekey_after_rotating_the_secret_key(
    env: dict[str, str], tmp_path: Path, relay: SmtpServer
) -> None:
    url = f"smtp://ana:{SECRET}@127.0.0.1:{relay.port}?starttls=off"
    added = run_cli(
        ["mailboxes", "add", "ana", "--from", "ana@sales.tune.test", "--smtp-url", url],
        env,
        tmp_path,
    )
    assert added.returncode == 0, added.stderr
    assert SECRET not in added.stdout + added.stderr
    old = env["TUNE_SECRET_KEY"]
    rotated = {**env, "TUNE_SECRET_KEY": "a-brand-new-secret-key-42424242"}
    # The new key alone cannot open the password: the test says so, without a traceback.
    lost = run_cli(["mailboxes", "test", "ana"], rotated, tmp_path)
    assert lost.returncode == 1 and "does not decrypt" in lost.stdout
    assert "Traceback" not in lost.stderr
    # With the old key listed as previous, rekey re-seals under the new one.
    both = {**rotated, "TUNE_PREVIOUS_SECRET_KEYS": old}
    rekeyed = run_cli(["mailboxes", "rekey"], both, tmp_path)
    assert rekeyed.returncode == 0 and "Re-encrypted 1 passwords" in rekeyed.stdout
    # Now the new key alone opens it (the relay takes no login: the check is the unsealing).
    tested = run_cli(["mailboxes", "test", "ana"], rotated, tmp_path)
    assert "does not decrypt" not in tested.stdout
