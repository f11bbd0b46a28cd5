"""Databases for benchmarks: a fresh migrated SQLite file or PostgreSQL database, and counts."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bench.constants import POSTGRES_ADMIN_URL
from webapp.core.migrate import upgrade
from webapp.core.models import Event


@contextmanager
def fresh_database(backend: str, workdir: Path) -> Iterator[str]:
    """A migrated, empty database: a SQLite file in `workdir`, or a new PostgreSQL database."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
        upgrade(url)
        yield url
        return
    name = f"tune_bench_{os.getpid()}_{int(time.time() * 1000) % 10**9}"
    admin = make_url(POSTGRES_ADMIN_URL)
    asyncio.run(_pg_admin(admin.render_as_string(hide_password=False), f"CREATE DATABASE {name}"))
    url = admin.set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        asyncio.run(
            _pg_admin(
                admin.render_as_string(hide_password=False),
                f"DROP DATABASE IF EXISTS {name} WITH (FORCE)",
            )
        )


async def _pg_admin(url: str, statement: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


def postgres_available() -> bool:
    url = make_url(POSTGRES_ADMIN_URL)
    try:
        with socket.create_connection((url.host or "127.0.0.1", url.port or 5432), timeout=1):
            return True
    except OSError:
        return False


def count_events(url: str) -> int:
    async def work() -> int:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as connection:
                return int((await connection.scalar(select(func.count()).select_from(Event))) or 0)
        finally:
            await engine.dispose()

    return asyncio.run(work())
