"""`tune run --workers 2`: merged metrics, dead workers dropped, and on PostgreSQL +
Redis one rate limit and exact event counts across both workers."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import truncate_postgres
from tests.support.databases import POSTGRES_URL
from tests.support.factories import make_campaign, make_recipient
from tests.support.servers import run_cli, serve, tune_env
from tests.web.test_ratelimit import REDIS_URL, SMALL_POOL, burst, create_key, redis_available
from webapp.core.config import Config
from webapp.core.db import Database

pytestmark = pytest.mark.slow

Scrape = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(base: str) -> Scrape:
    response = httpx.get(f"{base}/metrics", timeout=10)
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): float(sample.value)
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def worker_pids(scrape: Scrape) -> set[int]:
    return {
        int(dict(labels)["pid"])
        for name, labels in scrape
        if name == "tune_db_pool_worker_checked_out"
    }


def wait_for(
    base: str, condition: str, check: Callable[[Scrape], bool], timeout: float = 30
) -> Scrape:
    deadline = time.monotonic() + timeout
    while True:
        scrape = samples(base)
        if check(scrape):
            return scrape
        if time.monotonic() > deadline:
            raise AssertionError(f"{condition} not reached; last scrape: {scrape}")
        time.sleep(0.3)


def test_two_workers_sum_pool_gauges_and_drop_dead_workers(
    database_url: str, tmp_path: Path
) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_999999.db").write_bytes(b"left over from an earlier run")
    env = tune_env(
        database_url,
        tmp_path,
        DB_POOL_SIZE="3",
        DB_MAX_OVERFLOW="2",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
    )
    with serve(env, tmp_path, "--workers", "2") as base:
        assert not (metrics_dir / "counter_999999.db").exists()  # wiped at start
        # At rest no connection is held: each worker's sender looks for a mailbox as it
        # starts, so a scrape at that moment may see one checked out, never one kept.
        scrape = wait_for(
            base,
            "two workers publishing, at rest",
            lambda s: (
                len(worker_pids(s)) == 2
                and s[("tune_db_pool_size", ())] == 6
                and s[("tune_db_pool_checked_out", ())] == 0
            ),
        )
        # 3 per worker, summed (a new worker counts once it has opened its pool).
        assert scrape[("tune_db_pool_max", ())] == 10  # (3 + 2) per worker
        first, second = sorted(worker_pids(scrape))
        served_before = sum(
            v for (name, _), v in scrape.items() if name == "tune_http_requests_total"
        )

        os.kill(first, signal.SIGKILL)
        scrape = wait_for(
            base,
            "the dead worker dropped and a new one counted",
            lambda s: (
                first not in worker_pids(s)
                and len(worker_pids(s)) == 2
                and s[("tune_db_pool_size", ())] == 6
            ),
        )
        assert second in worker_pids(scrape)
        served_after = sum(
            v for (name, _), v in scrape.items() if name == "tune_http_requests_total"
        )
        assert served_after > served_before  # the dead worker's counts are kept
    assert not list(metrics_dir.glob("gauge_live*"))  # stopped workers marked themselves dead


def events_per_worker(metrics_dir: Path) -> dict[int, float]:
    """tune_events_total as each worker wrote it to its own file."""
    counts: dict[int, float] = {}
    for path in metrics_dir.glob("counter_*.db"):
        pid = int(path.stem.split("_")[1])
        for key, value, _, _ in MmapedDict.read_all_values_from_file(str(path)):
            if json.loads(key)[1] == "tune_events_total":
                counts[pid] = counts.get(pid, 0) + value
    return counts


async def seed(url: str, recipients: int) -> tuple[int, list[tuple[int, int]]]:
    db = Database(Config(database_url=url, secret_key="x" * 20))
    try:
        async with db.write() as session:
            campaign = await make_campaign(session, "Two workers")
            contents = [await make_recipient(session, campaign) for _ in range(recipients)]
            return campaign.id, [(content.id, content.contact_id) for content in contents]
    finally:
        await db.dispose()


async def track_all(base: str, key: str, kind: str, pairs: list[tuple[int, int]]) -> list[int]:
    # No keep-alive: every event opens its own connection, so both workers accept some.
    # In small waves: a worker that wakes first accepts every connection waiting on the
    # shared socket, so one burst of 60 could all land on one worker.
    limits = httpx.Limits(max_keepalive_connections=0, max_connections=100)
    statuses: list[int] = []
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        for start in range(0, len(pairs), 4):
            responses = await asyncio.gather(
                *(
                    client.post(
                        f"{base}/api/tracking/{kind}",
                        headers={"X-API-Key": key},
                        json={"content_id": content_id, "contact_id": contact_id},
                    )
                    for content_id, contact_id in pairs[start : start + 4]
                )
            )
            statuses.extend(response.status_code for response in responses)
            await asyncio.sleep(0.02)
    return statuses


@pytest.mark.skipif(POSTGRES_URL is None, reason="needs TEST_POSTGRES_URL")
@pytest.mark.skipif(not redis_available(), reason="Redis is not running on 127.0.0.1:6379")
def test_two_workers_on_postgres_and_redis(postgres_schema: str, tmp_path: Path) -> None:
    asyncio.run(truncate_postgres(postgres_schema))
    campaign_id, pairs = asyncio.run(seed(postgres_schema, 20))
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = tune_env(
        postgres_schema,
        tmp_path,
        RATELIMIT_STORAGE_URI=REDIS_URL,
        RATE_LIMIT="100/minute",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        **SMALL_POOL,
    )
    tracker = create_key(env, tmp_path)
    bursty = create_key(env, tmp_path)
    assert run_cli(["keys", "list"], env, tmp_path).returncode == 0
    with serve(env, tmp_path, "--workers", "2") as base:
        opens = asyncio.run(track_all(base, tracker, "email-opened", pairs * 3))
        clicks = asyncio.run(track_all(base, tracker, "email-clicked", pairs))
        statuses = asyncio.run(burst([base], bursty, 130))
        campaign = httpx.get(
            f"{base}/api/campaigns/{campaign_id}", headers={"X-API-Key": tracker}, timeout=10
        ).json()
        scrape = samples(base)
        per_worker = events_per_worker(metrics_dir)

    assert opens == [200] * 60
    assert clicks == [200] * 20
    assert statuses.count(200) == 100  # one limit for both workers
    assert statuses.count(429) == 30
    assert campaign["counts"]["opened"] == 20
    assert campaign["counts"]["clicked"] == 20
    opened = sum(
        scrape[("tune_events_total", (("flagged", flagged), ("kind", "open")))]
        for flagged in ("false", "true")
    )
    clicked = sum(
        scrape[("tune_events_total", (("flagged", flagged), ("kind", "click")))]
        for flagged in ("false", "true")
    )
    assert (opened, clicked) == (60, 20)
    assert scrape[("tune_rate_limited_total", ())] == 30
    # Both workers stored some of the events, and their counts add up.
    busy = {pid: count for pid, count in per_worker.items() if count}
    assert len(busy) == 2, per_worker
    assert sum(busy.values()) == 80
