"""One thread hop per SQL statement on SQLite, under SQLAlchemy's `sqlite+aiosqlite` dialect.

Why this exists: aiosqlite runs each SQLite connection on a thread of its own,
and SQLAlchemy's adapter (`sqlalchemy.connectors.asyncio.AsyncAdapt_dbapi_cursor`)
goes to that thread for every DB-API call: creating the cursor, `execute`,
`fetchall`, closing the cursor, then BEGIN (Tune's `begin` hook emits it as a
statement: four more) and the ROLLBACK or COMMIT. Each hop is a queue put, a
thread wake-up and a `call_soon_threadsafe` back to the event loop, tens of µs
of CPU: a session reading one small table made nine of them. Measured with
`python -m bench.requestcost` (docs/benchmarks.md, "One thread hop per
statement"), this was most of what a small API read cost over a bare Quart
route.

What it does instead, keeping SQLAlchemy's async API and the dialect as they are
(only the DB-API module the dialect is given changes, through `create_engine`'s
`module=`):

- a cursor is a plain object made without a hop; `execute` and `executemany`
  run the statement, and fetch all its rows when it returns any, in one call on
  the connection's thread; `fetch*` and `close` are local. Rows are always
  fetched whole, so a server-side cursor (`stream()`, `yield_per`) buffers its
  rows too; Tune uses neither on SQLite.
- a `BEGIN` or `BEGIN IMMEDIATE` run while no transaction is open is held back
  and sent in the same hop as the next statement, just before it, or with the
  COMMIT. `BEGIN IMMEDIATE` therefore still takes the write lock (waiting up to
  the busy timeout) before the first statement's work and a transaction that ran
  nothing still waits for the lock at COMMIT; a deferred `BEGIN` takes no lock
  until its first statement anyway, so one that ran nothing is simply dropped.
  If the held-back BEGIN fails, the statement does not run, raises the BEGIN's
  error, and the BEGIN stays pending: nothing ever runs outside the transaction
  SQLAlchemy believes is open.
- ROLLBACK or COMMIT when no transaction is open (the pool's reset-on-return
  after a connection that never began one, or a read whose BEGIN never ran) is
  skipped: SQLite's own `rollback()`/`commit()` are no-ops then. Whether one is
  open is read (`sqlite3.Connection.in_transaction`) after every hop, so
  statements must go through this adapter; Tune never drives the aiosqlite
  connection directly on SQLite.

Errors are sqlite3's own, raised where SQLAlchemy's adapter would raise them,
so SQLAlchemy still maps them to IntegrityError, OperationalError and so on.

What it relies on (checked by tests/core/test_sqlitedriver.py, and the versions
are bounded in pyproject.toml): aiosqlite 0.22's `Connection._execute` (queue a
call on the connection's thread and await it), `_conn`, `_connection` and
`_thread`; SQLAlchemy 2.1's `AsyncAdapt_aiosqlite_connection` and
`AsyncAdapt_aiosqlite_dbapi`, the `_cursor_cls`/`_ss_cursor_cls` hooks of its
async adapter, `sqlalchemy.util.concurrency.await_`, and `_async_soft_close`,
which its AsyncResult calls on a cursor.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util.concurrency import await_

HELD_BACK = frozenset({"BEGIN", "BEGIN IMMEDIATE"})
"""The statements Tune's `begin` hook emits (webapp/core/db.py), held back until needed."""

_Outcome = tuple[Any, list[Any], int, Any, bool]
"""description, rows, rowcount, lastrowid, and whether a transaction is open after it."""


def _statement(
    connection: sqlite3.Connection,
    begin: list[str | None],
    operation: str,
    parameters: Any,
    many: bool,
) -> _Outcome:
    """On the connection's thread: the held-back BEGIN (`begin[0]`, set to None once it
    ran), then the statement and its rows."""
    if begin[0] is not None:
        connection.execute(begin[0])
        begin[0] = None
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid, connection.in_transaction
    finally:
        cursor.close()


def _commit(connection: sqlite3.Connection, begin: str | None) -> None:
    if begin is not None:
        connection.execute(begin)
    connection.commit()


def _rollback(connection: sqlite3.Connection) -> None:
    connection.rollback()


def _set_isolation_level(connection: sqlite3.Connection, value: str | None) -> bool:
    connection.isolation_level = value  # type: ignore[assignment]  # a level SQLAlchemy names
    return connection.in_transaction


class OneHopCursor:
    """A DB-API cursor for SQLAlchemy's async adapter: one hop per `execute`, rows kept here."""

    server_side = False
    __slots__ = (
        "_adapt_connection",
        "_next",
        "_rows",
        "arraysize",
        "description",
        "lastrowid",
        "rowcount",
    )

    def __init__(self, adapt_connection: OneHopConnection) -> None:
        self._adapt_connection = adapt_connection
        self._rows: list[Any] = []
        self._next = 0
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: Any = None
        self.arraysize = 1

    def execute(self, operation: str, parameters: Any = None) -> None:
        connection = self._adapt_connection
        if (
            operation in HELD_BACK
            and not parameters
            and connection._pending is None
            and not connection._in_transaction
        ):
            connection._pending = operation
            self._keep((None, [], -1, self.lastrowid, False))
            return
        self._keep(connection._run(_statement, operation, parameters, False))

    def executemany(self, operation: str, seq_of_parameters: Sequence[Any]) -> None:
        self._keep(self._adapt_connection._run(_statement, operation, seq_of_parameters, True))

    def _keep(self, outcome: _Outcome) -> None:
        self.description, self._rows, self.rowcount, self.lastrowid, _ = outcome
        self._next = 0

    def fetchone(self) -> Any:
        if self._next < len(self._rows):
            row = self._rows[self._next]
            self._next += 1
            return row
        return None

    def fetchmany(self, size: int | None = None) -> list[Any]:
        start = self._next
        self._next = min(len(self._rows), start + (self.arraysize if size is None else size))
        return self._rows[start : self._next]

    def fetchall(self) -> list[Any]:
        rows = self._rows if self._next == 0 else self._rows[self._next :]
        self._rows, self._next = [], 0
        return rows

    def __iter__(self) -> Any:
        while (row := self.fetchone()) is not None:
            yield row

    def close(self) -> None:
        self._rows, self._next = [], 0

    async def _async_soft_close(self) -> None:
        """SQLAlchemy's AsyncResult calls this; the rows are already here, nothing to do."""

    def nextset(self) -> None:
        return None

    def setinputsizes(self, *sizes: Any) -> None:
        return None

    def setoutputsize(self, size: Any, column: Any = None) -> None:
        return None

    def __enter__(self) -> OneHopCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    """SQLAlchemy's aiosqlite connection adapter, with one-hop cursors and a held-back BEGIN."""

    __slots__ = ("_in_transaction", "_pending")
    _cursor_cls = OneHopCursor  # type: ignore[assignment]
    _ss_cursor_cls = OneHopCursor  # type: ignore[assignment]

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self._pending: str | None = None
        """The held-back BEGIN, not sent yet."""
        self._in_transaction = False
        """Whether SQLite has a transaction open, as of the last hop (True when unsure)."""

    def _run(self, function: Callable[..., _Outcome], *args: Any) -> _Outcome:
        """`function(sqlite3 connection, [held-back BEGIN], *args)` on the connection's
        thread: one hop.

        The BEGIN goes by value: if this task is cancelled while the call waits in
        aiosqlite's queue, the call still runs the BEGIN before its statement, and
        the ROLLBACK that follows the cancellation is queued behind it.
        """
        begin = [self._pending]
        self._pending = None
        self._in_transaction = True  # until the outcome says otherwise (an error keeps it)
        try:
            outcome: _Outcome = await_(
                self._connection._execute(function, self._connection._conn, begin, *args)
            )
        except Exception as error:
            if begin[0] is not None:  # the BEGIN itself failed (the call is over): still due
                self._pending = begin[0]
            self._handle_exception(error)
        self._in_transaction = outcome[4]
        return outcome

    def _hop(self, function: Callable[..., Any], *args: Any) -> Any:
        try:
            return await_(self._connection._execute(function, self._connection._conn, *args))
        except Exception as error:
            self._handle_exception(error)

    def commit(self) -> None:
        begin, self._pending = self._pending, None
        if begin == "BEGIN":
            begin = None  # a deferred BEGIN that ran nothing took no lock: nothing to commit
        if self._connection._connection is None or (begin is None and not self._in_transaction):
            return
        self._in_transaction = True  # a failed COMMIT can leave it open: ROLLBACK then
        self._hop(_commit, begin)
        self._in_transaction = False

    def rollback(self) -> None:
        self._pending = None  # never sent: nothing to undo
        if self._connection._connection is None or not self._in_transaction:
            return
        self._hop(_rollback)
        self._in_transaction = False

    @property
    def isolation_level(self) -> str | None:
        return self._connection.isolation_level

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        # On the connection's thread, as SQLAlchemy's adapter does it.
        self._in_transaction = True
        self._in_transaction = self._hop(_set_isolation_level, value)


class OneHopDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The DB-API module SQLAlchemy's aiosqlite dialect is given: aiosqlite's, with
    `connect` returning a `OneHopConnection`."""

    def connect(self, *arg: Any, **kw: Any) -> OneHopConnection:
        creator = kw.pop("async_creator_fn", None)
        connection = creator(*arg, **kw) if creator else self.aiosqlite.connect(*arg, **kw)
        if not creator:
            connection._thread.daemon = True  # as SQLAlchemy's own adapter does
        return OneHopConnection(self, await_(connection))


def dbapi() -> OneHopDBAPI:
    """The module to pass as `create_async_engine(..., module=dbapi())` for `sqlite+aiosqlite`."""
    import aiosqlite

    return OneHopDBAPI(aiosqlite, sqlite3)
