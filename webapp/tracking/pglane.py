"""The event writer's PostgreSQL lane: one asyncpg connection of its own, no session.

Through an SQLAlchemy async session each batch cost the event loop about
1 ms of Python (session, transaction, the DB-API adapter's per-statement
work) on top of its events. Here the writer holds a plain asyncpg
connection: asyncpg prepares each statement once per connection and sends
`executemany` rows in one round trip, so the loop's share is mostly the
planning of the batch itself. The same `write_events` plans the batch as on
SQLite; its statements are run through SQLAlchemy's greenlet bridge
(`greenlet_spawn` / `await_only`), the way SQLAlchemy runs its own async
drivers.

A connection that breaks (PostgreSQL restarted, network gone) is dropped and
opened again for the next batch; the failed batch is reported to its waiters
like any other failure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.util import await_only, greenlet_spawn

from webapp.tracking.store import Statements

T = TypeVar("T")


def asyncpg_dsn(database_url: str) -> str:
    """The libpq-style DSN asyncpg takes, from Tune's `postgresql+asyncpg://` URL."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


class PostgresLane:
    """Runs the writer's transactions on a dedicated asyncpg connection."""

    def __init__(self, database_url: str) -> None:
        self.dsn = asyncpg_dsn(database_url)
        self._connection: asyncpg.Connection | None = None

    async def run(self, work: Callable[[Statements], T]) -> T:
        """`work(statements)` inside one transaction, committed when it returns."""
        connection = await self._connect()
        try:
            async with connection.transaction():
                return await greenlet_spawn(work, AsyncpgStatements(connection))
        except BaseException as exc:
            if connection.is_closed() or not isinstance(exc, asyncpg.PostgresError):
                await self.close()  # a fresh connection for the next batch
            raise

    async def _connect(self) -> asyncpg.Connection:
        if self._connection is None or self._connection.is_closed():
            self._connection = await asyncpg.connect(
                self.dsn,
                timeout=10,
                server_settings={"application_name": "tune-event-writer"},
            )
        return self._connection

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            connection.terminate()


class AsyncpgStatements(Statements):
    """`Statements` over a raw asyncpg connection, called from inside `greenlet_spawn`."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection = connection
        self.sqlite = False

    def fetch(self, statement: str, params: Sequence[Any]) -> list[Any]:
        return list(await_only(self.connection.fetch(self.sql(statement), *params)))

    def execute(self, statement: str, params: Sequence[Any]) -> int:
        status: str = await_only(self.connection.execute(self.sql(statement), *params))
        return int(status.rsplit(" ", 1)[-1])

    def many(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            await_only(self.connection.executemany(self.sql(statement), rows))
