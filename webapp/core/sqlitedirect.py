"""SQLite's own connections, beside the engine's: how Tune sets each one up, and plain
`sqlite3` connections on threads of their own for the hot paths.

`db.Database` reads through `DirectSqlite`, tracking's event writer writes through one
(`begin_promptly`), and every connection, the engine's included, gets `sqlite_pragmas`.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

SQLITE_BUSY_TIMEOUT_MS = 30_000
T = TypeVar("T")


def sqlite_pragmas(connection: Any) -> None:
    """Set up a DB-API SQLite connection as Tune runs every one (benchmarks use it too)."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


PROMPT_RETRY_SECONDS = 0.001
"""How often `begin_promptly` asks again for the write lock."""


def begin_promptly(connection: sqlite3.Connection) -> None:
    """`BEGIN IMMEDIATE`, asked again every millisecond while another connection writes,
    for up to the busy timeout, on a connection whose own busy timeout is 0.

    SQLite's busy handler sleeps 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50 and then
    100 ms between tries, so a writer that waited through one of an import's
    batches tries again only every 50-100 ms, and an import that pauses for less
    than that between batches (`prospects.committing.WriteRest`) takes the lock
    back before it looks: tracking's writer could wait through batch after
    batch, and every pixel in its batch with it. The thread sleeps without the
    GIL between tries.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            connection.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() >= deadline:
                raise
        time.sleep(PROMPT_RETRY_SECONDS)


class DirectSqlite:
    """Plain `sqlite3` connections, each on a thread of its own, for the hot paths.

    A call is one hop to the thread however many statements it runs, and
    SQLite releases the GIL while it works, so the event loop keeps serving
    requests meanwhile. Through the async engine every statement, BEGIN and
    COMMIT is a hop of its own plus SQLAlchemy's bookkeeping, which was most
    of what the tracking endpoints cost over a health check (docs/benchmarks.md).
    With `prompt`, the connections wait for no lock themselves (busy timeout 0):
    their writes take the lock with `begin_promptly`.
    """

    def __init__(
        self, path: str, *, threads: int = 1, name: str = "tune-sqlite", prompt: bool = False
    ) -> None:
        self.path = path
        self.prompt = prompt
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name)

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work(connection)` on one of the threads; autocommit unless it BEGINs."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, work)

    def _call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(
                self.path,
                timeout=SQLITE_BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
            sqlite_pragmas(connection)
            if self.prompt:
                connection.execute("PRAGMA busy_timeout=0")
            self._local.connection = connection
            with self._lock:
                self._connections.append(connection)
        return work(connection)

    def close(self) -> None:
        self._executor.shutdown(wait=True)
        with self._lock:
            for connection in self._connections:
                connection.close()
            self._connections.clear()
