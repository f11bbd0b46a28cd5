"""PostgreSQL databases of a test's own: statements run as the admin, and a fresh empty
database dropped afterwards (migration tests bring theirs to a given revision)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL")


async def admin(statement: str) -> None:
    """Run `statement` outside a transaction (CREATE/DROP DATABASE, roles) as the admin."""
    assert POSTGRES_URL is not None
    engine = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        await connection.execute(text(statement))
    await engine.dispose()


@asynccontextmanager
async def fresh_postgres(name: str) -> AsyncIterator[str]:
    """An empty database `name` (suffixed with the process id), dropped on the way out."""
    assert POSTGRES_URL is not None
    name = f"{name}_{os.getpid()}"
    await admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    await admin(f"CREATE DATABASE {name}")
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        await admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
