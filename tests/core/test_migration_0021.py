"""Migration 0021 (contacts_campaign_key): contacts lose their foreign key to the campaign;
down and up again, on SQLite and PostgreSQL. Deleting a campaign still deletes its
contacts (through their prospects), and the campaign figures still count contacts on
SQLite, whose copy of the table had to create their triggers again."""

from __future__ import annotations

import asyncio

from alembic import command
from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import async_sessionmaker

from tests.support.databases import engine_with_foreign_keys, migration_script, referred_tables
from tests.support.factories import make_campaign, make_contact, make_prospect
from webapp.core.migrate import alembic_config, upgrade
from webapp.core.models import Campaign, Contact

MIGRATION = migration_script("_contacts_campaign_key.py")
BEFORE = str(MIGRATION.down_revision)


async def _contacts_counted(url: str) -> tuple[int, int]:
    """(the campaign figures' count of contacts, the rows) after adding two and deleting one."""
    engine = engine_with_foreign_keys(url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions.begin() as session:
        campaign = await make_campaign(session)
        prospect = await make_prospect(session, campaign)
        gone = await make_contact(session, prospect)
        await make_contact(session, prospect)
    async with sessions.begin() as session:
        await session.execute(delete(Contact).where(Contact.id == gone.id))
    async with sessions() as session:
        figure = await session.scalar(
            text("SELECT contacts FROM campaign_figures WHERE campaign_id = :id"),
            {"id": campaign.id},
        )
        rows = await session.scalar(
            select(func.count()).select_from(Contact).where(Contact.campaign_id == campaign.id)
        )
    await engine.dispose()
    return int(figure or 0), int(rows or 0)


async def test_the_migration_drops_the_key_keeps_the_figures_and_goes_down_and_up(
    empty_url: str,
) -> None:
    await asyncio.to_thread(upgrade, empty_url, BEFORE)
    everything = {"campaigns", "prospects", "mailboxes"}
    assert await referred_tables(empty_url, "contacts") == everything

    await asyncio.to_thread(upgrade, empty_url, MIGRATION.revision)
    assert await referred_tables(empty_url, "contacts") == {"prospects", "mailboxes"}
    assert await _contacts_counted(empty_url) == (1, 1)

    await asyncio.to_thread(command.downgrade, alembic_config(empty_url), BEFORE)
    assert await referred_tables(empty_url, "contacts") == everything
    assert await _contacts_counted(empty_url) == (1, 1)
    await asyncio.to_thread(upgrade, empty_url, MIGRATION.revision)
    assert await referred_tables(empty_url, "contacts") == {"prospects", "mailboxes"}
    assert await _contacts_counted(empty_url) == (1, 1)


async def test_deleting_a_campaign_still_deletes_its_contacts(empty_url: str) -> None:
    await asyncio.to_thread(upgrade, empty_url)
    engine = engine_with_foreign_keys(empty_url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions.begin() as session:
        gone, kept = await make_campaign(session), await make_campaign(session, "Kept")
        for campaign in (gone, kept):
            await make_contact(session, await make_prospect(session, campaign))
    async with sessions.begin() as session:
        await session.execute(delete(Campaign).where(Campaign.id == gone.id))
    async with sessions() as session:
        left = list(await session.scalars(select(Contact.campaign_id)))
    await engine.dispose()
    assert left == [kept.id]
