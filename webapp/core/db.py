"""The database engine and sessions, for SQLite (embedded default) and PostgreSQL.

SQLite runs in WAL mode with `synchronous=NORMAL`, a busy timeout and foreign
keys on. Write transactions start with `BEGIN IMMEDIATE`: a deferred BEGIN that
later tries to write fails at once with "database is locked" when another
writer got there first, whatever the busy timeout. Reads keep a deferred BEGIN
so they never wait for a writer.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from webapp.core import sqlitedirect, sqlitedriver
from webapp.core.config import Config
from webapp.core.errors import UNAVAILABLE_SQLSTATES
from webapp.core.poolstats import TimedQueuePool
from webapp.core.shared import SharedReads
from webapp.core.sqlitedirect import DirectSqlite, sqlite_pragmas

MIN_FREE_BYTES = 1024 * 1024
"""Less free space than this beside the SQLite file, and writes are about to fail."""
Statements = tuple[tuple[str, tuple[Any, ...]], ...]
"""Statements (`?` placeholders) with their parameters, read in one go."""
WRITE_OPTION = "tune_write"
AFTER_WRITE = "tune_after_write"
"""`session.info` key of a `Database.write` session: async callables awaited with
whether the transaction committed, before `write` returns (see `Database.write`)."""
READ_TIMEOUT_SECONDS = 10.0
"""How long a plain-SQL read on PostgreSQL may take, connecting included."""


def create_engine(config: Config) -> AsyncEngine:
    """Build the engine with pool settings from the config and SQLite tuning."""
    url = make_url(config.database_url)
    is_sqlite = url.get_backend_name() == "sqlite"
    kwargs: dict[str, Any] = {
        "poolclass": TimedQueuePool,
        # A server can drop connections (restart, failover); a local SQLite file cannot,
        # and a ping there would only cost a round trip per checkout.
        "pool_pre_ping": not is_sqlite,
        "pool_size": config.db_pool_size,
        "max_overflow": config.db_max_overflow,
        "pool_timeout": config.db_pool_timeout,
        "pool_recycle": config.db_pool_recycle,
    }
    if is_sqlite:
        kwargs["connect_args"] = {"timeout": sqlitedirect.SQLITE_BUSY_TIMEOUT_MS / 1000}
        # aiosqlite under SQLAlchemy's dialect, one thread hop per statement (sqlitedriver).
        kwargs["module"] = sqlitedriver.dbapi()
    else:
        kwargs["connect_args"] = {"server_settings": {"application_name": "tune"}}
    engine = create_async_engine(url, **kwargs)
    if is_sqlite:
        _tune_sqlite(engine)
    return engine


def _tune_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        # Let SQLAlchemy's "begin" hook below emit BEGIN itself.
        dbapi_connection.isolation_level = None
        sqlite_pragmas(dbapi_connection)

    @event.listens_for(sync_engine, "begin")
    def on_begin(connection: Any) -> None:
        if connection.get_execution_options().get(WRITE_OPTION):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")


class PostgresReads:
    """A small asyncpg pool for the hot plain-SQL reads (API keys, links, counters).

    Through the engine, a one-row read costs a pool checkout, SQLAlchemy's
    connection and result wrappers and (with pre-ping) an extra round trip; here
    it is one prepared statement on a pooled asyncpg connection. A connection
    goes back to the pool as it is: asyncpg's default reset (`RESET ALL`,
    `UNLISTEN *`, ... in a round trip of its own at every release) doubled the
    round trips of a read, and these connections never change session state.
    """

    def __init__(self, database_url: str, size: int = 4) -> None:
        self.dsn = make_url(database_url).set(drivername="postgresql")
        self.size = size
        self._pool: Any = None
        self._opening: asyncio.Lock | None = None

    async def fetch(self, statement: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        import asyncpg

        try:
            pool = self._pool or await self._open()
            rows = await pool.fetch(statement, *params, timeout=READ_TIMEOUT_SECONDS)
        except Exception as exc:
            _raise_unavailable(exc, asyncpg)
            raise
        return [tuple(row) for row in rows]

    async def fetch_each(
        self, statements: list[tuple[str, tuple[Any, ...]]]
    ) -> list[list[tuple[Any, ...]]]:
        """The rows of each statement (`?` placeholders) in turn, in one statement: one
        round trip and one snapshot (`together`)."""
        import asyncpg

        statement, params = together(statements)
        try:
            pool = self._pool or await self._open()
            parts = await pool.fetchrow(statement, *params, timeout=READ_TIMEOUT_SECONDS)
        except Exception as exc:
            _raise_unavailable(exc, asyncpg)
            raise
        return list(parts)

    async def _open(self) -> Any:
        import asyncpg

        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    self.dsn.render_as_string(hide_password=False),
                    min_size=1,
                    max_size=self.size,
                    timeout=READ_TIMEOUT_SECONDS,
                    server_settings={"application_name": "tune-reads"},
                    reset=_kept_as_is,
                )
        return self._pool

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.terminate()


def _raise_unavailable(exc: Exception, asyncpg: Any) -> None:
    """`ConnectionError` (a 503) for a PostgreSQL that is down, restarting or overloaded."""
    if isinstance(
        exc,
        asyncpg.InterfaceError
        | asyncpg.PostgresConnectionError
        | asyncpg.CannotConnectNowError
        | OSError
        | TimeoutError,
    ):
        raise ConnectionError(f"PostgreSQL is not available ({type(exc).__name__})") from exc
    # The same classes the engine's errors answer 503 for: going away, out of
    # connections or memory, a statement or lock timeout.
    sqlstate = str(getattr(exc, "sqlstate", "") or "")
    if isinstance(exc, asyncpg.PostgresError) and sqlstate.startswith(UNAVAILABLE_SQLSTATES):
        raise ConnectionError(f"PostgreSQL is not available ({sqlstate})") from exc


async def _kept_as_is(connection: Any) -> None:
    """No reset on release: plain reads leave no session state behind."""


def _snapshot(
    connection: sqlite3.Connection, statements: list[tuple[str, tuple[Any, ...]]]
) -> list[list[tuple[Any, ...]]]:
    """Each statement's rows, all from one read transaction (one WAL snapshot)."""
    connection.execute("BEGIN")
    try:
        return [
            connection.execute(statement, params).fetchall() for statement, params in statements
        ]
    finally:
        connection.execute("COMMIT")


def together(statements: list[tuple[str, tuple[Any, ...]]]) -> tuple[str, tuple[Any, ...]]:
    """Statements (`?` placeholders) as one PostgreSQL statement whose one row holds each
    statement's rows, as an array of anonymous records (asyncpg gives each as a tuple of
    the values the statement alone would give).

    Sent apart, each statement cost a round trip and asyncpg's bookkeeping, and each
    saw the latest commit of its own moment; as one statement the read is one round
    trip and one snapshot. Each statement's rows keep its ORDER BY: the statement is
    the sole source of its array's subquery, and PostgreSQL reads a sorted subquery
    that nothing joins, groups or sorts again in its order (as aggregates fed by a
    sorted subquery rely on; `tests/prospects/test_detail.py` checks the orders). A
    statement must be one SELECT with no trailing `;` or comment.
    """
    params = tuple(param for _, each in statements for param in each)
    return _joined(tuple(statement for statement, _ in statements)), params


@functools.lru_cache(maxsize=64)
def _joined(statements: tuple[str, ...]) -> str:
    parts = ", ".join(
        f"ARRAY(SELECT q FROM ({statement}) AS q)"  # noqa: S608 (the app's own statements)
        for statement in statements
    )
    return numbered(f"SELECT {parts}")


@functools.lru_cache(maxsize=256)
def numbered(statement: str) -> str:
    """A statement written with `?` placeholders, in PostgreSQL's `$1, $2, ...` style."""
    numbers = iter(range(1, statement.count("?") + 1))
    return re.sub(r"\?", lambda _: f"${next(numbers)}", statement)


def read_time(value: Any) -> datetime | None:
    """A UTC time read by plain SQL: SQLite gives naive text, PostgreSQL a datetime."""
    if value is None:
        return None
    if isinstance(value, str):
        if len(value) > 10 and value[-6] not in "+-" and value[-1] != "Z":
            # Naive UTC text, as Tune writes it: parsed as UTC in one call (the
            # writer reads several per event; `replace` doubled the cost).
            return datetime.fromisoformat(value + "+00:00")
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value if value.tzinfo is UTC else value.astimezone(UTC)


def sqlite_file(url: str | URL) -> str | None:
    """The database file of a SQLite URL, or None (PostgreSQL, or an in-memory database)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return parsed.database


class Database:
    """The engine plus two session factories: reads, and writes (BEGIN IMMEDIATE)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.engine = create_engine(config)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._reader = async_sessionmaker(self.engine, expire_on_commit=False)
        self._writer = async_sessionmaker(
            self.engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False
        )
        self.sqlite_path = sqlite_file(config.database_url)
        """The SQLite file, or None: PostgreSQL, or an in-memory database."""
        self._direct = (
            DirectSqlite(self.sqlite_path, threads=2, name="tune-sqlite-read")
            if self.sqlite_path
            else None
        )
        self._pg_reads: PostgresReads | None = None
        self._shared: SharedReads[tuple[str, tuple[Any, ...]], list[tuple[Any, ...]]] = SharedReads(
            lambda query: self.fetch_all(*query)
        )
        self._shared_each: SharedReads[Statements, list[list[tuple[Any, ...]]]] = SharedReads(
            lambda statements: self.fetch_each(list(statements))
        )

    async def fetch_one(self, statement: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        """The first row of a small indexed query (`?` placeholders), by the cheapest path."""
        rows = await self.fetch_all(statement, params)
        return rows[0] if rows else None

    async def fetch_all(self, statement: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """The rows of a small indexed query (`?` placeholders), by the cheapest path.

        On SQLite that is a plain connection on a reader thread: one hop, no
        session. On PostgreSQL it is a small asyncpg pool of its own, where each
        statement is prepared once per connection: no session, no SQLAlchemy
        connection, one round trip. Each call reads the latest commit, from any
        process. A PostgreSQL that is down or restarting raises `ConnectionError`
        (a 503 for the API, like the engine's own failures).
        """
        if self._direct is not None:
            return await self._direct.run(
                lambda connection: connection.execute(statement, params).fetchall()
            )
        return await self._reads().fetch(numbered(statement), params)

    async def fetch_each(
        self, statements: list[tuple[str, tuple[Any, ...]]]
    ) -> list[list[tuple[Any, ...]]]:
        """The rows of each small indexed query (`?` placeholders) in turn, as `fetch_all`
        reads them but in one go and one snapshot: on SQLite one hop to a reader thread
        (one read transaction), on PostgreSQL one statement holding them all (`together`:
        one round trip)."""
        if self._direct is not None:
            return await self._direct.run(lambda connection: _snapshot(connection, statements))
        return await self._reads().fetch_each(statements)

    async def fetch_each_shared(self, statements: Statements) -> list[list[tuple[Any, ...]]]:
        """`fetch_each`, one go for the identical reads waiting at once (`SharedReads`), as
        `fetch_all_shared`. The rows are shared: never change them."""
        return await self._shared_each(statements)

    async def fetch_all_shared(
        self, statement: str, params: tuple[Any, ...]
    ) -> list[tuple[Any, ...]]:
        """`fetch_all`, one query for the identical reads waiting at once (`SharedReads`):
        for the reads API clients poll from many connections. The rows are shared:
        never change them."""
        return await self._shared((statement, params))

    def _reads(self) -> PostgresReads:
        if self._pg_reads is None:
            self._pg_reads = PostgresReads(self.config.database_url)
        return self._pg_reads

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for queries; nothing it does is committed."""
        async with self._reader() as session:
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session in one write transaction, committed on success, rolled back on error.

        Work that must finish before the writer goes on (a revocation waiting until
        every process heard of it) adds itself to `session.info[AFTER_WRITE]`.
        """
        async with self._writer() as session:
            after: list[Callable[[bool], Awaitable[None]]] = []
            session.info[AFTER_WRITE] = after
            committed = False
            try:
                async with session.begin():
                    yield session
                committed = True
            finally:
                for hook in after:
                    await hook(committed)

    async def write_problem(self) -> str | None:
        """Why a write would fail right now, or None; cheap, and it leaves nothing behind.

        SQLite: a full disk fails every commit while reads still work, so the free
        space beside the file is checked, then a write lock is taken and an update
        rolled back (a read-only file or folder fails there). PostgreSQL: a row lock
        in a transaction that is rolled back (a read-only standby or a read-only
        default fails there). A write lock held by another writer counts as writable.
        """
        if self.sqlite_path:
            return await asyncio.to_thread(_sqlite_write_problem, self.sqlite_path)
        from sqlalchemy.exc import DBAPIError

        try:
            async with self.engine.connect() as connection:
                await connection.exec_driver_sql("SET LOCAL lock_timeout = '1s'")
                await connection.exec_driver_sql(
                    "SELECT version_num FROM alembic_version FOR UPDATE"
                )
                await connection.rollback()
        except DBAPIError as exc:
            if "lock timeout" in str(exc.orig):
                return None
            return f"cannot write ({str(exc.orig).splitlines()[0]})"
        return None

    async def dispose(self) -> None:
        if self._direct is not None:
            await asyncio.to_thread(self._direct.close)
        if self._pg_reads is not None:
            await self._pg_reads.close()
        await self.engine.dispose()


def _sqlite_write_problem(path: str) -> str | None:
    free = _free_bytes(os.path.dirname(os.path.abspath(path)))
    if free < MIN_FREE_BYTES:
        return f"cannot write (disk full: {free // 1024} KiB free)"
    uri = Path(path).resolve().as_uri() + "?mode=rw"
    try:
        connection = sqlite3.connect(uri, uri=True, timeout=1.0, isolation_level=None)
    except sqlite3.Error as exc:
        return f"cannot write ({exc})"
    try:
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.execute("UPDATE alembic_version SET version_num = version_num")
        finally:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc):
            return None
        return f"cannot write ({exc})"
    finally:
        connection.close()
    return None


def _free_bytes(folder: str) -> int:
    """Bytes this process may still write there (root may use the reserved blocks)."""
    stats = os.statvfs(folder)
    blocks = stats.f_bfree if os.geteuid() == 0 else stats.f_bavail
    return blocks * stats.f_frsize


def redacted_url(url: str | URL) -> str:
    """The URL with its password hidden, for logs."""
    return make_url(url).render_as_string(hide_password=True)
