"""A database that cannot serve right now (every pooled connection busy, PostgreSQL out of
connections) answers 503 with `Retry-After`, in the JSON error shape for the API and as a
readable page for the dashboard, logged once as `database_unavailable`; never a 500."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest
from quart.typing import TestClientProtocol as Client
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.support.factories import make_user
from tests.support.servers import run_cli, serve, tune_env
from tests.support.signin import login
from webapp import create_app
from webapp.core.config import Config
from webapp.web.services import Services


@pytest.fixture
def config(config: Config) -> Config:
    """One pooled connection, given up on after 0.1 s."""
    return config.with_changes(db_pool_size=1, db_max_overflow=0, db_pool_timeout=0.1)


@asynccontextmanager
async def every_connection_busy(tune: Services) -> AsyncIterator[AsyncConnection]:
    async with tune.db.engine.connect() as held:
        yield held


def logged(caplog: pytest.LogCaptureFixture, event: str) -> int:
    return sum(1 for record in caplog.records if event in record.getMessage())


async def test_api_answers_503_with_retry_after_when_every_connection_is_busy(
    client: Client, auth: dict[str, str], tune: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with every_connection_busy(tune):
        response = await client.get("/api/industries", headers=auth)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert (await response.get_json()) == {
        "error": {
            "code": "service_unavailable",
            "message": "the database is not available; try again shortly",
        }
    }
    assert logged(caplog, "database_unavailable") == 1
    assert logged(caplog, "unhandled_error") == 0
    assert "Traceback" not in caplog.text
    assert (await client.get("/api/industries", headers=auth)).status_code == 200


async def test_a_page_answers_a_readable_503_when_every_connection_is_busy(
    client: Client, tune: Services
) -> None:
    async with tune.db.write() as session:
        await make_user(session)
    assert (await login(client)).status_code == 303
    async with every_connection_busy(tune):
        response = await client.get("/followups")
    html = await response.get_data(as_text=True)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert response.mimetype == "text/html"
    assert "Temporarily unavailable" in html and "try again shortly" in html


POSTGRES_ONLY = pytest.mark.skipif(
    not os.environ.get("TEST_POSTGRES_URL"), reason="needs TEST_POSTGRES_URL"
)


@POSTGRES_ONLY
async def test_postgres_out_of_connections_is_a_503_not_a_500(
    postgres_schema: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """PostgreSQL refusing a new connection ("too many connections", SQLSTATE 53300), as a
    shared server under load does, is a 503 to retry, like a pool timeout."""
    caplog.set_level(logging.INFO)
    admin = make_url(postgres_schema)
    role = f"tune_limited_{os.getpid()}"
    server = await asyncpg.connect(
        host=admin.host, port=admin.port or 5432, user=admin.username, database=admin.database
    )
    await server.execute(f"DROP ROLE IF EXISTS {role}")
    await server.execute(f"CREATE ROLE {role} LOGIN CONNECTION LIMIT 2")
    await server.execute(f"GRANT ALL ON SCHEMA public TO {role}")
    await server.execute(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}")
    await server.execute(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role}")
    limited = admin.set(username=role).render_as_string(hide_password=False)
    config = Config(
        database_url=limited,
        secret_key="test-secret-key-0123456789abcdef",
        instance_path=tmp_path / "instance",
        run_sender=False,
        run_webhooks=False,
        run_inbox=False,
        db_pool_size=2,
        db_max_overflow=0,
        db_pool_timeout=5,
    )
    others: list[asyncpg.Connection] = []
    try:
        app = create_app(config)
        async with app.test_app():
            tune: Services = app.extensions["tune"]
            from webapp.accounts.apikeys import create_key

            async with tune.db.write() as session:
                key = (await create_key(session, "limited")).key
            await tune.db.engine.dispose()  # close the idle pooled connections
            while True:  # another client takes every connection the role may open
                try:
                    others.append(
                        await asyncpg.connect(
                            host=admin.host,
                            port=admin.port or 5432,
                            user=role,
                            database=admin.database,
                        )
                    )
                except asyncpg.TooManyConnectionsError:
                    break
            response = await app.test_client().get("/api/industries", headers={"X-API-Key": key})
            assert response.status_code == 503, await response.get_data(as_text=True)
            assert response.headers["Retry-After"] == "2"
            assert (await response.get_json())["error"]["code"] == "service_unavailable"
    finally:
        for connection in others:
            await connection.close()
        await server.execute(f"DROP OWNED BY {role}")
        await server.execute(f"DROP ROLE IF EXISTS {role}")
        await server.close()
    assert logged(caplog, "database_unavailable") == 1
    assert logged(caplog, "unhandled_error") == 0


async def _burst(base: str, key: str, count: int) -> list[httpx.Response]:
    """`count` requests at once to a read that holds a pooled session for a while: a page
    of 50 campaigns with a query string, which the API layer leaves to Quart (its plain-SQL
    reads, such as `/api/industries` once the key is cached, never wait for the pool)."""
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=count)) as client:
        for number in range(50):
            created = await client.post(
                f"{base}/api/campaigns/create",
                json={"name": f"Campaign {number}", "industry": "casino"},
                headers={"X-API-Key": key},
            )
            assert created.status_code == 201, created.text
        return await asyncio.gather(
            *(
                client.get(f"{base}/api/campaigns?limit=50", headers={"X-API-Key": key})
                for _ in range(count)
            )
        )


@pytest.mark.slow
def test_a_burst_on_an_exhausted_pool_gets_200s_and_503s_never_500s(
    database_url: str, tmp_path: Path
) -> None:
    env = tune_env(
        database_url,
        tmp_path,
        DB_POOL_SIZE="1",
        DB_MAX_OVERFLOW="0",
        DB_POOL_TIMEOUT="0.1",
        RATE_LIMIT="100000/minute",
    )
    created = run_cli(["keys", "create", "--name", "burst"], env, tmp_path)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    with serve(env, tmp_path) as base:
        # 150 at once outlasted the 0.1 s pool timeout on every machine until one fast
        # enough to serve them all within it (once in a full run): 400 leave no doubt.
        responses = asyncio.run(_burst(base, key, 400))
    statuses = [response.status_code for response in responses]
    assert set(statuses) <= {200, 503}, statuses
    refused = [response for response in responses if response.status_code == 503]
    assert refused, "400 requests at once on one connection: some must wait too long"
    assert all(response.headers.get("Retry-After") == "2" for response in refused)
    assert all(response.json()["error"]["code"] == "service_unavailable" for response in refused)
    log = "\n".join(path.read_text() for path in tmp_path.glob("server-*.log"))
    assert log.count("database_unavailable") == len(refused)
    assert "unhandled_error" not in log and "Traceback" not in log
