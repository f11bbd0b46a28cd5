"""API keys: created once in clear, stored as SHA-256 digests, revocable at once.

Keys carry 256 bits of randomness, so a fast digest is enough: nothing can be
guessed by brute force, and a lookup by digest needs no secret comparison.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.core.db import Database, read_time
from webapp.core.errors import NotFound, ValidationFailed
from webapp.core.models import ApiKey, utcnow

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
    row = await session.get(ApiKey, key_id)
    if row is None:
        raise NotFound(f"API key {key_id} does not exist")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    return row


@dataclass(frozen=True)
class KeyMatch:
    """The active key a request presented."""

    id: int
    key_hash: str
    last_used_at: datetime | None


async def authenticate(db: Database, key: str) -> KeyMatch | None:
    """The active key matching `key`, or None. Revocation takes effect on the next request.

    Every API request asks, so this is one indexed read by plain SQL, not a session.
    """
    if not key.startswith(KEY_PREFIX) or len(key) > 200:
        return None
    key_hash = digest(key)
    row = await db.fetch_one(
        "SELECT id, key_hash, last_used_at FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL",
        (key_hash,),
    )
    if row is None or not hmac.compare_digest(row[1], key_hash):
        return None
    return KeyMatch(row[0], row[1], read_time(row[2]))


def needs_touch(row: KeyMatch, now: datetime) -> bool:
    """Whether `last_used_at` is stale enough to be worth a write (at most once a minute)."""
    return row.last_used_at is None or now - row.last_used_at >= LAST_USED_GRANULARITY


async def touch(session: AsyncSession, key_id: int, now: datetime) -> None:
    await session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=now))
