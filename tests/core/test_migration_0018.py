"""Migration 0018 drops `ix_contacts_campaign_id`, goes down (creating it again) and up,
on SQLite and PostgreSQL; a campaign's contacts are still read through an index."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.databases import indexes, query_plan
from webapp.core.migrate import alembic_config, upgrade


async def test_0018_drops_the_redundant_index_and_goes_down_and_up(empty_url: str) -> None:
    await asyncio.to_thread(upgrade, empty_url, "0017")
    assert "ix_contacts_campaign_id" in await indexes(empty_url, "contacts")
    await asyncio.to_thread(upgrade, empty_url, "0018")
    found = await indexes(empty_url, "contacts")
    assert "ix_contacts_campaign_id" not in found
    assert "ix_contacts_search" in found and "ix_contacts_prospect_id" in found
    await asyncio.to_thread(command.downgrade, alembic_config(empty_url), "0017")
    assert "ix_contacts_campaign_id" in await indexes(empty_url, "contacts")
    await asyncio.to_thread(upgrade, empty_url, "0018")
    assert "ix_contacts_campaign_id" not in await indexes(empty_url, "contacts")


async def test_a_campaigns_contacts_are_still_found_through_an_index(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'plan.db'}"
    await asyncio.to_thread(upgrade, url)
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        plan = await query_plan(
            connection,
            "SELECT count(*) FROM contacts WHERE campaign_id = :campaign",
            {"campaign": 1},
        )
    await engine.dispose()
    assert "USING COVERING INDEX" in plan or "USING INDEX" in plan, plan
