"""API keys: created once in clear, stored as SHA-256 digests, revocable at once.

Keys carry 256 bits of randomness, so a fast digest is enough: nothing can be
guessed by brute force, and a lookup by digest needs no secret comparison.

On SQLite every process serving the same database runs on one machine, so a
verified key is kept for a short while (`KeyCache`) and a revocation reaches
every worker through a file beside the database: each revocation adds one to
the counter in it after its commit, and each request compares that counter,
read through a shared memory map of the file (no system call, no database
read), with the value its cached keys were verified at.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import mmap
import os
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import event, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.accounts import keywatch
from webapp.core.db import AFTER_WRITE, Database, read_time, sqlite_file
from webapp.core.errors import NotFound, ValidationFailed
from webapp.core.logs import get_logger
from webapp.core.models import ApiKey, utcnow

log = get_logger(__name__)

KEY_PREFIX = "tune_"
LAST_USED_GRANULARITY = timedelta(minutes=1)


@dataclass(frozen=True)
class CreatedKey:
    id: int
    name: str
    key: str
    """The clear key: shown once, never stored."""


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def _validate_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 100:
        raise ValidationFailed("name must be 1 to 100 characters", field="name")
    return name


async def create_key(session: AsyncSession, name: str, key: str | None = None) -> CreatedKey:
    """Store a new key (a given one, for bootstrap) and return it in clear once."""
    name = _validate_name(name)
    key = key or generate_key()
    row = ApiKey(name=name, prefix=key[: len(KEY_PREFIX) + 4], key_hash=digest(key))
    session.add(row)
    await session.flush()
    return CreatedKey(id=row.id, name=row.name, key=key)


async def ensure_key(
    session: AsyncSession, name: str, key: str
) -> Literal["added", "kept", "revoked"]:
    """Make sure this key exists: "added" when it was stored now, "kept" when it was there.

    A key that was revoked stays revoked ("revoked"): a revocation is a decision,
    and setting the same key again at the next start must not undo it.
    """
    existing = await session.scalar(select(ApiKey).where(ApiKey.key_hash == digest(key)))
    if existing is None:
        await create_key(session, name, key)
        return "added"
    return "kept" if existing.revoked_at is None else "revoked"


async def list_keys(session: AsyncSession) -> list[ApiKey]:
    """Every key, newest first."""
    return list(await session.scalars(select(ApiKey).order_by(ApiKey.id.desc())))


async def count_keys(session: AsyncSession) -> int:
    return await session.scalar(select(func.count()).select_from(ApiKey)) or 0


async def revoke_key(session: AsyncSession, key_id: int) -> ApiKey:
    """Revoke a key; once the session commits, every process's `KeyCache` drops its keys."""
    row = await session.get(ApiKey, key_id)
    if row is None:
        raise NotFound(f"API key {key_id} does not exist")
    url = session.sync_session.get_bind().engine.url
    database = sqlite_file(url)
    if database is not None:
        marker = revocation_marker(database)
        event.listen(session.sync_session, "after_commit", lambda _: announce(marker), once=True)
    elif url.get_backend_name() == "postgresql":
        # Before the UPDATE is flushed: its trigger sends the same notification.
        await _notify_revocation(session, url.render_as_string(hide_password=False))
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    return row


async def _notify_revocation(session: AsyncSession, database_url: str) -> None:
    """NOTIFY every process's listener from this transaction (`keywatch`); in a
    `Database.write` session, its commit then waits until each one has heard."""
    after = session.info.get(AFTER_WRITE)
    token = ""
    if after is not None:
        acks = await keywatch.Acknowledgements.open(database_url)
        after.append(acks.finish)
        token = acks.token
    # The trigger on api_keys (migration 0016) notifies with this token too, and
    # PostgreSQL delivers identical notifications of one transaction once.
    await session.execute(
        text("SELECT set_config(:setting, :token, true), pg_notify(:channel, :token)"),
        {"setting": keywatch.REVOCATION_SETTING, "channel": keywatch.CHANNEL, "token": token},
    )


def revocation_marker(database: str) -> str:
    """The file beside a SQLite database holding its revocation counter."""
    return database + "-revocations"


COUNTER = 8
"""The counter's bytes at the start of the marker (little-endian)."""


def announce(marker: str) -> None:
    """Tell every process's `KeyCache` that a key was revoked (after the commit)."""
    try:
        descriptor = os.open(marker, os.O_RDWR | os.O_CREAT, 0o660)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)  # two revocations at once add two
            count = int.from_bytes(os.pread(descriptor, COUNTER, 0).ljust(COUNTER, b"\0"), "little")
            os.pwrite(descriptor, ((count + 1) % 2**64).to_bytes(COUNTER, "little"), 0)
        finally:
            os.close(descriptor)
    except OSError as exc:
        # Revoked in the database all the same: cached copies expire within CACHE_SECONDS.
        log.error("api_key_revocation_not_announced", error=str(exc))


def _mapped_counter(marker: str) -> mmap.mmap:
    """The marker's counter mapped read-only (the file created, or grown to hold it)."""
    descriptor = os.open(marker, os.O_RDWR | os.O_CREAT, 0o660)
    try:
        if os.fstat(descriptor).st_size < COUNTER:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            try:
                if os.fstat(descriptor).st_size < COUNTER:
                    os.ftruncate(descriptor, COUNTER)  # zeros after what is there
            finally:
                # Explicitly: the map keeps a duplicate of the descriptor, and with it the lock.
                fcntl.flock(descriptor, fcntl.LOCK_UN)
        return mmap.mmap(descriptor, COUNTER, access=mmap.ACCESS_READ)
    finally:
        os.close(descriptor)


@dataclass(frozen=True)
class KeyMatch:
    """The active key a request presented."""

    id: int
    key_hash: str
    last_used_at: datetime | None


CACHE_SECONDS = 60.0
"""How long a verified key is trusted without a read (revocations end it at once)."""
CACHE_SIZE = 1024


class KeyCache:
    """Keys verified in the last `CACHE_SECONDS`, dropped whenever any key is revoked.

    On SQLite (`database` is its file) the revocation marker beside it is shared
    by every process that can serve the database. On PostgreSQL (`listener`) the
    process's `keywatch.RevocationListener` says when to drop them, and the cache
    is used only while that listener is known to be live. With neither (an
    in-memory database) the cache is off and every request reads its key.

    The marker's counter is read through a memory map: every process maps the same
    page of the page cache, so a revocation's write is seen by the next request
    without a system call (`os.stat` on every request cost more, and let the
    database threads take the interpreter lock in the middle of it). The map is
    made again every `REMAP_SECONDS`, in case the file was deleted and re-created.
    """

    REMAP_SECONDS = 1.0

    def __init__(
        self,
        database: str | None,
        *,
        seconds: float = CACHE_SECONDS,
        listener: keywatch.RevocationListener | None = None,
    ) -> None:
        self.marker = revocation_marker(database) if database else None
        self.listener = None if self.marker else listener
        self.seconds = seconds
        self._keys: dict[str, tuple[KeyMatch, float]] = {}
        self._generation: bytes | int | None = None
        self._view: mmap.mmap | None = None
        self._inode: tuple[int, int] | None = None
        self._next_check = 0.0
        self._warned = False
        self._touches: dict[int, datetime] = {}

    def generation(self) -> bytes | int | None:
        """The marker's revocation counter as stored (SQLite) or the listener's
        generation (PostgreSQL), or None when the cache must not be used now."""
        if self.listener is not None:
            return self.listener.current()
        assert self.marker is not None
        now = time.monotonic()
        if now >= self._next_check:
            self._next_check = now + self.REMAP_SECONDS
            self._remap()
        return self._view[:COUNTER] if self._view is not None else None

    def _remap(self) -> None:
        assert self.marker is not None
        try:
            found = os.stat(self.marker)
            if self._view is not None and (found.st_dev, found.st_ino) == self._inode:
                return
        except FileNotFoundError:
            pass
        except OSError:
            self._view = None
            return
        try:
            view = _mapped_counter(self.marker)
            found = os.stat(self.marker)
        except (OSError, ValueError) as exc:
            if not self._warned:  # every key is read from the database meanwhile
                log.warning("api_key_cache_off", error=str(exc))
                self._warned = True
            self._view = None
            return
        if self._view is not None:
            self._view.close()
        self._view, self._inode = view, (found.st_dev, found.st_ino)
        self._generation = None  # a new file: its count says nothing about the old one

    def get(self, key_hash: str) -> tuple[KeyMatch | None, bytes | int | None]:
        """The cached key (or None) and the generation to store a fresh lookup under."""
        if self.marker is None and self.listener is None:
            return None, None
        generation = self.generation()
        if generation is None or generation != self._generation:
            self._keys.clear()
            self._generation = generation
            return None, generation
        cached = self._keys.get(key_hash)
        if cached is None or cached[1] < time.monotonic():
            return None, generation
        return cached[0], generation

    def put(self, match: KeyMatch, generation: bytes | int | None) -> None:
        """Keep `match`, verified when the marker was at `generation` (read before the lookup)."""
        if generation is None or generation != self._generation:
            return  # a revocation came in meanwhile: verify again next time
        if len(self._keys) >= CACHE_SIZE:
            self._keys.clear()
        self._keys[match.key_hash] = (match, time.monotonic() + self.seconds)

    def claim_touch(self, match: KeyMatch, now: datetime) -> bool:
        """Whether this request is the one to write the key's `last_used_at` now.

        When the minute passes, every request in flight with the key sees a stale
        `last_used_at` at once; without a claim each of them would queue for the
        database's write lock to write the same value (on SQLite, behind the event
        writer: a second and more at 64 connections). One claim per key and minute
        in this process; the others go on without writing.
        """
        claimed = self._touches.get(match.id)
        if claimed is not None and now - claimed < LAST_USED_GRANULARITY:
            return False
        if len(self._touches) >= CACHE_SIZE:
            self._touches.clear()
        self._touches[match.id] = now
        return True

    def touched(self, match: KeyMatch, when: datetime) -> None:
        """Record that `last_used_at` was written, so the next minute does not write it again."""
        cached = self._keys.get(match.key_hash)
        if cached is not None:
            self._keys[match.key_hash] = (KeyMatch(match.id, match.key_hash, when), cached[1])


async def authenticate(db: Database, key: str, cache: KeyCache | None = None) -> KeyMatch | None:
    """The active key matching `key`, or None. Revocation takes effect on the next request.

    Every API request asks, so this is one indexed read by plain SQL, not a
    session, unless `cache` verified the key recently and nothing was revoked since.
    """
    if not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    key_hash = digest(key)
    generation: bytes | int | None = None
    if cache is not None:
        cached, generation = cache.get(key_hash)
        if cached is not None:
            return cached
    row = await db.fetch_one(
        "SELECT id, key_hash, last_used_at FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL",
        (key_hash,),
    )
    if row is None or not hmac.compare_digest(row[1], key_hash):
        return None
    match = KeyMatch(row[0], row[1], read_time(row[2]))
    if cache is not None:
        cache.put(match, generation)
    return match


def needs_touch(row: KeyMatch, now: datetime) -> bool:
    """Whether `last_used_at` is stale enough to be worth a write (at most once a minute)."""
    return row.last_used_at is None or now - row.last_used_at >= LAST_USED_GRANULARITY


async def touch(session: AsyncSession, key_id: int, now: datetime) -> None:
    await session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now))
