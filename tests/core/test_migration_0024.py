"""Migration 0024 (events_commit_order): PostgreSQL's events record the transaction that
stored them, the rows already there get 0, and a cursor from before the migration
continues with the remaining old events and then the new ones; down and up again.
SQLite's schema does not change."""

from __future__ import annotations

import asyncio

from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from tests.support.databases import migration_script
from tests.support.factories import make_recipient
from webapp.campaigns.feed import event_page
from webapp.core.migrate import alembic_config, upgrade
from webapp.tracking.events import OpenEvent
from webapp.tracking.store import store_events

MIGRATION = migration_script("_events_commit_order.py")
BEFORE = str(MIGRATION.down_revision)


async def _opens(engine: AsyncEngine, count: int) -> list[int]:
    """`count` opens of a new email, stored in one transaction: their ids."""
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions.begin() as session:
        email = await make_recipient(session, send_status="sent")
        await store_events(session, [OpenEvent(email.id, source="api") for _ in range(count)])
        ids = await session.scalars(
            text("SELECT id FROM events WHERE content_id = :id ORDER BY id"), {"id": email.id}
        )
        return list(ids)


async def _schema(engine: AsyncEngine) -> list[tuple[object, ...]]:
    async with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            query = "SELECT name, sql FROM sqlite_master ORDER BY name"
        else:
            query = (
                "SELECT column_name, column_default FROM information_schema.columns "
                "WHERE table_name = 'events' UNION ALL SELECT indexname, indexdef "
                "FROM pg_indexes WHERE tablename = 'events' ORDER BY 1"
            )
        return [tuple(row) for row in (await connection.execute(text(query))).all()]


async def test_old_events_come_first_and_an_old_cursor_goes_on(empty_url: str) -> None:
    await asyncio.to_thread(upgrade, empty_url, BEFORE)
    engine = create_async_engine(empty_url)
    old = await _opens(engine, 3)
    before = await _schema(engine)
    await asyncio.to_thread(upgrade, empty_url, MIGRATION.revision)
    new = await _opens(engine, 2)

    async with engine.connect() as connection:
        postgres = engine.dialect.name == "postgresql"
        if postgres:
            stored = dict((await connection.execute(text("SELECT id, txid FROM events"))).all())
            assert [stored[id] for id in old] == [0, 0, 0]
            assert stored[new[0]] == stored[new[1]] > 0  # one transaction, its id
        else:
            assert await _schema(engine) == before
    async with async_sessionmaker(engine)() as session:
        rest, _ = await event_page(session, 10, after=[old[0]])  # a cursor of the old shape
        assert [event.id for event in rest] == old[1:] + new
        first, key = await event_page(session, 3)
        assert [event.id for event in first] == old and key is not None
        then, end = await event_page(session, 3, after=key)
        assert [event.id for event in then] == new and end is None

    await asyncio.to_thread(command.downgrade, alembic_config(empty_url), BEFORE)
    assert await _schema(engine) == before
    await asyncio.to_thread(upgrade, empty_url, MIGRATION.revision)
    if postgres:
        async with engine.connect() as connection:
            txids = (await connection.execute(text("SELECT DISTINCT txid FROM events"))).all()
            assert txids == [(0,)]
    await engine.dispose()
