"""Migration 0017 (`campaign_figures`): backfilled from the rows already there, kept by
triggers from then on, and reversible, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from tests.support.databases import engine_with_foreign_keys
from tests.support.factories import make_campaign, make_contact, make_content, make_prospect
from webapp.core.migrate import alembic_config, upgrade
from webapp.core.models import utcnow


@pytest.fixture
async def database(empty_url: str) -> str:
    """An empty database of its own, brought to 0016."""
    await asyncio.to_thread(upgrade, empty_url, "0016")
    return empty_url


async def _figures(engine: AsyncEngine) -> list[tuple[object, ...]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT campaign_id, prospects, contacts, contents, pending, sent"
                " FROM campaign_figures ORDER BY campaign_id"
            )
        )
        return [tuple(row) for row in rows]


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))


async def test_backfill_then_triggers_then_down_and_up_again(database: str) -> None:
    engine = engine_with_foreign_keys(database)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions.begin() as session:
        campaign = await make_campaign(session)
        empty = await make_campaign(session, "Empty")
        for number in range(3):
            prospect = await make_prospect(session, campaign)
            contact = await make_contact(session, prospect)
            sent_at = utcnow() - timedelta(days=number) if number else None
            status = "sent" if number else "queued"
            await make_content(session, contact, send_status=status, sent_at=sent_at)
    await asyncio.to_thread(upgrade, database)
    assert await _figures(engine) == [(campaign.id, 3, 3, 3, 1, 2), (empty.id, 0, 0, 0, 0, 0)]

    async with sessions.begin() as session:  # the triggers take over from the backfill
        await session.execute(
            text("DELETE FROM prospects WHERE campaign_id = :c"), {"c": campaign.id}
        )
        newer = await make_campaign(session, "Newer")
    assert await _figures(engine) == [
        (campaign.id, 0, 0, 0, 0, 0),
        (empty.id, 0, 0, 0, 0, 0),
        (newer.id, 0, 0, 0, 0, 0),
    ]

    await asyncio.to_thread(command.downgrade, alembic_config(database), "0016")
    assert "campaign_figures" not in await _tables(engine)
    async with sessions.begin() as session:  # no trigger left behind to trip over
        prospect = await make_prospect(session, empty)
        await make_contact(session, prospect)
    await asyncio.to_thread(upgrade, database)
    assert (empty.id, 1, 1, 0, 0, 0) in await _figures(engine)
    await engine.dispose()
