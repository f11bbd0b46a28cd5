"""The pause after each import batch (`WriteRest`), on a real database: on SQLite it is short
while nobody else writes and turns polite once another connection commits; PostgreSQL has no
database-wide write lock and no pause. On PostgreSQL the planner's statistics of what the
batches look up follow the import."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from tests.support.factories import make_campaign
from webapp.prospects import committing
from webapp.prospects.committing import QUIET_REST, STATISTICS_FROM, WRITE_REST, WriteRest
from webapp.prospects.importer import import_prospects
from webapp.prospects.rows.fields import rows_from_json
from webapp.web.services import Services


async def _batch(tune: Services, rest: WriteRest) -> None:
    async with tune.db.write() as session:
        await rest.observe(session)
        await session.execute(text("UPDATE campaigns SET name = name"))


async def test_the_pause_is_short_alone_and_polite_once_another_connection_writes(
    tune: Services,
) -> None:
    async with tune.db.write() as session:
        await make_campaign(session)
    rest = WriteRest(tune.db.is_sqlite)
    if not tune.db.is_sqlite:
        await _batch(tune, rest)
        assert rest.seconds(0.1) == 0.0
        return
    await _batch(tune, rest)
    assert rest.seconds(0.1) == QUIET_REST * 0.1
    await _batch(tune, rest)
    await _batch(tune, rest)
    assert rest.seconds(0.1) == QUIET_REST * 0.1  # only this import wrote
    # Another connection (tracking's writer is a plain sqlite3 connection) commits.
    await tune.db._direct.run(  # type: ignore[union-attr]
        lambda connection: connection.execute("UPDATE campaigns SET name = name || '.'")
    )
    await _batch(tune, rest)
    assert rest.seconds(0.1) == WRITE_REST * 0.1
    await _batch(tune, rest)
    assert rest.seconds(0.1) == WRITE_REST * 0.1  # polite for POLITE_SECONDS after it


async def test_politeness_wears_off_after_its_seconds(
    tune: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not tune.db.is_sqlite:
        return
    async with tune.db.write() as session:
        await make_campaign(session)
    monkeypatch.setattr(committing, "POLITE_SECONDS", 0.05)
    rest = WriteRest(True)
    await _batch(tune, rest)
    await tune.db._direct.run(  # type: ignore[union-attr]
        lambda connection: connection.execute("UPDATE campaigns SET name = name || '.'")
    )
    await _batch(tune, rest)
    assert rest.seconds(1.0) == WRITE_REST
    time.sleep(0.06)
    await _batch(tune, rest)
    assert rest.seconds(1.0) == QUIET_REST


async def test_an_import_refreshes_the_statistics_of_the_columns_it_looks_up(
    tune: Services,
) -> None:
    if tune.db.is_sqlite:
        return
    async with tune.db.write() as session:
        campaign_id = (await make_campaign(session)).id
    rows = STATISTICS_FROM + 10
    items = [
        {"company": f"Casino {n}", "email": f"p{n}@casino{n}.example", "title": "CEO"}
        for n in range(rows)
    ]
    await import_prospects(tune.db, campaign_id, rows_from_json(items))
    async with tune.db.read() as session:
        sizes = dict(
            (
                await session.execute(
                    text(
                        "SELECT relname, reltuples FROM pg_class"
                        " WHERE relname IN ('prospects', 'contacts')"
                    )
                )
            ).all()
        )
        analysed = set(
            (
                await session.execute(
                    text(
                        "SELECT tablename || '.' || attname FROM pg_stats"
                        " WHERE tablename IN ('prospects', 'contacts')"
                    )
                )
            ).scalars()
        )
    # The table's size is what the planner needed: at least the first 1,000 rows.
    assert sizes["prospects"] >= STATISTICS_FROM and sizes["contacts"] >= STATISTICS_FROM
    assert {"prospects.company_key", "contacts.email", "contacts.prospect_id"} <= analysed
