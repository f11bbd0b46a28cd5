"""API key revocations on PostgreSQL: every process hears of one before the revoking call returns.

Workers serving one PostgreSQL database may run on several machines, so the
file counter that tells SQLite's workers of a revocation cannot reach them.
Here each process keeps one connection that LISTENs on `CHANNEL`
(`RevocationListener`), and a revocation sends a NOTIFY from its own
transaction, so it goes out exactly when the revocation commits. A trigger on
`api_keys` (migration 0016) sends one too for a key revoked or deleted by hand
in SQL; nothing waits for those to be heard.

A process trusts its cached keys (`webapp.accounts.apikeys.KeyCache`) only
while its listener is known to be live:

- On each notification it drops them (a new `generation`), then answers with
  an acknowledgement on `ACK_CHANNEL` carrying the revocation's token.
- A round trip on the listener connection every `HEARTBEAT_SECONDS` renews a
  lease of `LEASE_SECONDS` counted from the moment the round trip was sent.
  PostgreSQL sends the notifications of every transaction committed before
  the round trip ahead of its answer, and the driver runs their callbacks
  first, so a renewed lease never covers a revocation the process missed.
- A lost or stalled connection ends the lease (the cache is not trusted and
  every request reads its key, as without a cache) until it is back.

The revoking side (`Acknowledgements`) listens on `ACK_CHANNEL` before it
commits and, after the commit, waits until every listener connected to the
database has acknowledged, or until the lease of a silent one has certainly
run out (`LEASE_SECONDS + MARGIN_SECONDS`): either way, once the revoking call
returns, no process anywhere accepts the key from its cache.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

from sqlalchemy.engine import make_url

from webapp.core.logs import get_logger

log = get_logger(__name__)

CHANNEL = "tune_api_key_revoked"
ACK_CHANNEL = "tune_api_key_revoked_ack"
REVOCATION_SETTING = "tune.revocation"
"""The revoking transaction's token, which the trigger on api_keys notifies with."""
LISTENER_NAME = "tune-key-listener"
"""The listener connections' application_name: how the revoking side finds them."""
REVOKER_NAME = "tune-revocation"
"""The revoking side's own connection, waiting for the listeners' acknowledgements."""
HEARTBEAT_SECONDS = 1.0
LEASE_SECONDS = 3.0
MARGIN_SECONDS = 1.0
RETRY_SECONDS = 1.0
TIMEOUT = LEASE_SECONDS - HEARTBEAT_SECONDS
HEARTBEAT = (
    "SELECT pg_backend_pid(), $3::text IN (SELECT pg_listening_channels()),"
    " (SELECT count(pg_notify($1, token)) FROM unnest($2::text[]) AS token)"
)
"""One round trip: the acknowledgements owed, and whether this session still listens."""


class NotListening(Exception):
    """The listener connection does not reach a server session that hears revocations."""


def _dsn(database_url: str) -> str:
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


class RevocationListener:
    """One process's LISTEN connection, and whether its key cache may be trusted now."""

    def __init__(self, database_url: str) -> None:
        self.dsn = _dsn(database_url)
        self.generation = 0
        """Bumped at every revocation heard and every lost connection."""
        self.trusted_until = 0.0
        """`time.monotonic()` until which nothing can have been missed (0: not listening)."""
        self._pending: list[str] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._connection: Any = None

    def current(self) -> int | None:
        """The generation to cache keys under, or None while the cache must not be used."""
        if time.monotonic() < self.trusted_until:
            return self.generation
        return None

    async def live(self, seconds: float = 10.0) -> bool:
        """Wait until the cache may be trusted (the listener is live), at most `seconds`."""
        deadline = time.monotonic() + seconds
        while self.current() is None:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="tune-key-listener")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._lose()
        await self._close()

    def _lose(self, *_: Any) -> None:
        self.trusted_until = 0.0
        self.generation += 1

    def _heard(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        # Synchronous, before anything else reads the cache: drop it, then acknowledge.
        self.generation += 1
        self._pending.append(payload)
        self._wake.set()

    async def _run(self) -> None:
        import asyncpg

        warned = False
        while True:
            try:
                await self._listen()
                warned = False
            except asyncio.CancelledError:
                raise
            except (
                OSError,
                TimeoutError,
                NotListening,
                asyncpg.PostgresError,
                asyncpg.InterfaceError,
            ) as exc:
                if not warned:  # every key is read from the database meanwhile
                    log.warning("api_key_listener_lost", error=str(exc) or type(exc).__name__)
                    warned = True
            self._lose()
            await self._close()
            await asyncio.sleep(RETRY_SECONDS)

    async def _listen(self) -> None:
        import asyncpg

        connection = await asyncpg.connect(
            self.dsn,
            timeout=LEASE_SECONDS,
            server_settings={"application_name": LISTENER_NAME},
        )
        self._connection = connection
        connection.add_termination_listener(self._lose)
        await connection.add_listener(CHANNEL, self._heard)
        backend: int | None = None
        while True:
            sent = time.monotonic()
            acks, self._pending = self._pending, []
            self._wake.clear()
            row = await connection.fetchrow(HEARTBEAT, ACK_CHANNEL, acks, CHANNEL, timeout=TIMEOUT)
            if connection.is_closed():
                return
            # The same server session, still listening: behind a pooler in transaction
            # mode (PgBouncer) the statements of one connection may land on any server
            # session, and the LISTEN on none that a revocation would notify.
            backend = backend or row[0]
            if row[0] != backend or not row[1]:
                raise NotListening(f"server session {row[0]} is not listening on {CHANNEL}")
            self.trusted_until = sent + LEASE_SECONDS
            if not self._pending:
                try:
                    await asyncio.wait_for(self._wake.wait(), HEARTBEAT_SECONDS)
                except TimeoutError:
                    pass

    async def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.terminate()


class Acknowledgements:
    """The revoking side: a token to NOTIFY with, and the wait for every listener's answer."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.token = secrets.token_hex(8)
        self.acknowledged: set[int] = set()
        self._changed = asyncio.Event()

    @classmethod
    async def open(cls, database_url: str) -> Acknowledgements:
        import asyncpg

        connection = await asyncpg.connect(
            _dsn(database_url),
            timeout=LEASE_SECONDS,
            server_settings={"application_name": REVOKER_NAME},
        )
        acks = cls(connection)
        await connection.add_listener(ACK_CHANNEL, acks._heard)
        return acks

    def _heard(self, _connection: Any, pid: int, _channel: str, payload: str) -> None:
        if payload == self.token:
            self.acknowledged.add(pid)
            self._changed.set()

    async def finish(self, committed: bool) -> None:
        """After the transaction: wait for every listener when it committed; close."""
        try:
            if committed:
                await self._wait()
        finally:
            self.connection.terminate()

    async def _wait(self) -> None:
        deadline = time.monotonic() + LEASE_SECONDS + MARGIN_SECONDS
        try:
            listeners = {
                row[0]
                for row in await self.connection.fetch(
                    "SELECT pid FROM pg_stat_activity"
                    " WHERE application_name = $1 AND datname = current_database()",
                    LISTENER_NAME,
                )
            }
        except Exception as exc:  # not known who listens: every lease runs out instead
            log.warning("api_key_revocation_listeners_unknown", error=type(exc).__name__)
            listeners = {-1}
        while not listeners <= self.acknowledged:
            left = deadline - time.monotonic()
            if left <= 0:
                log.warning(
                    "api_key_revocation_unacknowledged",
                    listeners=len(listeners - self.acknowledged),
                )
                return  # their leases have run out: those processes no longer trust a cache
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                pass
