"""API key revocations on PostgreSQL (`webapp/accounts/keywatch.py`) against a real server.

A worker keeps keys it verified; a revocation from anywhere must refuse the key
on the next request, in every process, and a worker that lost its listener must
read every key from the database until the listener is back.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
import pytest
from quart import Quart
from sqlalchemy.engine import make_url

from tests.support.asgiclient import AsgiClient
from tests.support.factories import make_campaign
from webapp.accounts import keywatch
from webapp.accounts.apikeys import create_key, digest, revoke_key
from webapp.web.services import Services


def dsn(tune: Services) -> str:
    url = make_url(tune.config.database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


async def cached_key(app: Quart, tune: Services) -> tuple[str, int, str]:
    """A key this process verified and keeps, and a stats path to read with it."""
    listener = tune.key_cache.listener
    assert listener is not None and await listener.live()
    async with tune.db.write() as session:
        created = await create_key(session, "cached")
        campaign = await make_campaign(session)
    path = f"/api/campaigns/{campaign.id}/stats"
    assert (await AsgiClient(app).get(path, headers={"X-API-Key": created.key})).status_code == 200
    assert tune.key_cache.get(digest(created.key))[0] is not None  # kept: no read next time
    return created.key, created.id, path


async def status(app: Quart, path: str, key: str) -> int:
    return (await AsgiClient(app).get(path, headers={"X-API-Key": key})).status_code


async def test_a_revocation_returns_only_once_every_listener_has_heard_it(
    app: Quart, pg: Services
) -> None:
    key, key_id, path = await cached_key(app, pg)
    # Another process's listener (another machine, say), slow to answer.
    other = await asyncpg.connect(
        dsn(pg), server_settings={"application_name": keywatch.LISTENER_NAME}
    )
    heard: list[float] = []

    def slow(connection: Any, _pid: int, _channel: str, token: str) -> None:
        heard.append(time.monotonic())

        async def answer() -> None:
            await asyncio.sleep(0.5)
            await connection.execute("SELECT pg_notify($1, $2)", keywatch.ACK_CHANNEL, token)

        asyncio.get_running_loop().create_task(answer())

    await other.add_listener(keywatch.CHANNEL, slow)
    try:
        started = time.monotonic()
        async with pg.db.write() as session:
            await revoke_key(session, key_id)
        returned = time.monotonic()
        assert await status(app, path, key) == 401
    finally:
        await other.close()
    assert len(heard) == 1
    assert returned - heard[0] >= 0.45  # waited for the slow listener's answer
    assert returned - started < keywatch.LEASE_SECONDS  # and no longer


async def test_a_silent_listener_delays_a_revocation_until_its_lease_is_over(
    app: Quart, pg: Services
) -> None:
    key, key_id, path = await cached_key(app, pg)
    silent = await asyncpg.connect(
        dsn(pg), server_settings={"application_name": keywatch.LISTENER_NAME}
    )
    await silent.add_listener(keywatch.CHANNEL, lambda *_: None)
    try:
        started = time.monotonic()
        async with pg.db.write() as session:
            await revoke_key(session, key_id)
        waited = time.monotonic() - started
    finally:
        await silent.close()
    assert waited >= keywatch.LEASE_SECONDS + keywatch.MARGIN_SECONDS
    assert await status(app, path, key) == 401


async def listener_pids(tune: Services) -> list[int]:
    connection = await asyncpg.connect(dsn(tune))
    try:
        rows = await connection.fetch(
            "SELECT pid FROM pg_stat_activity"
            " WHERE application_name = $1 AND datname = current_database()",
            keywatch.LISTENER_NAME,
        )
    finally:
        await connection.close()
    return [row[0] for row in rows]


async def test_a_lost_listener_reads_every_key_from_the_database_until_it_is_back(
    app: Quart, pg: Services
) -> None:
    key, key_id, path = await cached_key(app, pg)
    admin = await asyncpg.connect(dsn(pg))
    try:
        (pid,) = await listener_pids(pg)
        await admin.execute("SELECT pg_terminate_backend($1)", pid)
        await asyncio.sleep(0.1)
        # Revoked behind Tune's back, with no notification at all: only a database read sees it.
        await admin.execute("UPDATE api_keys SET revoked_at = now() WHERE id = $1", key_id)
        assert await status(app, path, key) == 401
        # Back: keys are cached again, and a revocation is heard again.
        listener = pg.key_cache.listener
        assert listener is not None
        assert await listener.live(keywatch.RETRY_SECONDS + 5)
        assert (await listener_pids(pg)) != [pid]
        key, key_id, path = await cached_key(app, pg)
        async with pg.db.write() as session:
            await revoke_key(session, key_id)
        assert await status(app, path, key) == 401
    finally:
        await admin.close()


async def test_a_stalled_listener_stops_trusting_its_cache_when_its_lease_runs_out(
    app: Quart, pg: Services
) -> None:
    import os
    import signal

    key, key_id, path = await cached_key(app, pg)
    (pid,) = await listener_pids(pg)
    try:
        os.kill(pid, signal.SIGSTOP)  # the listener's server process hangs: no answer, no error
    except PermissionError:
        pytest.skip("cannot pause a PostgreSQL server process here")
    admin = await asyncpg.connect(dsn(pg))
    try:
        await admin.execute("UPDATE api_keys SET revoked_at = now() WHERE id = $1", key_id)
        await asyncio.sleep(keywatch.LEASE_SECONDS + 0.2)
        assert await status(app, path, key) == 401
    finally:
        os.kill(pid, signal.SIGCONT)
        await admin.close()


async def test_a_key_revoked_or_deleted_by_hand_in_sql_is_dropped_from_the_cache(
    app: Quart, pg: Services
) -> None:
    admin = await asyncpg.connect(dsn(pg))
    try:
        for statement in (
            "UPDATE api_keys SET revoked_at = now() WHERE id = $1",
            "DELETE FROM api_keys WHERE id = $1",
        ):
            key, key_id, path = await cached_key(app, pg)
            await admin.execute(statement, key_id)  # no Tune code involved: the trigger tells
            for _ in range(100):  # heard within moments (nothing waits for it here)
                if pg.key_cache.get(digest(key))[0] is None:
                    break
                await asyncio.sleep(0.01)
            assert await status(app, path, key) == 401, statement
    finally:
        await admin.close()
