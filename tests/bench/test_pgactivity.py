"""What PostgreSQL did in a benchmark's round (bench/pgactivity.py), read from a real server:
the writes and the checkpoint a round saw are in its record and its printed line; on SQLite
there is nothing to watch."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bench import pgactivity


async def _write_and_checkpoint(url: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text("CREATE TABLE scratch (n integer)"))
            await connection.execute(
                text("INSERT INTO scratch SELECT g FROM generate_series(1, 1000) g")
            )
            await connection.execute(text("CHECKPOINT"))
    finally:
        await engine.dispose()  # the backend's counts are published as it exits


async def _drop_scratch(url: str) -> None:
    """Leave the session's schema as the migrations made it (later tests compare it with the
    models); only after the round is read, as a dropped table's counts go with it."""
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text("DROP TABLE IF EXISTS scratch"))
    finally:
        await engine.dispose()


def _one_round(url: str) -> dict[str, Any]:
    with pgactivity.watching(url) as activity:
        if activity is None:
            return {}
        try:
            activity.round_started()
            asyncio.run(_write_and_checkpoint(url))
            activity.side_done("writes")
            return pgactivity.figures(activity)
        finally:
            asyncio.run(_drop_scratch(url))


async def test_a_round_records_the_writes_and_checkpoint_it_saw(database_url: str) -> None:
    result = await asyncio.to_thread(_one_round, database_url)

    if not database_url.startswith("postgresql"):
        assert result == {}
        return
    assert result["postgres_settings"]["autovacuum"] in ("on", "off")
    (recorded,) = result["postgres_rounds"]
    assert recorded["events_rows_at_start"] == 0
    writes = recorded["sides"]["writes"]
    assert writes["tup_inserted"] >= 1000
    assert writes["checkpoints_req"] >= 1
    assert set(writes["tables"]) == set(pgactivity.TABLES)
    ((figure, line),) = pgactivity.round_rows(result)
    assert figure.startswith("PostgreSQL in round 1 (0 events rows at start")
    assert "checkpoints " in line and "pg CPU s by side: writes" in line
