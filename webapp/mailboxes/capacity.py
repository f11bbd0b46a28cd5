"""Caps over rolling windows: how many sends a mailbox (or a recipient domain) has left,
when it may send next, and taking a send slot atomically across every sender.

A limit is a daily cap (any rolling 24 hours, never a calendar reset), an hourly cap
(any rolling 60 minutes) and a minimum gap between two sends. A mailbox in warm-up
has a daily cap that starts at `warmup_start` and grows by `warmup_step` a day until
its `daily_cap`.

Slots are kept where every sender of every process sees them: in Redis when
RATELIMIT_STORAGE_URI is `redis://` (a sorted set per key, checked and taken by one
Lua script, so two workers can never both take the last slot), otherwise in the
`send_slots` table, taken in the sender's lease transaction (serialised by SQLite's
write lock, and by one transaction-scoped advisory lock on PostgreSQL).
A slot is taken when an email is leased, so a send that fails at the relay still
counts: caps are never exceeded, at worst under-used. A send that never reached the
relay (its message could not be built, its mailbox has no usable relay, or the sender
stopped before its turn) gives its slot back (`release`, with the `Taken` receipt of
the reservation).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import delete, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.core.config import Config
from webapp.core.models import Mailbox, SendSlot

DAY = 86400.0
HOUR = 3600.0
REDIS_PREFIX = "tune:send-slots:"


@dataclass(frozen=True)
class Limit:
    """The caps of one key (`mailbox:...` or `domain:...`); None means no such cap."""

    key: str
    daily: int | None = None
    hourly: int | None = None
    gap: float = 0.0


@dataclass(frozen=True)
class Usage:
    """What a key has used and has left now."""

    day: int
    hour: int
    remaining: int
    """Sends possible right now before a cap is reached (the gap aside)."""
    next_free: datetime | None
    """When the next send may go, if not now."""


@dataclass(frozen=True)
class Taken:
    """The receipt of one reservation: enough to give the slots back."""

    keys: tuple[str, ...]
    at: datetime
    member: str
    """Names the slot in Redis (the database finds one of `keys` taken `at`)."""


def mailbox_key(mailbox: Mailbox) -> str:
    """Names a mailbox's slots; the creation time keeps a re-created name from
    inheriting old counts."""
    created = int(mailbox.created_at.timestamp() * 1_000_000)
    return f"mailbox:{mailbox.id}:{created}"


def daily_cap_today(mailbox: Mailbox, now: datetime) -> int:
    """The daily cap in force now: the warm-up ramp's value while it is below the cap."""
    if not mailbox.warmup_start or mailbox.warmup_started_at is None:
        return mailbox.daily_cap
    days = max(0, int((now - mailbox.warmup_started_at).total_seconds() // DAY))
    return min(mailbox.daily_cap, mailbox.warmup_start + mailbox.warmup_step * days)


def mailbox_limit(mailbox: Mailbox, now: datetime) -> Limit:
    return Limit(
        key=mailbox_key(mailbox),
        daily=daily_cap_today(mailbox, now),
        hourly=mailbox.hourly_cap,
        gap=float(mailbox.min_gap_seconds),
    )


def domain_limit(config: Config, recipient: str) -> Limit | None:
    """Per-recipient-domain pacing (SEND_DOMAIN_HOURLY), or None when it is off."""
    if config.send_domain_hourly <= 0:
        return None
    domain = recipient.rpartition("@")[2].strip().lower()
    if not domain:
        return None
    return Limit(key=f"domain:{domain}"[:300], hourly=config.send_domain_hourly)


def assess(times: Sequence[float], limit: Limit, now: float) -> tuple[int, float | None]:
    """(sends left now, epoch of the next free slot or None) from the slot times of the
    last day, sorted ascending."""
    day_times = [t for t in times if t > now - DAY]
    hour_times = [t for t in day_times if t > now - HOUR]
    left: list[int] = []
    waits: list[float] = []
    if limit.daily is not None:
        left.append(limit.daily - len(day_times))
        if len(day_times) >= limit.daily:
            waits.append(day_times[len(day_times) - limit.daily] + DAY)
    if limit.hourly is not None:
        left.append(limit.hourly - len(hour_times))
        if len(hour_times) >= limit.hourly:
            waits.append(hour_times[len(hour_times) - limit.hourly] + HOUR)
    if limit.gap and day_times and day_times[-1] + limit.gap > now:
        waits.append(day_times[-1] + limit.gap)
    remaining = max(0, min(left)) if left else 1_000_000
    wait = max(waits) if waits else None
    return remaining, wait if wait is not None and wait > now else None


def _epoch(moment: datetime) -> float:
    return moment.timestamp()


def _moment(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


class Slots(Protocol):
    """Where slots are counted: the database or Redis."""

    async def usage(self, session: AsyncSession, limit: Limit, now: datetime) -> Usage: ...

    async def reserve(
        self, session: AsyncSession, limits: Sequence[Limit], now: datetime, member: str = ""
    ) -> datetime | None:
        """Take one slot on every limit, all or none; None when taken, else when to retry."""
        ...

    async def release(self, session: AsyncSession, taken: Taken) -> None:
        """Give back the slots of one reservation (its send never reached the relay)."""
        ...

    async def prune(self, session: AsyncSession, now: datetime) -> None: ...


class DatabaseSlots:
    """Slots as `send_slots` rows, taken in the caller's write transaction."""

    async def _times(self, session: AsyncSession, key: str, now: datetime) -> list[float]:
        rows = await session.scalars(
            select(SendSlot.taken_at)
            .where(SendSlot.key == key, SendSlot.taken_at > now - timedelta(seconds=DAY))
            .order_by(SendSlot.taken_at)
        )
        return [_epoch(moment) for moment in rows]

    async def usage(self, session: AsyncSession, limit: Limit, now: datetime) -> Usage:
        times = await self._times(session, limit.key, now)
        return _usage(times, limit, now)

    async def reserve(
        self, session: AsyncSession, limits: Sequence[Limit], now: datetime, member: str = ""
    ) -> datetime | None:
        if session.get_bind().dialect.name == "postgresql":
            # One lock for every key: a pass that reserves on several mailboxes, in any
            # order, can never deadlock with another (it is re-entrant within a transaction).
            await session.execute(
                text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": _lock_id("send-slots")}
            )
        waits = []
        for limit in limits:
            _, wait = assess(await self._times(session, limit.key, now), limit, _epoch(now))
            if wait is not None:
                waits.append(wait)
        if waits:
            return _moment(max(waits))
        await session.execute(
            insert(SendSlot), [{"key": limit.key, "taken_at": now} for limit in limits]
        )
        return None

    async def release(self, session: AsyncSession, taken: Taken) -> None:
        for key in taken.keys:
            one = (
                select(SendSlot.id)
                .where(SendSlot.key == key, SendSlot.taken_at == taken.at)
                .limit(1)
                .scalar_subquery()
            )
            await session.execute(delete(SendSlot).where(SendSlot.id == one))

    async def prune(self, session: AsyncSession, now: datetime) -> None:
        await session.execute(
            delete(SendSlot).where(SendSlot.taken_at <= now - timedelta(seconds=DAY + HOUR))
        )


def _lock_id(key: str) -> int:
    """A signed 64-bit advisory-lock id for a name."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


def _usage(times: list[float], limit: Limit, now: datetime) -> Usage:
    epoch = _epoch(now)
    remaining, wait = assess(times, limit, epoch)
    return Usage(
        day=sum(1 for t in times if t > epoch - DAY),
        hour=sum(1 for t in times if t > epoch - HOUR),
        remaining=remaining,
        next_free=_moment(wait) if wait is not None else None,
    )


# Checks every key (ARGV: now, then daily, hourly, gap per key; -1 = no cap), and
# takes a slot on all of them only when none is full. Returns 0, or the epoch to retry at.
_RESERVE = """
local now = tonumber(ARGV[1])
local member = ARGV[2]
local wait = 0
for i, key in ipairs(KEYS) do
  local daily = tonumber(ARGV[3 * i]); local hourly = tonumber(ARGV[3 * i + 1])
  local gap = tonumber(ARGV[3 * i + 2])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - 86400)
  local day = redis.call('ZCARD', key)
  if daily >= 0 and day >= daily then
    local at = redis.call('ZRANGE', key, day - daily, day - daily, 'WITHSCORES')
    wait = math.max(wait, tonumber(at[2]) + 86400)
  end
  if hourly >= 0 then
    local hour = redis.call('ZCOUNT', key, '(' .. (now - 3600), '+inf')
    if hour >= hourly then
      local at = redis.call('ZRANGEBYSCORE', key, '(' .. (now - 3600), '+inf',
        'WITHSCORES', 'LIMIT', hour - hourly, 1)
      wait = math.max(wait, tonumber(at[2]) + 3600)
    end
  end
  if gap > 0 and day > 0 then
    local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
    if tonumber(last[2]) + gap > now then wait = math.max(wait, tonumber(last[2]) + gap) end
  end
end
if wait > now then return tostring(wait) end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, member)
  redis.call('EXPIRE', key, 90000)
end
return '0'
"""


class RedisSlots:
    """Slots as Redis sorted sets (score = send time), shared by every process."""

    def __init__(self, uri: str, prefix: str = REDIS_PREFIX) -> None:
        # Imported here: loading the Redis client cost every `tune` command about 0.25 s of
        # CPU, and only a process with Redis configured makes one of these.
        import coredis

        uri = uri.removeprefix("async+")
        if uri.startswith("redis+unix://"):
            uri = "unix://" + uri.removeprefix("redis+unix://")
        self.client = coredis.Redis.from_url(uri, decode_responses=True)
        self.prefix = prefix
        self.script = self.client.register_script(_RESERVE)

    async def usage(self, session: AsyncSession, limit: Limit, now: datetime) -> Usage:
        from coredis.tokens import PureToken  # loaded with the client (`__init__`)

        epoch = _epoch(now)
        times = sorted(
            float(score)
            for _, score in await self.client.zrange(
                self.prefix + limit.key,
                epoch - DAY,
                float("inf"),
                sortby=PureToken.BYSCORE,
                withscores=True,
            )
        )
        return _usage(times, limit, now)

    async def reserve(
        self, session: AsyncSession, limits: Sequence[Limit], now: datetime, member: str = ""
    ) -> datetime | None:
        args: list[Any] = [repr(_epoch(now)), member or secrets.token_hex(8)]
        for limit in limits:
            args += [
                str(-1 if limit.daily is None else limit.daily),
                str(-1 if limit.hourly is None else limit.hourly),
                repr(float(limit.gap)),
            ]
        answer = await self.script(keys=[self.prefix + limit.key for limit in limits], args=args)
        wait = float(str(answer))
        return None if wait == 0 else _moment(wait)

    async def release(self, session: AsyncSession, taken: Taken) -> None:
        for key in taken.keys:
            await self.client.zrem(self.prefix + key, [taken.member])

    async def prune(self, session: AsyncSession, now: datetime) -> None:
        """Redis trims each set as it takes slots, and expires idle ones."""


def slots_for(config: Config) -> Slots:
    """Redis when RATELIMIT_STORAGE_URI points at one, the database otherwise."""
    uri = config.ratelimit_storage_uri.removeprefix("async+")
    if uri.startswith(("redis://", "rediss://", "redis+unix://")):
        return RedisSlots(uri)
    return DatabaseSlots()
