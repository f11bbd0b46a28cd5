"""The one-hop SQLite driver under SQLAlchemy (webapp/core/sqlitedriver.py): same semantics,
fewer trips to the connection's thread, and the library internals it relies on."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
import sqlalchemy
from sqlalchemy import text
from sqlalchemy.dialects.sqlite import aiosqlite as sa_aiosqlite
from sqlalchemy.exc import IntegrityError, OperationalError

from webapp.core import sqlitedirect
from webapp.core.config import Config
from webapp.core.db import WRITE_OPTION, Database
from webapp.core.sqlitedriver import OneHopConnection, OneHopCursor, OneHopDBAPI


async def items_database(path: Path) -> Database:
    """Tune's `Database` on a new SQLite file at `path`, holding one table, `items`."""
    database = Database(Config(database_url=f"sqlite+aiosqlite:///{path}", secret_key="x" * 32))
    async with database.write() as session:
        await session.execute(
            text("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT UNIQUE, n INTEGER)")
        )
    return database


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await items_database(tmp_path / "hop.db")
    yield database
    await database.dispose()


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Every call queued to an aiosqlite connection's thread, as it happens."""
    calls: list[Any] = []
    queue_call = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(fn)
        return await queue_call(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    yield calls


def other_connection(db: Database) -> sqlite3.Connection:
    assert db.sqlite_path is not None
    return sqlite3.connect(db.sqlite_path, timeout=0.05, isolation_level=None)


def test_the_library_internals_it_relies_on_are_there() -> None:
    # If one of these fails, a SQLAlchemy or aiosqlite upgrade changed what
    # webapp/core/sqlitedriver.py builds on: read its docstring before bumping.
    for name in ("_execute", "_conn", "stop", "create_function", "close"):
        assert hasattr(aiosqlite.Connection, name), name
    connection = aiosqlite.connect(":memory:")
    assert {"_connection", "_thread", "_tx"} <= set(vars(connection)), vars(connection)
    assert sqlalchemy.__version__.startswith("2.1."), sqlalchemy.__version__
    assert aiosqlite.__version__.startswith("0.22."), aiosqlite.__version__
    adapter = sa_aiosqlite.AsyncAdapt_aiosqlite_connection
    assert hasattr(adapter, "_cursor_cls") and hasattr(adapter, "_ss_cursor_cls")
    assert issubclass(OneHopConnection, adapter)
    assert issubclass(OneHopDBAPI, sa_aiosqlite.AsyncAdapt_aiosqlite_dbapi)
    assert hasattr(sa_aiosqlite.AsyncAdapt_aiosqlite_cursor, "_async_soft_close")


async def test_the_engine_uses_it_and_a_session_makes_two_hops(
    db: Database, hops: list[Any]
) -> None:
    assert isinstance(db.engine.dialect.dbapi, OneHopDBAPI)
    async with db.engine.connect() as connection:
        raw = await connection.get_raw_connection()
        assert isinstance(raw.dbapi_connection, OneHopConnection)
    hops.clear()
    async with db.read() as session:
        rows = (await session.execute(text("SELECT 1, 2"))).all()
    assert rows == [(1, 2)]
    assert len(hops) == 2, hops  # BEGIN with the SELECT, then ROLLBACK
    hops.clear()
    async with db.write() as session:
        await session.execute(text("INSERT INTO items (name, n) VALUES ('a', 1)"))
        await session.execute(text("UPDATE items SET n = 2"))
    assert len(hops) == 3, hops  # BEGIN IMMEDIATE with the INSERT, the UPDATE, COMMIT
    hops.clear()
    async with db.read() as session:
        pass
    async with db.engine.connect():
        pass
    assert hops == []  # nothing begun: no BEGIN, no ROLLBACK, no reset on return


async def test_rollback_discards_the_work(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.write() as session:
            await session.execute(text("INSERT INTO items (name, n) VALUES ('gone', 1)"))
            raise RuntimeError("changed my mind")
    async with db.read() as session:
        assert (await session.execute(text("SELECT count(*) FROM items"))).scalar() == 0
    with other_connection(db) as other:
        assert other.execute("SELECT count(*) FROM items").fetchone() == (0,)


async def test_begin_immediate_takes_the_write_lock_before_the_first_statement(
    db: Database,
) -> None:
    other = other_connection(db)
    try:
        async with db.write() as session:
            await session.execute(text("SELECT count(*) FROM items"))  # a read, first
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        async with db.read() as session:
            await session.execute(text("SELECT count(*) FROM items"))
            other.execute("BEGIN IMMEDIATE")  # a read takes no write lock
            other.execute("ROLLBACK")
    finally:
        other.close()


async def test_two_writers_are_serialised(db: Database) -> None:
    async with db.write() as session:
        await session.execute(text("INSERT INTO items (name, n) VALUES ('counter', 0)"))

    async def bump() -> None:
        async with db.write() as session:
            n = (await session.execute(text("SELECT n FROM items WHERE name = 'counter'"))).scalar()
            await asyncio.sleep(0.05)  # the other writer runs meanwhile
            await session.execute(
                text("UPDATE items SET n = :n WHERE name = 'counter'"), {"n": n + 1}
            )

    await asyncio.gather(bump(), bump(), bump())
    async with db.read() as session:
        assert (await session.execute(text("SELECT n FROM items"))).scalar() == 3


async def test_a_violated_constraint_is_sqlalchemys_integrity_error(db: Database) -> None:
    async with db.write() as session:
        await session.execute(text("INSERT INTO items (name, n) VALUES ('dup', 1)"))
    with pytest.raises(IntegrityError) as caught:
        async with db.write() as session:
            await session.execute(text("INSERT INTO items (name, n) VALUES ('dup', 2)"))
    assert isinstance(caught.value.orig, sqlite3.IntegrityError)
    async with db.read() as session:  # the connection is fine afterwards
        assert (await session.execute(text("SELECT n FROM items"))).all() == [(1,)]


async def test_a_busy_database_still_times_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlitedirect, "SQLITE_BUSY_TIMEOUT_MS", 300)
    database = await items_database(tmp_path / "busy.db")
    other = other_connection(database)
    try:
        other.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        with pytest.raises(OperationalError, match="locked"):
            async with database.write() as session:
                await session.execute(text("INSERT INTO items DEFAULT VALUES"))
        waited = time.monotonic() - started
        assert 0.25 < waited < 5, waited
        with pytest.raises(OperationalError, match="locked"):
            async with database.engine.execution_options(**{WRITE_OPTION: True}).begin():
                pass  # BEGIN IMMEDIATE and nothing else: COMMIT still takes the lock first
        other.execute("ROLLBACK")
        async with database.write() as session:  # the same pooled connection, usable again
            await session.execute(text("INSERT INTO items DEFAULT VALUES"))
        async with database.read() as session:
            assert (await session.execute(text("SELECT count(*) FROM items"))).scalar() == 1
    finally:
        other.close()
        await database.dispose()


async def test_a_begin_that_failed_is_sent_again_before_the_next_statement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlitedirect, "SQLITE_BUSY_TIMEOUT_MS", 100)
    database = await items_database(tmp_path / "again.db")
    other = other_connection(database)
    try:
        async with database.engine.execution_options(**{WRITE_OPTION: True}).connect() as conn:
            await conn.begin()
            other.execute("BEGIN IMMEDIATE")
            with pytest.raises(OperationalError, match="locked"):
                await conn.exec_driver_sql("INSERT INTO items DEFAULT VALUES")
            other.execute("ROLLBACK")
            # Still inside the transaction SQLAlchemy began: the INSERT is undone below.
            await conn.exec_driver_sql("INSERT INTO items DEFAULT VALUES")
            await conn.rollback()
        async with database.read() as session:
            assert (await session.execute(text("SELECT count(*) FROM items"))).scalar() == 0
    finally:
        other.close()
        await database.dispose()


async def test_rows_rowcount_and_lastrowid(db: Database) -> None:
    async with db.engine.begin() as connection:
        inserted = await connection.exec_driver_sql(
            "INSERT INTO items (name, n) VALUES (?, ?)", ("x", 5)
        )
        assert inserted.lastrowid == 1
        await connection.exec_driver_sql("INSERT INTO items (name, n) VALUES ('y', 5)")
        await connection.exec_driver_sql("INSERT INTO items (name, n) VALUES ('z', 6)")
        updated = await connection.exec_driver_sql("UPDATE items SET n = n + 1 WHERE n = 5")
        assert updated.rowcount == 2
        result = await connection.exec_driver_sql("SELECT name, n FROM items ORDER BY id")
        assert result.fetchone() == ("x", 6)
        assert result.fetchmany(1) == [("y", 6)]
        assert result.fetchall() == [("z", 6)]
        streamed = await connection.stream(text("SELECT id FROM items ORDER BY id"))
        assert [row[0] async for row in streamed] == [1, 2, 3]
        empty = await connection.exec_driver_sql("SELECT id FROM items WHERE n > 100")
        assert empty.all() == []


async def test_executemany(db: Database) -> None:
    async with db.write() as session:
        connection = await session.connection()
        many = await connection.exec_driver_sql(
            "INSERT INTO items (name, n) VALUES (?, ?)", [(f"r{i}", i) for i in range(50)]
        )
        assert many.rowcount == 50
        await session.execute(
            text("UPDATE items SET n = :n WHERE name = :name"),
            [{"n": 100, "name": "r1"}, {"n": 200, "name": "r2"}],
        )
    async with db.read() as session:
        assert (await session.execute(text("SELECT count(*), sum(n) FROM items"))).one() == (
            50,
            sum(range(50)) - 1 - 2 + 300,
        )


async def test_a_failure_mid_batch_leaves_nothing_written(db: Database) -> None:
    rows = [("a", 1), ("b", 2), ("a", 3), ("c", 4)]  # the third repeats a unique name
    with pytest.raises(IntegrityError):
        async with db.write() as session:
            await session.execute(text("INSERT INTO items (name, n) VALUES ('before', 0)"))
            connection = await session.connection()
            await connection.exec_driver_sql("INSERT INTO items (name, n) VALUES (?, ?)", rows)
    async with db.read() as session:
        assert (await session.execute(text("SELECT count(*) FROM items"))).scalar() == 0


def test_a_cursor_hands_its_rows_out_once() -> None:
    cursor = OneHopCursor.__new__(OneHopCursor)
    cursor._keep((("a",), [(1,), (2,), (3,)], -1, None, True))
    cursor.arraysize = 2
    assert cursor.fetchmany() == [(1,), (2,)]
    assert cursor.fetchall() == [(3,)]
    assert cursor.fetchone() is None
    assert cursor.fetchall() == []
