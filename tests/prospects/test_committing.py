"""The pause after each import batch (`WriteRest`), on a real database: on SQLite it is short
while nobody else writes and turns polite once another connection commits; PostgreSQL has no
database-wide write lock and no pause."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from tests.support.factories import make_campaign
from webapp.prospects import committing
from webapp.prospects.committing import QUIET_REST, WRITE_REST, WriteRest
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
