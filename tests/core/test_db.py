"""The database layer: migrations, SQLite tuning, concurrent writers."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.factories import make_campaign
from webapp.core.config import Config
from webapp.core.db import Database, PostgresReads
from webapp.core.migrate import current_revision, head_revision, modelled, upgrade
from webapp.core.models import Base, Campaign, Industry
from webapp.web.services import Services


async def test_migrations_bring_an_empty_database_to_the_models(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    await asyncio.to_thread(upgrade, url)
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        diff = await connection.run_sync(
            lambda sync: compare_metadata(
                MigrationContext.configure(sync, opts={"include_name": modelled}), Base.metadata
            )
        )
        industries = (await connection.execute(select(func.count()).select_from(Industry))).scalar()
    assert await current_revision(engine) == head_revision()
    await engine.dispose()
    assert diff == []
    assert industries == 8


async def test_migrations_match_the_models_on_this_backend(tune: Services) -> None:
    async with tune.db.engine.connect() as connection:
        diff = await connection.run_sync(
            lambda sync: compare_metadata(
                MigrationContext.configure(sync, opts={"include_name": modelled}), Base.metadata
            )
        )
    assert diff == []


async def test_sqlite_runs_in_wal_with_foreign_keys(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'wal.db'}"
    await asyncio.to_thread(upgrade, url)
    db = Database(Config(database_url=url, secret_key="x" * 32))
    async with db.read() as session:
        assert (await session.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await session.execute(text("PRAGMA foreign_keys"))).scalar() == 1
        assert (await session.execute(text("PRAGMA synchronous"))).scalar() == 1  # NORMAL
    await db.dispose()


async def test_100_concurrent_writers_all_commit_without_locking_errors(tune: Services) -> None:
    async def write(number: int) -> None:
        async with tune.db.write() as session:
            # Read first, then write: the pattern that fails with a deferred BEGIN.
            await session.scalar(select(func.count()).select_from(Campaign))
            await make_campaign(session, name=f"Concurrent {number}")

    results = await asyncio.gather(*(write(n) for n in range(100)), return_exceptions=True)
    errors = [result for result in results if isinstance(result, BaseException)]
    assert errors == []
    async with tune.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Campaign)) == 100


async def test_a_failed_write_transaction_leaves_nothing_behind(tune: Services) -> None:
    try:
        async with tune.db.write() as session:
            await make_campaign(session, name="Half written")
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    async with tune.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Campaign)) == 0


async def test_times_come_back_as_utc(tune: Services) -> None:
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
        campaign_id = campaign.id
    async with tune.db.read() as session:
        stored = await session.get(Campaign, campaign_id)
        assert stored is not None
        assert stored.created_at.tzinfo is not None
        assert abs((datetime.now(UTC) - stored.created_at).total_seconds()) < 60


async def test_plain_reads_see_the_latest_commit_and_report_a_missing_row(tune: Services) -> None:
    """`fetch_all`/`fetch_one` (a reader thread on SQLite, asyncpg on PostgreSQL)."""
    statement = "SELECT id, slug FROM industries WHERE slug = ?"
    assert await tune.db.fetch_one(statement, ("no-such-industry",)) is None
    rows = await tune.db.fetch_all("SELECT slug FROM industries ORDER BY slug", ())
    assert ("casino",) in rows
    named = "SELECT name FROM industries WHERE slug = ?"
    [original] = await tune.db.fetch_one(named, ("casino",)) or ("",)
    async with tune.db.write() as session:
        await session.execute(text("UPDATE industries SET name = 'Renamed' WHERE slug = 'casino'"))
    try:
        assert await tune.db.fetch_one(named, ("casino",)) == ("Renamed",)
    finally:
        # The industries are seed data other tests read (PostgreSQL keeps one database
        # for the session): put the name back.
        async with tune.db.write() as session:
            await session.execute(
                text("UPDATE industries SET name = :name WHERE slug = 'casino'"),
                {"name": original},
            )


async def test_statements_read_in_one_go_answer_each_in_turn(tune: Services) -> None:
    """`fetch_each` (one hop and one snapshot on SQLite, one connection on PostgreSQL): each
    statement's rows in order, the latest commit, and a failed statement leaves the reader
    usable (no transaction left open)."""
    named = "SELECT name FROM industries WHERE slug = ?"
    statements = [(named, ("casino",)), ("SELECT slug FROM industries WHERE slug = ?", ("x",))]
    [[(original,)], []] = await tune.db.fetch_each(statements)
    async with tune.db.write() as session:
        await session.execute(text("UPDATE industries SET name = 'Renamed' WHERE slug = 'casino'"))
    try:
        assert await tune.db.fetch_each_shared(tuple(statements)) == [[("Renamed",)], []]
        with pytest.raises(Exception, match="no_such_table"):
            await tune.db.fetch_each([(named, ("casino",)), ("SELECT * FROM no_such_table", ())])
        for _ in range(3):  # every reader thread or pooled connection
            assert await tune.db.fetch_each(statements) == [[("Renamed",)], []]
    finally:
        async with tune.db.write() as session:
            await session.execute(
                text("UPDATE industries SET name = :name WHERE slug = 'casino'"),
                {"name": original},
            )


async def test_statements_read_in_one_go_on_postgresql_see_one_snapshot(pg: Services) -> None:
    """A commit that lands while `fetch_each` is under way on PostgreSQL shows in none of its
    statements: they are read as one statement (one snapshot, one round trip), so a prospect's
    parts never mix two moments."""
    # Not on SQLite: its snapshot is its read transaction (the test above).
    named = "SELECT name FROM industries WHERE slug = ?"
    [[(original,)]] = await pg.db.fetch_each([(named, ("casino",))])
    statements = [
        (named, ("casino",)),
        ("SELECT pg_sleep(?)::text", (0.6,)),
        (named, ("casino",)),
    ]
    reading = asyncio.create_task(pg.db.fetch_each(statements))
    await asyncio.sleep(0.2)
    async with pg.db.write() as session:
        await session.execute(text("UPDATE industries SET name = 'Renamed' WHERE slug = 'casino'"))
    try:
        first, _, last = await reading
        assert first == last == [(original,)]
        assert await pg.db.fetch_each([(named, ("casino",))]) == [[("Renamed",)]]
    finally:
        async with pg.db.write() as session:
            await session.execute(
                text("UPDATE industries SET name = :name WHERE slug = 'casino'"),
                {"name": original},
            )


@pytest.mark.parametrize("each", [False, True])
async def test_a_postgresql_that_does_not_answer_is_a_connection_error(each: bool) -> None:
    """The API turns ConnectionError into its 503, as for the engine's own failures."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there once the socket closes
    reads = PostgresReads(f"postgresql+asyncpg://postgres@127.0.0.1:{port}/tune")
    try:
        with pytest.raises(ConnectionError):
            if each:
                await reads.fetch_each([("SELECT 1", ())])
            else:
                await reads.fetch("SELECT 1", ())
    finally:
        await reads.close()


async def test_migration_0013_rewords_the_stored_email_reason(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'reasons.db'}"
    await asyncio.to_thread(upgrade, url, "0012")
    engine = create_async_engine(url)
    old = '[{"points": 5, "label": "personal email address"}, {"points": 3, "label": "other"}]'
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO campaigns (name, industry_id, status, tracking_enabled, created_at,"
                " updated_at) VALUES ('c', 1, 'draft', 1, '2026-01-01', '2026-01-01')"
            )
        )
        await connection.execute(
            text(
                "INSERT INTO prospects (campaign_id, company_key, name, tier, score,"
                " score_reasons, profile_version, hot, created_at, updated_at)"
                " VALUES (1, 'a', 'A', 1, 8, :reasons, 1, 0, '2026-01-01', '2026-01-01')"
            ).bindparams(reasons=old)
        )
    await asyncio.to_thread(upgrade, url)
    async with engine.connect() as connection:
        stored = (await connection.execute(text("SELECT score_reasons FROM prospects"))).scalar()
    await engine.dispose()
    assert "personal email address" not in stored
    assert '"mailbox of a named person"' in stored and '"other"' in stored
