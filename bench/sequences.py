"""Sequence scheduler: the cost of picking due work at 1,000 vs 1,000,000 enrolled contacts.

Each database holds one campaign whose contacts are all enrolled; the same 200
are due, the others wait for a later step (due within 30 days) or for nothing
(sent, finished, stopped: no due time). One measurement is the scheduler's
lease transaction exactly as the sender runs it (`lease_due` for 200 rows),
rolled back so every repetition sees the same rows. The rows are bulk-inserted
(executemany on SQLite, COPY on PostgreSQL), so a million take seconds.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from bench import harness, seeding
from webapp.sequences.scheduler import lease_due

DUE = 200
PROSPECTS = 1_000
REPEATS = 25
ROUNDS = 5


def _rows(enrolled: int, campaign_id: int, now: datetime) -> dict[str, list[tuple[Any, ...]]]:
    rng = random.Random(enrolled)
    prospects = [
        (n, campaign_id, f"company{n}.example", f"Company {n}", 1, 50, "[]", 0, False, now, now)
        for n in range(1, PROSPECTS + 1)
    ]
    contacts = [
        (n, campaign_id, 1 + n % PROSPECTS, f"person{n}@company{1 + n % PROSPECTS}.example", now)
        for n in range(1, enrolled + 1)
    ]
    due_ids = set(rng.sample(range(1, enrolled + 1), DUE))
    enrollments = []
    for n in range(1, enrolled + 1):
        if n in due_ids:
            due: datetime | None = now - timedelta(seconds=rng.uniform(1, 3600))
        elif rng.random() < 0.7:
            due = now + timedelta(seconds=rng.uniform(60, 30 * 86400))
        else:
            due = None
        enrollments.append(
            (
                n,
                campaign_id,
                1 + n % PROSPECTS,
                n,
                1,
                "active",
                due,
                now - timedelta(days=1),
                now,
                now,
            )
        )
    return {"prospects": prospects, "contacts": contacts, "sequence_enrollments": enrollments}


COLUMNS = {
    "prospects": (
        "id", "campaign_id", "company_key", "name", "tier", "score", "score_reasons",
        "profile_version", "hot", "created_at", "updated_at",
    ),
    "contacts": ("id", "campaign_id", "prospect_id", "email", "created_at"),
    "sequence_enrollments": (
        "id", "campaign_id", "prospect_id", "contact_id", "step", "status", "due_at",
        "last_sent_at", "created_at", "updated_at",
    ),
}  # fmt: skip


async def _lease_ms(url: str, now: datetime) -> list[float]:
    engine = create_async_engine(url)
    times = []
    try:
        for _ in range(REPEATS):
            async with AsyncSession(engine) as session:
                await session.begin()
                started = time.perf_counter()
                leased = await lease_due(session, "bench", DUE, lease_seconds=300, now=now)
                times.append((time.perf_counter() - started) * 1000)
                assert len(leased) == DUE, len(leased)
                await session.rollback()
    finally:
        await engine.dispose()
    return times


def due_work(settings: Any, backend: str = "sqlite") -> dict[str, Any]:
    sizes = (1_000, 1_000_000)
    now = datetime.now(UTC)
    result: dict[str, Any] = {"backend": backend, "due": DUE, "sizes": list(sizes)}
    with harness.workspace("sequences") as work:
        urls = {}
        contexts = []
        for size in sizes:
            folder = work / str(size)
            folder.mkdir()
            context = harness.fresh_database(backend, folder)
            contexts.append(context)
            url = context.__enter__()
            urls[size] = url
            started = time.perf_counter()
            rows = _rows(size, seeding.new_campaign(url, "Bench sequence"), now)
            seeding.bulk_insert(url, rows, COLUMNS)
            result[f"fill_seconds_{size}"] = round(time.perf_counter() - started, 1)
        try:
            rounds = []
            medians: dict[int, list[float]] = {size: [] for size in sizes}
            for _ in range(ROUNDS):
                small = statistics.median(asyncio.run(_lease_ms(urls[sizes[0]], now)))
                big = statistics.median(asyncio.run(_lease_ms(urls[sizes[1]], now)))
                medians[sizes[0]].append(small)
                medians[sizes[1]].append(big)
                rounds.append(round(big / small, 2))
            result["lease_ms_1k"] = round(statistics.median(medians[sizes[0]]), 2)
            result["lease_ms_1m"] = round(statistics.median(medians[sizes[1]]), 2)
            result["round_ratios"] = rounds
            result["ratio"] = statistics.median(rounds)
            result["pass"] = result["ratio"] <= 1.5
        finally:
            for context in reversed(contexts):
                context.__exit__(None, None, None)
    return result


def sequences(settings: Any) -> dict[str, Any]:
    """Due-work selection at 1k vs 1M enrolled contacts, on SQLite and PostgreSQL."""
    found = {"sqlite": due_work(settings, "sqlite")}
    if harness.postgres_available():
        found["postgres"] = due_work(settings, "postgres")
    return found


BENCHMARKS = {"sequences": sequences}
