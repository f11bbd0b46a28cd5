"""Migration 0023 (stable_ids): SQLite's contents, links, events and webhook endpoints are
created again with AUTOINCREMENT, their rows, keys, indexes and triggers kept, and never
give a deleted row's id again; down and up again. PostgreSQL's schema does not change."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from alembic import command
from sqlalchemy import delete, func, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from tests.support.databases import engine_with_foreign_keys, migration_script
from tests.support.factories import make_campaign, make_contact, make_content, make_prospect
from webapp.core.migrate import alembic_config, upgrade
from webapp.core.models import (
    CampaignFigures,
    Content,
    Event,
    Link,
    WebhookDelivery,
    WebhookEndpoint,
)
from webapp.tracking.events import ClickEvent, OpenEvent
from webapp.tracking.store import store_events

MIGRATION = migration_script("_stable_ids.py")
BEFORE = str(MIGRATION.down_revision)
TABLES = ("contents", "links", "events", "webhook_endpoints")
OUTBOX_NAMES = 1000
"""A content and link id the webhook outbox still names, above any row's."""


async def _email(engine: AsyncEngine) -> tuple[int, int]:
    """A sent email with a link, an open and a click, and an endpoint: (email, link)."""
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions.begin() as session:
        campaign = await make_campaign(session)
        contact = await make_contact(session, await make_prospect(session, campaign))
        email = await make_content(
            session, contact, urls=("https://example.com/a",), send_status="sent"
        )
        link_id = await session.scalar(select(Link.id).where(Link.content_id == email.id))
        assert link_id is not None
        await store_events(
            session,
            [OpenEvent(email.id, source="api"), ClickEvent(email.id, link_id=link_id)],
        )
        endpoint = WebhookEndpoint(url="https://hooks.example/t", secret_encrypted="x")
        session.add(endpoint)
        await session.flush()
    return email.id, link_id


async def _schema(url: str) -> dict[str, Any]:
    """What SQLite keeps of the schema, each table's key aside, and what it reports of the
    keys, indexes and unique constraints of the rebuilt tables."""
    engine = engine_with_foreign_keys(url)
    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                text("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name")
            )
        ).all()

        def reported(sync: Any) -> dict[str, Any]:
            found = inspect(sync)
            return {
                table: (
                    _named(found.get_foreign_keys(table)),
                    _named(found.get_indexes(table)),
                    _named(found.get_unique_constraints(table)),
                    found.get_pk_constraint(table),
                )
                for table in TABLES
            }

        keys = await connection.run_sync(reported)
    await engine.dispose()
    kept = {
        (kind, name, table, sql.replace(f'CREATE TABLE "{name}"', f"CREATE TABLE {name}"))
        for kind, name, table, sql in rows
        if sql is not None and not (kind == "table" and name in {*TABLES, "sqlite_sequence"})
    }
    return {"kept": kept, "keys": keys}


def _named(items: list[Any]) -> list[str]:
    """Reported keys or indexes, in name order, as text (partial indexes' clauses too)."""

    def shown(value: Any) -> str:
        return str({k: str(v) for k, v in value.items()} if isinstance(value, dict) else value)

    return sorted(repr({key: shown(value) for key, value in item.items()}) for item in items)


async def _rows(url: str) -> list[Any]:
    engine = engine_with_foreign_keys(url)
    async with engine.connect() as connection:
        found = [
            (await connection.execute(text(f"SELECT * FROM {table} ORDER BY id"))).all()  # noqa: S608
            for table in TABLES
        ]
        found.append((await connection.execute(select(CampaignFigures.__table__))).all())
    await engine.dispose()
    return found


async def _sequences(url: str) -> dict[str, int]:
    engine = engine_with_foreign_keys(url)
    async with engine.connect() as connection:
        rows = (await connection.execute(text("SELECT name, seq FROM sqlite_sequence"))).all()
    await engine.dispose()
    return {str(name): int(seq) for name, seq in rows}


async def test_sqlite_ids_are_never_given_again_and_the_tables_keep_the_rest(
    empty_url: str,
) -> None:
    if not empty_url.startswith("sqlite"):
        pytest.skip("AUTOINCREMENT is SQLite's; PostgreSQL's sequences never give an id twice")
    await asyncio.to_thread(upgrade, empty_url, BEFORE)
    engine = engine_with_foreign_keys(empty_url)
    await _email(engine)
    newest, newest_link = await _email(engine)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions.begin() as session:
        session.add(
            WebhookDelivery(
                endpoint_id=1,
                message_id="msg_1",
                event_type="click",
                content_id=OUTBOX_NAMES,
                link_id=OUTBOX_NAMES,
            )
        )
    await engine.dispose()
    before, rows = await _schema(empty_url), await _rows(empty_url)

    await asyncio.to_thread(upgrade, empty_url, MIGRATION.revision)
    assert await _schema(empty_url) == before
    assert await _rows(empty_url) == rows
    sequences = await _sequences(empty_url)
    assert sequences == {
        "contents": OUTBOX_NAMES,
        "links": OUTBOX_NAMES,
        "events": max(row[0] for row in rows[2]),
        "webhook_endpoints": 2,
    }

    # The newest email, its link and events, and the newest endpoint are deleted...
    engine = engine_with_foreign_keys(empty_url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions.begin() as session:
        await session.execute(delete(Content).where(Content.id == newest))
        await session.execute(delete(WebhookEndpoint).where(WebhookEndpoint.id == 2))
    gone_event = sequences["events"]
    # ...and the next ones are new ids.
    again, again_link = await _email(engine)
    async with sessions() as session:
        events = set(await session.scalars(select(Event.id).where(Event.content_id == again)))
        endpoints = list(await session.scalars(select(WebhookEndpoint.id)))
        check = list(await session.execute(text("PRAGMA foreign_key_check")))
        integrity = await session.scalar(text("PRAGMA integrity_check"))
    await engine.dispose()
    assert again > OUTBOX_NAMES and again_link > max(OUTBOX_NAMES, newest_link)
    assert min(events) > gone_event
    assert endpoints == [1, 3]
    assert check == [] and integrity == "ok"

    await asyncio.to_thread(command.downgrade, alembic_config(empty_url), BEFORE)
    after_down = await _schema(empty_url)
    assert after_down["kept"] == before["kept"]
    engine = engine_with_foreign_keys(empty_url)
    async with engine.connect() as connection:
        tables = {
            name: sql.replace(f'CREATE TABLE "{name}"', f"CREATE TABLE {name}")
            for name, sql in await connection.execute(
                text("SELECT name, sql FROM sqlite_master WHERE type = 'table'")
            )
        }
        left = await connection.scalar(select(func.count()).select_from(Content))
    await engine.dispose()
    assert all("AUTOINCREMENT" not in tables[table] for table in TABLES)
    assert all(f"CONSTRAINT pk_{table} PRIMARY KEY (id)" in tables[table] for table in TABLES)
    assert "sqlite_sequence" not in tables or await _sequences(empty_url) == {}
    assert left == 2
    await asyncio.to_thread(upgrade, empty_url, MIGRATION.revision)
    assert (await _schema(empty_url))["kept"] == before["kept"]


async def test_postgresql_schema_does_not_change(empty_url: str) -> None:
    if not empty_url.startswith("postgresql"):
        pytest.skip("the SQLite test covers SQLite")
    await asyncio.to_thread(upgrade, empty_url, BEFORE)
    engine = engine_with_foreign_keys(empty_url)
    await _email(engine)
    await engine.dispose()

    async def described() -> list[Any]:
        engine = engine_with_foreign_keys(empty_url)
        async with engine.connect() as connection:
            found = (
                await connection.execute(
                    text(
                        "SELECT table_name, column_name, column_default, data_type "
                        "FROM information_schema.columns WHERE table_schema = 'public' "
                        "ORDER BY table_name, column_name"
                    )
                )
            ).all()
            found += (
                await connection.execute(
                    text(
                        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                        "UNION ALL SELECT indexname, indexdef FROM pg_indexes "
                        "WHERE schemaname = 'public' ORDER BY 1"
                    )
                )
            ).all()
            found += (
                await connection.execute(
                    text(
                        "SELECT last_value FROM contents_id_seq UNION ALL "
                        "SELECT last_value FROM events_id_seq"
                    )
                )
            ).all()
        await engine.dispose()
        return found

    before = await described()
    await asyncio.to_thread(upgrade, empty_url, MIGRATION.revision)
    assert await described() == before
    await asyncio.to_thread(command.downgrade, alembic_config(empty_url), BEFORE)
    assert await described() == before
