"""Migration 0025 (campaign_page_indexes): the campaign page's top links and flag reasons
are read from partial indexes of clicks and of flagged hits by campaign, on SQLite and
PostgreSQL; down and up again; what is read from them counts one campaign's clicks and
flagged hits, not its human opens or another campaign's."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import command
from sqlalchemy import select, text, update
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
from webapp.core.models import Event, Link
from webapp.tracking.events import ClickEvent, OpenEvent
from webapp.tracking.reclassify import FLAG_REASONS
from webapp.tracking.store import store_events

MIGRATION = migration_script("_campaign_page_indexes.py")
BEFORE = str(MIGRATION.down_revision)
INDEX = "ix_events_campaign_clicks"
REASONS_INDEX = "ix_events_flag_reasons"


def _named(statement: Any) -> tuple[str, dict[str, Any]]:
    """`statement` as SQL with `:name` parameters, and their values."""
    compiled = statement.compile()
    return str(compiled), dict(compiled.params)


def _where(index: dict[str, Any]) -> list[str]:
    options = index.get("dialect_options", {})
    return [
        str(value) for key, value in options.items() if key.endswith("_where") and value is not None
    ]


async def test_the_indexes_hold_clicks_and_flagged_hits_and_go_down_and_up(
    empty_url: str,
) -> None:
    both = {INDEX, REASONS_INDEX}
    await asyncio.to_thread(upgrade, empty_url, BEFORE)
    assert not both & (await indexes(empty_url, "events")).keys()

    await asyncio.to_thread(upgrade, empty_url, MIGRATION.revision)
    found = await indexes(empty_url, "events")
    clicks, reasons = found[INDEX], found[REASONS_INDEX]
    assert clicks["column_names"] == ["campaign_id", "link_id", "kind", "flagged", "contact_id"]
    assert ["link_id IS NOT NULL" in where for where in _where(clicks)] == [True]
    assert reasons["column_names"] == ["campaign_id", "kind", "flag_reason"]
    assert ["flagged" in where for where in _where(reasons)] == [True]

    await asyncio.to_thread(command.downgrade, alembic_config(empty_url), BEFORE)
    assert not both & (await indexes(empty_url, "events")).keys()
    await asyncio.to_thread(upgrade, empty_url, MIGRATION.revision)
    assert both <= (await indexes(empty_url, "events")).keys()


async def test_top_links_and_flag_reasons_are_read_from_their_indexes(empty_url: str) -> None:
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
    async with sessions.begin() as session:  # two machine opens and a bot click
        for kind, reason, count in (("open", "prefetch", 2), ("click", "scanner", 1)):
            ids = select(Event.id).where(
                Event.content_id.in_([mine.id, theirs.id]),
                Event.kind == kind,
                Event.flagged.is_(False),
            )
            chosen = list(await session.scalars(ids.order_by(Event.id).limit(count)))
            await session.execute(
                update(Event).where(Event.id.in_(chosen)).values(flagged=True, flag_reason=reason)
            )
    reasons_sql = FLAG_REASONS.replace("?", ":campaign")
    async with engine.connect() as connection:
        sql, params = _named(top_links_query(campaign.id))
        plan = await query_plan(connection, sql, params)
        reasons_plan = await query_plan(connection, reasons_sql, {"campaign": campaign.id})
        reasons = (await connection.execute(text(reasons_sql), {"campaign": campaign.id})).all()
    assert INDEX in plan, plan
    assert REASONS_INDEX in reasons_plan, reasons_plan
    assert sorted(tuple(row) for row in reasons) == [
        ("click", "scanner", 1),
        ("open", "prefetch", 2),
    ]
    async with sessions() as session:
        top = await top_links(session, campaign.id)
    await engine.dispose()
    assert [(link["url"], link["clicks"]["human"], link["unique_clickers"]) for link in top] == [
        ("https://example.com/a", 1, 1),
        ("https://example.com/b", 1, 1),
    ]
    assert sum(link["clicks"]["bot"] for link in top) == 1
