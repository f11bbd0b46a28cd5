"""Databases of a test's own: statements run as PostgreSQL's admin, a fresh empty database
dropped afterwards, and either kind of empty database for the migration tests, which bring
theirs to a given revision, find their migration by name, read a table's indexes, what it
refers to and how either database plans a read."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic.script import Script, ScriptDirectory
from sqlalchemy import event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from webapp.core.migrate import alembic_config

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL")
BACKENDS = ["sqlite", *(["postgres"] if POSTGRES_URL else [])]
"""The databases a test runs on: SQLite always, PostgreSQL when TEST_POSTGRES_URL is set."""


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


@asynccontextmanager
async def empty_database(backend: str, folder: Path, name: str) -> AsyncIterator[str]:
    """The URL of an empty database: a SQLite file in `folder`, or PostgreSQL's `name`."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{folder / 'migrate.db'}"
        return
    async with fresh_postgres(name) as url:
        yield url


def engine_with_foreign_keys(url: str) -> AsyncEngine:
    """An engine that enforces foreign keys (and so cascades) on SQLite too, as Tune's does."""
    engine = create_async_engine(url)
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine.sync_engine, "connect")
        def foreign_keys(connection: Any, _record: Any) -> None:
            connection.execute("PRAGMA foreign_keys=ON")

    return engine


def migration_script(suffix: str) -> Script:
    """The migration whose file name ends in `suffix` (`_contacts_campaign_key.py`), whatever
    its number, so a test follows its migration when branches renumber it."""
    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    [found] = [script for script in scripts.walk_revisions() if script.path.endswith(suffix)]
    return found


async def indexes(url: str, *tables: str) -> dict[str, dict[str, Any]]:
    """Every index of `tables`, by name, with the details SQLAlchemy reflects for it
    (`column_names`, `unique`, `dialect_options` with a partial index's condition)."""
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        found = await connection.run_sync(
            lambda sync: {
                str(index["name"]): dict(index)
                for table in tables
                for index in inspect(sync).get_indexes(table)
            }
        )
    await engine.dispose()
    return found


async def referred_tables(url: str, table: str) -> set[str]:
    """The tables `table`'s foreign keys refer to, as the database reports them."""
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        found = await connection.run_sync(
            lambda sync: {
                str(key["referred_table"]) for key in inspect(sync).get_foreign_keys(table)
            }
        )
    await engine.dispose()
    return found


async def query_plan(connection: AsyncConnection, statement: str, params: Mapping[str, Any]) -> str:
    """How the database plans `statement` (its parameters named `:name`), as one line of
    text to look for an index in. SQLite: `EXPLAIN QUERY PLAN` with `params`. PostgreSQL:
    the generic plan, a parameter for each of `params`, as a prepared read or a foreign
    key's action plans it, whatever the values."""
    if connection.dialect.name == "sqlite":
        rows = await connection.execute(text("EXPLAIN QUERY PLAN " + statement), dict(params))
        return " ".join(str(row[-1]) for row in rows)
    numbered = statement
    for number, name in enumerate(params, start=1):
        numbered = re.sub(rf":{name}\b", f"${number}", numbered)
    values = ", ".join(f":{name}" for name in params)
    execute = text(
        f"EXPLAIN EXECUTE tune_plan ({values})" if params else "EXPLAIN EXECUTE tune_plan"
    )
    rendered = execute.bindparams(**params).compile(
        dialect=connection.dialect, compile_kwargs={"literal_binds": True}
    )
    await connection.execute(text("SET plan_cache_mode = force_generic_plan"))
    await connection.execute(text(f"PREPARE tune_plan AS {numbered}"))
    try:
        rows = await connection.execute(text(str(rendered)))
        return " ".join(str(row[0]) for row in rows)
    finally:
        await connection.execute(text("DEALLOCATE tune_plan"))
        await connection.execute(text("RESET plan_cache_mode"))
