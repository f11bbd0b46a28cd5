"""Two `tune worker` processes sending through three capped mailboxes at once: together
they never pass a cap, whether the slots are counted in Redis or in the database.
Their log lines never carry a mailbox password."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from quart.typing import TestClientProtocol

from tests.support.factories import contents_of
from tests.support.mailboxes import Provider, add_mailbox, campaign_with
from tests.support.servers import REDIS_URL, TUNE, redis_available, tune_env
from webapp.mailboxes.capacity import REDIS_PREFIX, RedisSlots, mailbox_key
from webapp.web.services import Services

CAPS = {"alpha": 3, "beta": 4, "gamma": 5}


@pytest.mark.slow
@pytest.mark.parametrize("storage", ["redis", "database"])
async def test_two_workers_together_respect_every_cap(
    storage: str,
    tune: Services,
    client: TestClientProtocol,
    auth: dict[str, Any],
    providers: dict[str, Provider],
    tmp_path: Path,
) -> None:
    if storage == "redis" and not redis_available():
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    mailboxes = [
        await add_mailbox(tune, providers[name], daily_cap=50, hourly_cap=cap)
        for name, cap in CAPS.items()
    ]
    campaign_id = await campaign_with(client, auth, tune, 30, list(CAPS))
    assert (
        await client.post(f"/api/campaigns/{campaign_id}/send", headers=auth)
    ).status_code == 202

    env = tune_env(
        tune.config.database_url,
        tmp_path,
        SEND_RATE="1000/second",
        SEND_CONCURRENCY="4",
        TUNE_RUN_WEBHOOKS="false",
        **({"RATELIMIT_STORAGE_URI": REDIS_URL} if storage == "redis" else {}),
    )
    env["TUNE_SECRET_KEY"] = tune.config.secret_key  # the key the passwords were sealed with
    env["LOG_LEVEL"] = "DEBUG"  # every log line there is, to look for passwords in
    logs = [tmp_path / f"worker{number}.log" for number in range(2)]
    workers = [
        subprocess.Popen(
            [TUNE, "worker"],
            env=env,
            cwd=tmp_path,
            stdout=path.open("wb"),
            stderr=subprocess.STDOUT,
        )
        for path in logs
    ]
    try:
        total = sum(CAPS.values())
        deadline = time.monotonic() + 60
        while sum(len(p.handler.received) for p in providers.values()) < total:
            for worker in workers:
                assert worker.poll() is None, [path.read_text()[-2000:] for path in logs]
            assert time.monotonic() < deadline, {
                n: len(p.handler.received) for n, p in providers.items()
            }
            await asyncio.sleep(0.1)
        await asyncio.sleep(3)  # both keep leasing: nothing more may go out this hour
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            worker.wait(timeout=30)
        if storage == "redis":
            slots = RedisSlots(REDIS_URL)
            await slots.client.delete([REDIS_PREFIX + mailbox_key(m) for m in mailboxes])

    for name, cap in CAPS.items():
        assert len(providers[name].handler.received) == cap, name
    contents = await contents_of(tune.db, campaign_id)
    assert sum(1 for c in contents if c.send_status == "sent") == sum(CAPS.values())
    assert all(c.send_status in {"sent", "queued"} for c in contents)
    output = "".join(path.read_text() for path in logs)
    assert "sender_started" in output
    for provider in providers.values():
        assert provider.password not in output
