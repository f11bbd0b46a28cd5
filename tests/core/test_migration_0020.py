"""Migration 0020 (event_write_indexes): the link index keeps clicks only, two unread
indexes and three of the events' foreign keys go; down and up again, on SQLite and
PostgreSQL. Clicks are still found by link, a deleted link still lets go of its
clicks, and deleting a contact or a campaign still deletes their events."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from alembic import command
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from tests.support.databases import (
    engine_with_foreign_keys,
    indexes,
    migration_script,
    query_plan,
    referred_tables,
)
from tests.support.factories import make_campaign, make_contact, make_content, make_prospect
from webapp.core.migrate import alembic_config, upgrade
from webapp.core.models import Campaign, Contact, Event, Link
from webapp.tracking.events import ClickEvent, OpenEvent
from webapp.tracking.store import store_events

MIGRATION = migration_script("_event_write_indexes.py")
BEFORE = str(MIGRATION.down_revision)
CLICK_READ = "SELECT id FROM events WHERE link_id = :link"
TABLES = ("events", "prospects", "contacts")


def _partial(index: dict[str, Any]) -> bool:
    options = index.get("dialect_options", {})
    return any(key.endswith("_where") and value is not None for key, value in options.items())


async def test_the_migration_narrows_and_drops_indexes_and_goes_down_and_up(
    empty_url: str,
) -> None:
    await asyncio.to_thread(upgrade, empty_url, BEFORE)
    before = await indexes(empty_url, *TABLES)
    assert {"ix_prospects_campaign_activity", "ix_contacts_email"} <= before.keys()
    assert not _partial(before["ix_events_link_id"])
    everything = {"campaigns", "contents", "contacts", "prospects", "links"}
    assert await referred_tables(empty_url, "events") == everything

    await asyncio.to_thread(upgrade, empty_url, MIGRATION.revision)
    after = await indexes(empty_url, *TABLES)
    assert not {"ix_prospects_campaign_activity", "ix_contacts_email"} & after.keys()
    assert _partial(after["ix_events_link_id"])
    assert after["ix_events_link_id"]["column_names"] == ["link_id"]
    assert "ix_prospects_tier_activity" in after  # the activity sort's own index stays
    assert _partial(after["ix_events_human_signals"])  # SQLite's copy of the table kept it
    assert await referred_tables(empty_url, "events") == {"contents", "links"}

    await asyncio.to_thread(command.downgrade, alembic_config(empty_url), BEFORE)
    again = await indexes(empty_url, *TABLES)
    assert {"ix_prospects_campaign_activity", "ix_contacts_email"} <= again.keys()
    assert not _partial(again["ix_events_link_id"])
    assert await referred_tables(empty_url, "events") == everything
    await asyncio.to_thread(upgrade, empty_url, MIGRATION.revision)
    assert _partial((await indexes(empty_url, *TABLES))["ix_events_link_id"])


async def test_clicks_are_read_by_link_and_let_go_of_a_deleted_link(empty_url: str) -> None:
    # At this migration: from 0022 on, PostgreSQL's events have no key to links.
    await asyncio.to_thread(upgrade, empty_url, MIGRATION.revision)
    engine = engine_with_foreign_keys(empty_url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions.begin() as session:
        campaign = await make_campaign(session)
        contact = await make_contact(session, await make_prospect(session, campaign))
        content = await make_content(session, contact, urls=("https://example.com/a",))
        link_id = await session.scalar(select(Link.id).where(Link.content_id == content.id))
        assert link_id is not None
        await store_events(
            session,
            [OpenEvent(content.id, source="api"), ClickEvent(content.id, link_id=link_id)],
        )
    async with engine.connect() as connection:  # generic on PostgreSQL, as `SET NULL` plans
        plan = await query_plan(connection, CLICK_READ, {"link": link_id})
    assert "ix_events_link_id" in plan, plan
    async with sessions.begin() as session:
        await session.execute(delete(Link).where(Link.id == link_id))
    async with sessions() as session:
        rows = (await session.execute(select(Event.kind, Event.link_id).order_by(Event.id))).all()
    await engine.dispose()
    assert rows == [("open", None), ("click", None)]


@pytest.mark.parametrize("owner", ["contact", "campaign"])
async def test_deleting_an_owner_still_deletes_its_events(empty_url: str, owner: str) -> None:
    await asyncio.to_thread(upgrade, empty_url)
    engine = engine_with_foreign_keys(empty_url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions.begin() as session:
        campaign = await make_campaign(session)
        prospect = await make_prospect(session, campaign)
        gone = await make_contact(session, prospect)
        kept = await make_contact(session, prospect)
        emails = [await make_content(session, contact) for contact in (gone, kept)]
        await store_events(session, [OpenEvent(email.id, source="api") for email in emails])
    async with sessions.begin() as session:
        if owner == "contact":
            await session.execute(delete(Contact).where(Contact.id == gone.id))
        else:
            await session.execute(delete(Campaign).where(Campaign.id == campaign.id))
    async with sessions() as session:
        left = list(await session.scalars(select(Event.contact_id)))
    await engine.dispose()
    assert left == ([kept.id] if owner == "contact" else [])
