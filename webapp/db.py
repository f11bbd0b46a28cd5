"""The database engine and sessions, for SQLite (embedded default) and PostgreSQL.

SQLite runs in WAL mode with `synchronous=NORMAL`, a busy timeout and foreign
keys on. Write transactions start with `BEGIN IMMEDIATE`: a deferred BEGIN that
later tries to write fails at once with "database is locked" when another
writer got there first, whatever the busy timeout. Reads keep a deferred BEGIN
so they never wait for a writer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from .config import Config
from .poolstats import TimedQueuePool

SQLITE_BUSY_TIMEOUT_MS = 30_000
WRITE_OPTION = "tune_write"


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
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
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
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def on_begin(connection: Any) -> None:
        if connection.get_execution_options().get(WRITE_OPTION):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")


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

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for queries; nothing it does is committed."""
        async with self._reader() as session:
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session in one write transaction, committed on success, rolled back on error."""
        async with self._writer() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()


def redacted_url(url: str | URL) -> str:
    """The URL with its password hidden, for logs."""
    return make_url(url).render_as_string(hide_password=True)
