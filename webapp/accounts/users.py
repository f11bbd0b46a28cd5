"""Dashboard users: accounts, slow password hashes, and sign-in throttling.

Passwords are hashed with scrypt (werkzeug's default KDF); hashing runs in a
thread so a sign-in never stalls the event loop. Sign-in attempts are counted
per account and client address, and per client address, in the same storage as
the API rate limits (`memory://` per process, `redis://` shared by every worker).
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import secrets
import time
from dataclasses import dataclass
from typing import Any

from limits import RateLimitItem, parse
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from werkzeug.security import check_password_hash, generate_password_hash

from webapp.core import metrics
from webapp.core.errors import Conflict, NotFound, RateLimited, ValidationFailed
from webapp.core.logs import get_logger
from webapp.core.models import User, utcnow

log = get_logger(__name__)

PASSWORD_MIN = 10
PASSWORD_MAX = 1024
EMAIL_MAX = 254
HASH_METHOD = "scrypt"
ACCOUNT_ATTEMPTS = "5/15 minutes"
"""Passwords tried per account from one client address before that address is locked out
of the account for the rest of the window (a right password resets the count)."""
ADDRESS_ATTEMPTS = "30/15 minutes"
"""Sign-in attempts allowed per client address, whatever the accounts tried."""

# Compared against when the account does not exist, so both cases cost one KDF run.
_DUMMY_HASH = generate_password_hash(secrets.token_urlsafe(16), method=HASH_METHOD)


def normalise_email(raw: object) -> str:
    """Trimmed, lower-cased, and shaped like an address; `ValidationFailed` otherwise."""
    if not isinstance(raw, str) or not raw.strip():
        raise ValidationFailed("email is required", field="email")
    email = raw.strip().lower()
    local, at, domain = email.partition("@")
    if not at or not local or not domain or any(ch.isspace() for ch in email):
        raise ValidationFailed("email must look like name@example.com", field="email")
    if len(email) > EMAIL_MAX:
        raise ValidationFailed(f"email must be at most {EMAIL_MAX} characters", field="email")
    return email


def validate_password(password: object) -> str:
    if not isinstance(password, str) or len(password) < PASSWORD_MIN:
        raise ValidationFailed(
            f"password must be at least {PASSWORD_MIN} characters", field="password"
        )
    if len(password) > PASSWORD_MAX:
        raise ValidationFailed(
            f"password must be at most {PASSWORD_MAX} characters", field="password"
        )
    return password


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(generate_password_hash, password, method=HASH_METHOD)


async def password_matches(password_hash: str, password: str) -> bool:
    return await asyncio.to_thread(check_password_hash, password_hash, password)


def generate_password() -> str:
    """A random password for a generated account (about 120 bits)."""
    return secrets.token_urlsafe(15)


def fingerprint(user: User) -> str:
    """What a session must carry to stay valid: it changes whenever the password or the
    session version does, so a new password or `end_sessions` ends every older session."""
    material = f"{user.password_hash}\0{user.session_version}"
    return hashlib.sha256(material.encode()).hexdigest()[:16]


async def end_sessions(session: AsyncSession, user_id: int) -> None:
    """Sign the user out everywhere: every session cookie issued so far stops working."""
    await session.execute(
        update(User).where(User.id == user_id).values(session_version=User.session_version + 1)
    )


async def set_password(session: AsyncSession, email: object, password: object) -> User:
    """Give the user a new password and end every session it had."""
    secret = validate_password(password)
    user = await _existing_user(session, email)
    user.password_hash = await hash_password(secret)
    await end_sessions(session, user.id)
    return user


async def sign_out_everywhere(session: AsyncSession, email: object) -> User:
    """End every session of the user with this email."""
    user = await _existing_user(session, email)
    await end_sessions(session, user.id)
    return user


async def _existing_user(session: AsyncSession, email: object) -> User:
    address = normalise_email(email)
    user = await user_by_email(session, address)
    if user is None:
        raise NotFound(f"no user has email {address}", field="email")
    return user


async def create_user(
    session: AsyncSession, email: object, password: object, *, is_admin: bool = False
) -> User:
    """Store a new user; the email must be free and the password long enough."""
    address = normalise_email(email)
    secret = validate_password(password)
    if await user_by_email(session, address) is not None:
        raise Conflict(f"a user with email {address} already exists", field="email")
    user = User(email=address, password_hash=await hash_password(secret), is_admin=is_admin)
    session.add(user)
    await session.flush()
    return user


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == email))


async def get_user(session: AsyncSession, user_id: int) -> User | None:
    return await session.get(User, user_id)


async def count_users(session: AsyncSession) -> int:
    return await session.scalar(select(func.count()).select_from(User)) or 0


async def check_credentials(session: AsyncSession, email: str, password: str) -> User | None:
    """The user when the password is right, else None (same cost whether or not it exists)."""
    try:
        address = normalise_email(email)
    except ValidationFailed:
        address = ""
    user = await user_by_email(session, address) if address else None
    if user is None:
        await password_matches(_DUMMY_HASH, password)
        return None
    return user if await password_matches(user.password_hash, password) else None


async def record_login(session: AsyncSession, user_id: int) -> None:
    user = await session.get(User, user_id)
    if user is not None:
        user.last_login_at = utcnow()


@dataclass(frozen=True)
class _Limit:
    item: RateLimitItem
    prefix: str


class LoginThrottle:
    """Counts sign-in attempts per account and source, and per source, before any check.

    `reserve` takes one attempt from both counts atomically (the storage's `hit`)
    *before* the password is checked, so concurrent guesses cannot all slip past
    a count that only grows after each check: at most `per_account` passwords
    are ever tried for one account from one source per window, across workers
    with `redis://`. A right password gives the account its attempts back.

    The account count is keyed by account *and* source: wrong passwords from one
    address do not lock the account for everyone else. `per_address` bounds what
    one source tries across all accounts (every attempt counts, successful ones
    too, since nothing is known about an attempt when it is reserved).

    When the shared storage is unreachable the throttle keeps counting in this
    process's memory (logged and counted by
    `tune_rate_limit_storage_errors_total`) rather than letting every guess through.
    """

    def __init__(
        self,
        storage_uri: str,
        *,
        per_account: str = ACCOUNT_ATTEMPTS,
        per_address: str = ADDRESS_ATTEMPTS,
        namespace: str = "tune-login",
    ) -> None:
        uri = storage_uri if storage_uri.startswith("async+") else "async+" + storage_uri
        self.namespace = namespace
        self.strategy = MovingWindowRateLimiter(storage_from_string(uri))
        self.fallback = MovingWindowRateLimiter(storage_from_string("async+memory://"))
        self.limits = (_Limit(parse(per_account), "account"), _Limit(parse(per_address), "ip"))

    def _keys(self, email: str, address: str | None) -> list[tuple[_Limit, str]]:
        source = address or "unknown"
        account = hashlib.sha256(f"{email.strip().lower()}\0{source}".encode()).hexdigest()[:32]
        return [(self.limits[0], account), (self.limits[1], source)]

    async def _call(self, method: str, limit: _Limit, identity: str) -> Any:
        try:
            return await getattr(self.strategy, method)(
                limit.item, self.namespace, limit.prefix, identity
            )
        except Exception as exc:  # storage down: count in this process instead
            log.warning("login_throttle_storage_error", error=type(exc).__name__)
            metrics.RATE_LIMIT_STORAGE_ERRORS.inc()
            return await getattr(self.fallback, method)(
                limit.item, self.namespace, limit.prefix, identity
            )

    async def reserve(self, email: str, address: str | None) -> None:
        """Take one attempt; raise `RateLimited` while the account or the source is locked."""
        for limit, identity in self._keys(email, address):
            if await self._call("hit", limit, identity):
                continue
            stats = await self._call("get_window_stats", limit, identity)
            wait = max(1, math.ceil(stats.reset_time - time.time()))
            raise RateLimited(
                "too many failed sign-ins; try again in "
                + (f"{math.ceil(wait / 60)} minutes" if wait > 60 else f"{wait} seconds"),
                retry_after=wait,
            )

    async def succeeded(self, email: str, address: str | None) -> None:
        """A right password gives the account its attempts back (not the source's)."""
        limit, identity = self._keys(email, address)[0]
        await self._call("clear", limit, identity)
