"""`tune webhooks` and `tune worker` as real processes: manage an endpoint, deliver to a
real receiver, and lose nothing when the worker is killed mid-delivery."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.factories import make_recipient
from tests.support.receiver import Receiver, receiving
from tests.support.servers import TUNE, run_cli
from webapp.core.config import Config
from webapp.core.db import Database
from webapp.tracking.events import OpenEvent
from webapp.tracking.store import store_events

pytestmark = pytest.mark.slow


def record_open(env: dict[str, str], content_id: int | None = None) -> int:
    """Store a human open (a new recipient unless given) as the tracking routes would."""

    async def work() -> int:
        db = Database(Config(database_url=env["DATABASE_URL"], secret_key="x" * 16))
        try:
            async with db.write() as session:
                target = content_id or (await make_recipient(session)).id
                await store_events(session, [OpenEvent(target, source="api")])
                return target
        finally:
            await db.dispose()

    return asyncio.run(work())


def wait_until(check: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def start_worker(env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [TUNE, "worker"], env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def accepted_ids(receiver: Receiver) -> list[str]:
    return [item.message_id for item in receiver.accepted()]


def test_webhooks_commands_and_a_worker_killed_mid_delivery(
    env: dict[str, str], tmp_path: Path
) -> None:
    env = {**env, "WEBHOOK_TIMEOUT": "2"}
    assert run_cli(["db", "upgrade"], env, tmp_path).returncode == 0
    bad = run_cli(["webhooks", "add", "--url", "ftp://x", "--event", "open"], env, tmp_path)
    assert bad.returncode != 0 and "url must be an http(s) URL" in bad.stderr
    with receiving() as receiver:
        added = run_cli(
            ["webhooks", "add", "--url", receiver.url, "--event", "open", "--event", "reply"],
            env,
            tmp_path,
        )
        assert added.returncode == 0, added.stderr
        receiver.secret = added.stdout.strip().splitlines()[-1]
        assert receiver.secret.startswith("whsec_")
        listed = run_cli(["webhooks", "list"], env, tmp_path)
        assert receiver.url in listed.stdout and "open,reply" in listed.stdout
        assert receiver.secret not in listed.stdout

        content_id = record_open(env)
        worker = start_worker(env, tmp_path)
        try:
            wait_until(lambda: len(receiver.accepted()) == 1)
            # The next delivery is held by the receiver; the worker dies holding its lease.
            receiver.slow_next, receiver.slow_seconds = 1, 1.5
            record_open(env, content_id)
            wait_until(lambda: len(receiver.received) == 2)
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
            worker = start_worker(env, tmp_path)
            wait_until(lambda: len(receiver.received) == 3)
        finally:
            worker.terminate()
            assert worker.wait(30) == 0
        ids = accepted_ids(receiver)
        assert ids[1] == ids[2] and len(set(ids)) == 2  # redelivered with the same webhook-id
        assert receiver.rejected == 0

    shown = run_cli(["webhooks", "deliveries", "1"], env, tmp_path)
    assert shown.returncode == 0 and shown.stdout.count("delivered") == 2
    resent = run_cli(["webhooks", "resend", "1", "1"], env, tmp_path)
    assert resent.returncode == 0 and "Queued delivery 3" in resent.stdout
    rotated = run_cli(["webhooks", "rotate-secret", "1"], env, tmp_path)
    assert rotated.returncode == 0 and rotated.stdout.strip().splitlines()[-1].startswith("whsec_")
    paused = run_cli(["webhooks", "set", "1", "--inactive"], env, tmp_path)
    assert paused.returncode == 0
    assert " off " in run_cli(["webhooks", "list"], env, tmp_path).stdout
    assert run_cli(["webhooks", "delete", "1"], env, tmp_path).returncode == 0
    gone = run_cli(["webhooks", "delete", "1"], env, tmp_path)
    assert gone.returncode != 0 and "does not exist" in gone.stderr
