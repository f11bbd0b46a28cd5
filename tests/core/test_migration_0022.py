"""Migration 0022 (events_link_key): PostgreSQL's events lose their foreign key to links,
SQLite's keep it; down and up again on both. Regenerating drafts still takes their
clicks with them and leaves no click on a link that is gone, deleting a campaign still
deletes its events, and clicks are still read by link."""

from __future__ import annotations

import asyncio

from alembic import command
from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from tests.support.databases import (
    engine_with_foreign_keys,
    migration_script,
    query_plan,
    referred_tables,
)
from tests.support.factories import make_campaign, make_contact, make_content, make_prospect
from webapp.core.migrate import alembic_config, upgrade
from webapp.core.models import Campaign, Content, Event, Link
from webapp.outbound.contents import discard_drafts
from webapp.tracking.events import ClickEvent, OpenEvent
from webapp.tracking.store import store_events

MIGRATION = migration_script("_events_link_key.py")
BEFORE = str(MIGRATION.down_revision)
CLICK_READ = "SELECT id FROM events WHERE link_id = :link"


async def _click(engine: AsyncEngine, *, draft: bool) -> tuple[int, int, int]:
    """A new campaign with one email (a draft or sent) and a click on its link:
    (campaign id, email id, link id)."""
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions.begin() as session:
        campaign = await make_campaign(session)
        contact = await make_contact(session, await make_prospect(session, campaign))
        status = "draft" if draft else "sent"
        email = await make_content(
            session, contact, urls=("https://example.com/a",), send_status=status
        )
        link_id = await session.scalar(select(Link.id).where(Link.content_id == email.id))
        assert link_id is not None
        await store_events(
            session,
            [OpenEvent(email.id, source="api"), ClickEvent(email.id, link_id=link_id)],
        )
    return campaign.id, email.id, link_id


async def test_the_migration_drops_postgresql_key_and_goes_down_and_up(empty_url: str) -> None:
    both = {"contents", "links"}
    after = {"contents"} if empty_url.startswith("postgresql") else both
    await asyncio.to_thread(upgrade, empty_url, BEFORE)
    assert await referred_tables(empty_url, "events") == both

    await asyncio.to_thread(upgrade, empty_url, MIGRATION.revision)
    assert await referred_tables(empty_url, "events") == after
    engine = engine_with_foreign_keys(empty_url)
    _, _, link_id = await _click(engine, draft=False)
    async with engine.begin() as connection:  # a link gone behind the events' back
        await connection.execute(text("DELETE FROM links WHERE id = :id"), {"id": link_id})
    await engine.dispose()

    await asyncio.to_thread(command.downgrade, alembic_config(empty_url), BEFORE)
    assert await referred_tables(empty_url, "events") == both
    engine = engine_with_foreign_keys(empty_url)
    async with engine.connect() as connection:  # cleared, as the key would have
        links = list(await connection.scalars(select(Event.link_id).where(Event.kind == "click")))
    await engine.dispose()
    assert links == [None]
    await asyncio.to_thread(upgrade, empty_url, MIGRATION.revision)
    assert await referred_tables(empty_url, "events") == after


async def test_regenerating_drafts_takes_their_clicks_and_keeps_the_others(
    empty_url: str,
) -> None:
    await asyncio.to_thread(upgrade, empty_url)
    engine = engine_with_foreign_keys(empty_url)
    campaign_id, draft_id, _ = await _click(engine, draft=True)
    _, sent_id, sent_link = await _click(engine, draft=False)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions.begin() as session:
        tier = await session.scalar(select(Content.tier).where(Content.id == draft_id))
        assert tier is not None
        assert await discard_drafts(session, campaign_id, tier) == 1
    async with sessions() as session:
        left = (await session.execute(select(Event.content_id, Event.link_id))).all()
        links = set(await session.scalars(select(Link.id)))
    await engine.dispose()
    assert sorted(left, key=lambda row: row[1] is None) == [(sent_id, sent_link), (sent_id, None)]
    assert {link for _, link in left if link is not None} <= links


async def test_deleting_a_campaign_deletes_its_clicks_read_by_link(empty_url: str) -> None:
    await asyncio.to_thread(upgrade, empty_url)
    engine = engine_with_foreign_keys(empty_url)
    gone, _, gone_link = await _click(engine, draft=False)
    _, kept_email, kept_link = await _click(engine, draft=False)
    async with engine.connect() as connection:
        plan = await query_plan(connection, CLICK_READ, {"link": kept_link})
    assert "ix_events_link_id" in plan, plan
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions.begin() as session:
        await session.execute(delete(Campaign).where(Campaign.id == gone))
    async with sessions() as session:
        left = (await session.execute(select(Event.content_id, Event.link_id))).all()
        gone_clicks = await session.scalar(
            select(Event.id).where(Event.link_id == gone_link).limit(1)
        )
    await engine.dispose()
    assert sorted(left, key=lambda row: row[1] is None) == [
        (kept_email, kept_link),
        (kept_email, None),
    ]
    assert gone_clicks is None
