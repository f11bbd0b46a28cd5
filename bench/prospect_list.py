"""The rep's prospect list on a 40,000-prospect campaign: every filter and sort.

One campaign holds 40,000 prospects (tiers 25/40/35 %), 1–3 contacts each, and
an email for most contacts in the states a sent campaign reaches: sent, opened,
clicked, replied, bounced, unsubscribed, or not sent yet. The rows are
bulk-inserted (executemany on SQLite, COPY on PostgreSQL), then ANALYZEd.

Each measurement is exactly what the campaign page reads for its prospect list
(`dashboard.tier_lists`: the first 25 of each tier, the tier sizes and, when
narrowed, the matching counts), and the next page of tier 2 through its keyset
cursor; median of `REPEATS` per query.
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
from bench.followups import backend_pid, cpu_clock
from webapp.campaigns.dashboard import tier_lists
from webapp.prospects.listing import ListQuery, list_tier
from webapp.web.pagination import PageRequest

PROSPECTS = 40_000
PER_PAGE = 25
REPEATS = 15
TARGET_MS = 150.0
"""The dashboard's pages took 50–150 ms when the list was measured by hand."""

QUERIES: dict[str, ListQuery] = {
    "default (activity)": ListQuery(sort="activity"),
    "by score": ListQuery(sort="score"),
    "by name": ListQuery(sort="name"),
    "hot": ListQuery(sort="activity", filter="hot"),
    "replied": ListQuery(sort="activity", filter="replied"),
    "clicked": ListQuery(sort="activity", filter="clicked"),
    "opened, no reply": ListQuery(sort="activity", filter="opened"),
    "not contacted yet": ListQuery(sort="activity", filter="uncontacted"),
    "bounced or unsubscribed": ListQuery(sort="activity", filter="stopped"),
    'search "lake"': ListQuery(sort="activity", search="lake"),
    'replied + search "lake", by name': ListQuery(sort="name", filter="replied", search="lake"),
}

COLUMNS = {
    "prospects": (
        "id", "campaign_id", "company_key", "name", "domain", "tier", "score", "score_reasons",
        "profile_version", "hot", "last_activity_at", "created_at", "updated_at",
    ),
    "contacts": (
        "id", "campaign_id", "prospect_id", "email", "first_name", "last_name", "bounced_at",
        "unsubscribed_at", "created_at",
    ),
    "contents": (
        "id", "campaign_id", "contact_id", "prospect_id", "tier", "subject", "html", "text",
        "send_status", "sent_at", "first_opened_at", "first_clicked_at", "replied_at",
        "attempts", "created_at",
    ),
}  # fmt: skip
WORDS = ("Lake", "Grand", "Royal", "River", "Star", "Golden", "North", "Blue", "Palm", "Oak")
KINDS = ("Casino", "Resort", "Hotel", "Gaming", "Club", "Group")


def _rows(campaign_id: int, now: datetime) -> dict[str, list[tuple[Any, ...]]]:
    rng = random.Random(40)
    prospects, contacts, contents = [], [], []
    contact_id = content_id = 0
    for number in range(1, PROSPECTS + 1):
        draw = rng.random()
        tier = 1 if draw < 0.25 else 2 if draw < 0.65 else 3
        score = {1: rng.randint(70, 100), 2: rng.randint(40, 69), 3: rng.randint(0, 39)}[tier]
        name = f"{rng.choice(WORDS)} {rng.choice(WORDS)} {rng.choice(KINDS)} {number}"
        domain = f"company{number}.example"
        reasons = '[{"points": 20, "label": "C-level contact"}]'
        latest: datetime | None = None
        hot = False
        people = []
        for _ in range(rng.choice((1, 1, 2, 3))):
            contact_id += 1
            state = rng.random()
            bounced = now - timedelta(days=2) if state < 0.02 else None
            unsubscribed = now - timedelta(days=1) if 0.02 <= state < 0.03 else None
            people.append(
                (contact_id, campaign_id, number, f"p{contact_id}@{domain}", "Ann", "Lee",
                 bounced, unsubscribed, now)
            )  # fmt: skip
            if rng.random() < 0.3:
                continue  # not written or sent yet
            sent = now - timedelta(days=rng.uniform(1, 20))
            engaged = rng.random()
            opened = sent + timedelta(hours=rng.uniform(1, 48)) if engaged < 0.25 else None
            clicked = opened + timedelta(minutes=5) if opened and engaged < 0.06 else None
            replied = opened + timedelta(hours=2) if opened and engaged < 0.012 else None
            for moment in (opened, clicked, replied):
                if moment is not None and (latest is None or moment > latest):
                    latest = moment
            hot = hot or replied is not None
            content_id += 1
            contents.append(
                (content_id, campaign_id, contact_id, number, tier, "Hello", "<p>Hi</p>", "Hi",
                 "sent", sent, opened, clicked, replied, 1, now)
            )  # fmt: skip
        contacts.extend(people)
        prospects.append(
            (number, campaign_id, domain, name, domain, tier, score, reasons, 1, hot, latest,
             now, now)
        )  # fmt: skip
    return {"prospects": prospects, "contacts": contacts, "contents": contents}


async def _measure(url: str, campaign_id: int) -> dict[str, dict[str, float]]:
    engine = create_async_engine(url)
    found: dict[str, dict[str, float]] = {}
    try:
        for label, query in QUERIES.items():
            first: list[float] = []
            second: list[float] = []
            cpu: list[float] = []
            shown = 0
            for _ in range(REPEATS):
                async with AsyncSession(engine) as session:
                    backend = await backend_pid(session)
                    with cpu_clock(backend, cpu):
                        started = time.perf_counter()
                        lists = await tier_lists(session, campaign_id, query, PER_PAGE)
                        first.append((time.perf_counter() - started) * 1000)
                    _, cursor = lists.pages[2]
                    shown = sum(lists.matching.values())
                    if cursor is not None:
                        started = time.perf_counter()
                        await list_tier(
                            session, campaign_id, 2, query, PageRequest(PER_PAGE, cursor)
                        )
                        second.append((time.perf_counter() - started) * 1000)
            found[label] = {
                "page_ms": round(statistics.median(first), 1),
                "next_ms": round(statistics.median(second), 1) if second else 0.0,
                "matching": shown,
                "page_cpu_ms": round(statistics.mean(cpu), 1),
            }
    finally:
        await engine.dispose()
    return found


def measure(settings: Any, backend: str = "sqlite") -> dict[str, Any]:
    now = datetime.now(UTC)
    result: dict[str, Any] = {"backend": backend, "prospects": PROSPECTS}
    with harness.workspace("prospect-list") as work, harness.fresh_database(backend, work) as url:
        started = time.perf_counter()
        campaign_id = seeding.new_campaign(url, "Bench prospect list")
        rows = _rows(campaign_id, now)
        seeding.bulk_insert(url, rows, COLUMNS)
        result["fill_seconds"] = round(time.perf_counter() - started, 1)
        result["contacts"] = len(rows["contacts"])
        result["emails"] = len(rows["contents"])
        result["queries"] = asyncio.run(_measure(url, campaign_id))
    slowest = max(q["page_ms"] for q in result["queries"].values())
    result["slowest_page_ms"] = slowest
    result["pass"] = slowest <= TARGET_MS
    return result


def prospect_list(settings: Any) -> dict[str, Any]:
    """The campaign page's prospect list at 40,000 prospects, on SQLite and PostgreSQL."""
    found = {"sqlite": measure(settings, "sqlite")}
    if harness.postgres_available():
        found["postgres"] = measure(settings, "postgres")
    return found


BENCHMARKS = {"prospect_list": prospect_list}
