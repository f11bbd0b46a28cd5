"""API keys: created once in clear, stored as SHA-256 digests, revocable at once.

Keys carry 256 bits of randomness, so a fast digest is enough: nothing can be
guessed by brute force, and a lookup by digest needs no secret comparison.

On SQLite every process serving the same database runs on one machine, so a
verified key is kept for a short while (`KeyCache`) and a revocation reaches
every worker through a file beside the database: each revocation appends one
byte to it after its commit, and each request compares the file's size (one
`stat`, no database read) with the size its cached keys were verified at.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import event, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.core.db import Database, read_time, sqlite_file
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
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    database = sqlite_file(session.sync_session.get_bind().engine.url)
    if database is not None:
        marker = revocation_marker(database)
        event.listen(session.sync_session, "after_commit", lambda _: announce(marker), once=True)
    return row


def revocation_marker(database: str) -> str:
    """The file beside a SQLite database that grows by one byte at each revocation."""
    return database + "-revocations"


def announce(marker: str) -> None:
    """Tell every process's `KeyCache` that a key was revoked (after the commit)."""
    try:
        descriptor = os.open(marker, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o660)
        try:
            os.write(descriptor, b".")
        finally:
            os.close(descriptor)
    except OSError as exc:
        # Revoked in the database all the same: cached copies expire within CACHE_SECONDS.
        log.error("api_key_revocation_not_announced", error=str(exc))


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

    Only on SQLite (`database` is its file): the revocation marker beside it is
    shared by every process that can serve the database. Without one (PostgreSQL)
    the cache is off and every request reads its key: there a revocation counter
    checked on each request would cost a round trip like the key's own read.
    """

    def __init__(self, database: str | None, *, seconds: float = CACHE_SECONDS) -> None:
        self.marker = revocation_marker(database) if database else None
        self.seconds = seconds
        self._keys: dict[str, tuple[KeyMatch, float]] = {}
        self._generation = -1

    def generation(self) -> int:
        """How many revocations the marker has seen (0 before the first)."""
        assert self.marker is not None
        try:
            return os.stat(self.marker).st_size
        except FileNotFoundError:
            return 0

    def get(self, key_hash: str) -> tuple[KeyMatch | None, int]:
        """The cached key (or None) and the generation to store a fresh lookup under."""
        if self.marker is None:
            return None, -1
        generation = self.generation()
        if generation != self._generation:
            self._keys.clear()
            self._generation = generation
            return None, generation
        cached = self._keys.get(key_hash)
        if cached is None or cached[1] < time.monotonic():
            return None, generation
        return cached[0], generation

    def put(self, match: KeyMatch, generation: int) -> None:
        """Keep `match`, verified when the marker was at `generation` (read before the lookup)."""
        if self.marker is None or generation != self._generation:
            return  # a revocation came in meanwhile: verify again next time
        if len(self._keys) >= CACHE_SIZE:
            self._keys.clear()
        self._keys[match.key_hash] = (match, time.monotonic() + self.seconds)

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
    generation = -1
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
