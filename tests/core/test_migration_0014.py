"""Migration 0014 on a PostgreSQL server that refuses `pg_trgm`: the migration still
completes, without the trigram indexes, and goes down and up again."""

from __future__ import annotations

import asyncio
import os

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.databases import POSTGRES_URL, admin, indexes
from webapp.core.migrate import SEARCH_INDEXES, alembic_config, upgrade

pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="needs TEST_POSTGRES_URL")
TABLES = ("events", "prospects", "contacts")


async def test_without_pg_trgm_the_migration_completes_without_trigram_indexes() -> None:
    assert POSTGRES_URL is not None
    name, role = f"tune_noext_{os.getpid()}", f"tune_noext_{os.getpid()}"
    await admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    await admin(f"DROP ROLE IF EXISTS {role}")
    # A role that may create tables but not extensions (no CREATE on the database).
    await admin(f"CREATE ROLE {role} LOGIN")
    await admin(f"CREATE DATABASE {name}")
    admin_of_db = make_url(POSTGRES_URL).set(database=name)
    engine = create_async_engine(admin_of_db, isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        await connection.execute(text(f"GRANT ALL ON SCHEMA public TO {role}"))
    await engine.dispose()
    url = admin_of_db.set(username=role, password=None).render_as_string(hide_password=False)
    try:
        await asyncio.to_thread(upgrade, url)
        found = set(await indexes(url, *TABLES))
        assert {"ix_events_human_signals", "ix_prospects_search", "ix_contacts_search"} <= found
        assert not found & SEARCH_INDEXES
        await asyncio.to_thread(command.downgrade, alembic_config(url), "0013")
        assert "ix_events_human_signals" not in await indexes(url, *TABLES)
        await asyncio.to_thread(upgrade, url)
        assert "ix_prospects_search" in await indexes(url, *TABLES)
    finally:
        await admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin(f"DROP ROLE IF EXISTS {role}")
