"""Migration 0025 (events_campaign_clicks): the campaign page's top links are read from a
partial index of clicks by campaign, on SQLite and PostgreSQL; down and up again; the
links read from it count one campaign's clicks, not its opens or another's clicks."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import command
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from tests.support.databases import (
    engine_with_foreign_keys,
    indexes,
    migration_script,
    query_plan,
)
from tests.support.factories import make_campaign, make_contact, make_content, make_prospect
from webapp.campaigns.engagement import top_links, top_links_query
from webapp.core.migrate import alembic_config, upgrade
from webapp.core.models import Link
from webapp.tracking.events import ClickEvent, OpenEvent
from webapp.tracking.store import store_events

MIGRATION = migration_script("_events_campaign_clicks.py")
BEFORE = str(MIGRATION.down_revision)
INDEX = "ix_events_campaign_clicks"


def _named(statement: Any) -> tuple[str, dict[str, Any]]:
    """`statement` as SQL with `:name` parameters, and their values."""
    compiled = statement.compile()
    return str(compiled), dict(compiled.params)


async def test_the_index_holds_clicks_by_campaign_and_goes_down_and_up(empty_url: str) -> None:
    await asyncio.to_thread(upgrade, empty_url, BEFORE)
    assert INDEX not in await indexes(empty_url, "events")

    await asyncio.to_thread(upgrade, empty_url, MIGRATION.revision)
    index = (await indexes(empty_url, "events"))[INDEX]
    assert index["column_names"] == ["campaign_id", "link_id", "kind", "flagged", "contact_id"]
    where = {k: v for k, v in index.get("dialect_options", {}).items() if k.endswith("_where")}
    assert where and all("link_id IS NOT NULL" in str(v) for v in where.values()), where

    await asyncio.to_thread(command.downgrade, alembic_config(empty_url), BEFORE)
    assert INDEX not in await indexes(empty_url, "events")
    await asyncio.to_thread(upgrade, empty_url, MIGRATION.revision)
    assert INDEX in await indexes(empty_url, "events")


async def test_top_links_are_read_from_the_index_and_count_clicks_only(empty_url: str) -> None:
    await asyncio.to_thread(upgrade, empty_url)
    engine = engine_with_foreign_keys(empty_url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions.begin() as session:
        campaign = await make_campaign(session)
        other = await make_campaign(session)
        emails = []
        for owner in (campaign, other):
            contact = await make_contact(session, await make_prospect(session, owner))
            urls = ("https://example.com/a", "https://example.com/b")
            emails.append(await make_content(session, contact, urls=urls))
        links = {
            email.id: list(
                await session.scalars(
                    select(Link.id).where(Link.content_id == email.id).order_by(Link.position)
                )
            )
            for email in emails
        }
        mine, theirs = emails
        a, b = links[mine.id]
        await store_events(
            session,
            [
                *(OpenEvent(mine.id, source="api") for _ in range(5)),
                ClickEvent(mine.id, source="api", link_id=b),
                ClickEvent(mine.id, source="api", link_id=b),
                ClickEvent(mine.id, source="api", link_id=a),
                ClickEvent(theirs.id, source="api", link_id=links[theirs.id][0]),
            ],
        )
    async with engine.connect() as connection:
        sql, params = _named(top_links_query(campaign.id))
        plan = await query_plan(connection, sql, params)
    assert INDEX in plan, plan
    async with sessions() as session:
        top = await top_links(session, campaign.id)
    await engine.dispose()
    assert [(link["url"], link["clicks"]["human"], link["unique_clickers"]) for link in top] == [
        ("https://example.com/b", 2, 1),
        ("https://example.com/a", 1, 1),
    ]
