"""Fixtures: the app on a fresh temp SQLite file, and on PostgreSQL when TEST_POSTGRES_URL is set.

Every test that takes `app` (or anything built on it) runs once per backend.
The schema comes from the real Alembic migrations: applied once per session
and copied (SQLite) or truncated between tests (PostgreSQL). `user` and
`signed_in` give the rep's account and a client signed in as it; `pg` the services on
PostgreSQL only; `relay` and `send_config` a real SMTP relay and the config sending to it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from quart import Quart
from quart.typing import TestClientProtocol
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.databases import BACKENDS, POSTGRES_URL, admin
from tests.support.factories import make_user
from tests.support.signin import login
from tests.support.smtprelay import relay, send_config  # noqa: F401  (the sending tests' fixtures)
from webapp import create_app
from webapp.accounts.apikeys import create_key
from webapp.core.config import Config
from webapp.core.migrate import upgrade
from webapp.web.services import Services

SECRET = "test-secret-key-0123456789abcdef"
KEPT_TABLES = {"industries", "alembic_version"}


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_schema() -> Iterator[str]:
    """A database of its own for this test session, so concurrent runs do not collide."""
    assert POSTGRES_URL is not None
    admin_url = make_url(POSTGRES_URL)
    name = f"tune_test_{os.getpid()}"

    asyncio.run(admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    asyncio.run(admin(f"CREATE DATABASE {name}"))
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    asyncio.run(admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


async def truncate_postgres(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        tables = (
            await connection.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            )
        ).scalars()
        names = [name for name in tables if name not in KEPT_TABLES]
        await connection.execute(text(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE"))
    await engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty database for one test."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "tune.db"
        shutil.copy(template, path)
        yield f"sqlite+aiosqlite:///{path}"
    else:
        url: str = request.getfixturevalue("postgres_schema")
        asyncio.run(truncate_postgres(url))
        yield url


@pytest.fixture
def config(database_url: str, tmp_path: Path) -> Config:
    return Config(
        database_url=database_url,
        db_pool_size=5,
        db_max_overflow=10,
        secret_key=SECRET,
        instance_path=tmp_path / "instance",
        base_url="http://tune.test",
        run_sender=False,
        run_inbox=False,  # a test that reads inboxes turns it on with a real IMAP server
        run_webhooks=False,
        dns_nameservers=(("127.0.0.1", 9),),  # nothing answers there: never the internet
        dns_timeout=2.0,
    )


@pytest.fixture
async def app(config: Config) -> AsyncIterator[Quart]:
    application = create_app(config)
    async with application.test_app():
        yield application


@pytest.fixture
def tune(app: Quart) -> Services:
    return app.extensions["tune"]  # type: ignore[no-any-return]


@pytest.fixture
def client(app: Quart) -> TestClientProtocol:
    return app.test_client()


@pytest.fixture
def pg(tune: Services) -> Services:
    """`tune`, on PostgreSQL only: the test is skipped on SQLite, for what it tests (its
    own connections, write transactions at once, a server process) is PostgreSQL's."""
    if tune.db.is_sqlite:
        pytest.skip("a PostgreSQL test")
    return tune


@pytest.fixture
async def api_key(tune: Services) -> str:
    async with tune.db.write() as session:
        return (await create_key(session, "tests")).key


@pytest.fixture
def auth(api_key: str) -> dict[str, Any]:
    return {"X-API-Key": api_key}


@pytest.fixture
async def user(tune: Services) -> Any:
    """The rep's account (tests.support.signin's email and password)."""
    async with tune.db.write() as session:
        return await make_user(session)


@pytest.fixture
async def signed_in(client: TestClientProtocol, user: Any) -> TestClientProtocol:
    """`client`, signed in as `user`."""
    response = await login(client)
    assert response.status_code == 303
    return client
