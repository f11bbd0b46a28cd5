"""The follow-up list on a campaign with 100,000 events in its last 30 days.

One campaign of 10,000 prospects (one contact and one sent email each) holds
100,000 events spread over the last 30 days: human and machine opens, human and
bot clicks, and a few replies; some prospects are marked done, snoozed or closed,
and some contacts are back from an out-of-office. Each measurement is what
`GET /api/followups?campaign_id=` reads for one page (`follow_up_page`, 50 items):
the first page and a page deep in the list (after 2,000 items); and what the
dashboard's panel reads (`follow_up_panel`: the first 50 and how many in all).
Rows are bulk-inserted (executemany on SQLite, COPY on PostgreSQL).
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from bench import harness, seeding
from webapp.workspace import followups

PROSPECTS = 10_000
EVENTS = 100_000
PAGE = 50
DEEP = 2_000
REPEATS = 15


def _rows(campaign_id: int, now: datetime) -> dict[str, list[tuple[Any, ...]]]:
    rng = random.Random(17)
    sent = now - timedelta(days=31)
    prospects = [
        (n, campaign_id, f"company{n}.example", f"Company {n}", 1, 50, "[]", 0, False, now, now)
        for n in range(1, PROSPECTS + 1)
    ]
    contacts = []
    for n in range(1, PROSPECTS + 1):
        away = rng.random() < 0.02
        back = now - timedelta(days=rng.uniform(0, 5)) if away else None
        contacts.append((n, campaign_id, n, f"person{n}@company{n}.example", back, now))
    contents = [
        (n, campaign_id, n, n, 1, "Hello", "<p>Hi</p>", "", "sent", 1, sent, sent)
        for n in range(1, PROSPECTS + 1)
    ]
    events = []
    for n in range(1, EVENTS + 1):
        who = rng.randint(1, PROSPECTS)
        roll = rng.random()
        kind = "open" if roll < 0.7 else "click" if roll < 0.97 else "reply"
        flagged = kind != "reply" and rng.random() < 0.3
        moment = now - timedelta(seconds=rng.uniform(0, 30 * 86400))
        events.append(
            (
                n,
                kind,
                campaign_id,
                who,
                who,
                who,
                1,
                moment,
                flagged,
                "apple_mpp" if flagged else None,
                False,
                "pixel" if kind == "open" else "link" if kind == "click" else "api",
            )
        )
    states = []
    for n in rng.sample(range(1, PROSPECTS + 1), PROSPECTS // 10):
        roll = rng.random()
        done = now - timedelta(days=rng.uniform(0, 20)) if roll < 0.6 else None
        snoozed = now + timedelta(days=2) if 0.6 <= roll < 0.8 else None
        closed = "not_interested" if roll >= 0.8 else None
        states.append((n, campaign_id, done, snoozed, closed, now))
    return {
        "prospects": prospects,
        "contacts": contacts,
        "contents": contents,
        "events": events,
        "followup_states": states,
    }


COLUMNS = {
    "prospects": (
        "id", "campaign_id", "company_key", "name", "tier", "score", "score_reasons",
        "profile_version", "hot", "created_at", "updated_at",
    ),
    "contacts": ("id", "campaign_id", "prospect_id", "email", "return_at", "created_at"),
    "contents": (
        "id", "campaign_id", "contact_id", "prospect_id", "tier", "subject", "html", "text",
        "send_status", "attempts", "sent_at", "created_at",
    ),
    "events": (
        "id", "kind", "campaign_id", "content_id", "contact_id", "prospect_id", "tier",
        "occurred_at", "flagged", "flag_reason", "unique_hit", "source",
    ),
    "followup_states": (
        "prospect_id", "campaign_id", "done_at", "snoozed_until", "closed_by", "updated_at",
    ),
}  # fmt: skip


async def backend_pid(session: AsyncSession) -> int | None:
    """The PostgreSQL server process of this session's connection (None on SQLite)."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    return int(await session.scalar(text("SELECT pg_backend_pid()")) or 0) or None


def _process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a local process has used, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def cpu_clock(backend: int | None, into: list[float]) -> Iterator[None]:
    """Append the CPU ms the block cost: this process (the driver, the ORM and, on
    SQLite, the query) plus the PostgreSQL server process when there is one. Unlike
    wall-clock time it does not grow when other work shares the machine."""
    started = time.process_time() + (_process_cpu(backend) if backend else 0.0)
    yield
    ended = time.process_time() + (_process_cpu(backend) if backend else 0.0)
    into.append((ended - started) * 1000)


async def _measure(url: str, campaign_id: int, now: datetime) -> dict[str, Any]:
    engine = create_async_engine(url)
    times: dict[str, list[float]] = {"first": [], "deep": [], "panel": []}
    cpu: dict[str, list[float]] = {"first": [], "deep": [], "panel": []}
    found: dict[str, Any] = {}
    try:
        async with AsyncSession(engine) as session:
            # The key of the item at DEEP, to start the deep page after.
            walk, after = [], None
            while len(walk) < DEEP:
                page, after = await followups.follow_up_page(
                    session, [campaign_id], 500, after, now=now
                )
                walk += page
                if after is None:
                    break
            deep_after = list(walk[DEEP - 1].sort_key()) if len(walk) >= DEEP else None
        for _ in range(REPEATS):
            async with AsyncSession(engine) as session:
                backend = await backend_pid(session)
                with cpu_clock(backend, cpu["first"]):
                    started = time.perf_counter()
                    first, _ = await followups.follow_up_page(
                        session, [campaign_id], PAGE, None, now=now
                    )
                    times["first"].append((time.perf_counter() - started) * 1000)
                with cpu_clock(backend, cpu["deep"]):
                    started = time.perf_counter()
                    deep, _ = await followups.follow_up_page(
                        session, [campaign_id], PAGE, deep_after, now=now
                    )
                    times["deep"].append((time.perf_counter() - started) * 1000)
                with cpu_clock(backend, cpu["panel"]):
                    started = time.perf_counter()
                    _, total = await followups.follow_up_panel(session, [campaign_id], now=now)
                    times["panel"].append((time.perf_counter() - started) * 1000)
        found = {
            "listed": total,
            "first_page_items": len(first),
            "deep_page_items": len(deep),
            "reasons": {
                reason: sum(item.reason == reason for item in walk) for reason in followups.REASONS
            },
        }
    finally:
        await engine.dispose()
    return {
        **found,
        **{f"{name}_ms": round(statistics.median(t), 2) for name, t in times.items()},
        **{f"{name}_cpu_ms": round(statistics.mean(t), 1) for name, t in cpu.items()},
    }


def listing(settings: Any, backend: str = "sqlite") -> dict[str, Any]:
    now = datetime.now(UTC)
    result: dict[str, Any] = {"backend": backend, "events": EVENTS, "prospects": PROSPECTS}
    with harness.workspace("followups") as work:
        context = harness.fresh_database(backend, work)
        url = context.__enter__()
        try:
            started = time.perf_counter()
            campaign_id = seeding.new_campaign(url, "Bench follow-ups")
            seeding.bulk_insert(url, _rows(campaign_id, now), COLUMNS)
            result["fill_seconds"] = round(time.perf_counter() - started, 1)
            result.update(asyncio.run(_measure(url, campaign_id, now)))
        finally:
            context.__exit__(None, None, None)
    return result


def followups_bench(settings: Any) -> dict[str, Any]:
    """The follow-up list's pages and count at 100,000 events, on SQLite and PostgreSQL."""
    found = {"sqlite": listing(settings, "sqlite")}
    if harness.postgres_available():
        found["postgres"] = listing(settings, "postgres")
    return found


BENCHMARKS = {"followups": followups_bench}
