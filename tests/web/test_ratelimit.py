"""Rate-limit exactness with real servers: one process, and two processes sharing Redis."""

from __future__ import annotations

import asyncio
import socket
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.support.servers import REDIS_URL, redis_available, run_cli, serve, tune_env


async def burst(bases: list[str], key: str, count: int) -> list[int]:
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=200)) as client:
        responses = await asyncio.gather(
            *(
                client.get(f"{bases[n % len(bases)]}/api/industries", headers={"X-API-Key": key})
                for n in range(count)
            )
        )
    return [response.status_code for response in responses]


SMALL_POOL = {"DB_POOL_SIZE": "4", "DB_MAX_OVERFLOW": "0"}
"""The bursts below count 200s and 429s exactly: each server keeps to 4 PostgreSQL
connections (requests queue for them), so a busy shared PostgreSQL does not refuse
new connections with "too many clients" (a 503) in the middle of a burst."""


def create_key(env: dict[str, str], tmp_path: Path) -> str:
    result = run_cli(["keys", "create", "--name", "burst"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_130_concurrent_requests_to_a_real_server_give_100_and_30(
    database_url: str, tmp_path: Path
) -> None:
    env = tune_env(database_url, tmp_path, **SMALL_POOL)
    key = create_key(env, tmp_path)
    with serve(env, tmp_path) as base:
        statuses = asyncio.run(burst([base], key, 130))
    assert Counter(statuses) == {200: 100, 429: 30}


@pytest.mark.skipif(not redis_available(), reason="Redis is not running on 127.0.0.1:6379")
def test_two_processes_sharing_redis_enforce_one_limit(database_url: str, tmp_path: Path) -> None:
    env = tune_env(database_url, tmp_path, RATELIMIT_STORAGE_URI=REDIS_URL, **SMALL_POOL)
    key = create_key(env, tmp_path)
    with serve(env, tmp_path) as first, serve(env, tmp_path) as second:
        statuses = asyncio.run(burst([first, second], key, 130))
    assert Counter(statuses) == {200: 100, 429: 30}


@pytest.mark.skipif(not redis_available(), reason="Redis is not running on 127.0.0.1:6379")
def test_two_workers_of_one_server_share_the_redis_limit(database_url: str, tmp_path: Path) -> None:
    env = tune_env(database_url, tmp_path, RATELIMIT_STORAGE_URI=REDIS_URL, **SMALL_POOL)
    key = create_key(env, tmp_path)
    with serve(env, tmp_path, "--workers", "2") as base:
        statuses = asyncio.run(burst([base], key, 130))
    assert Counter(statuses) == {200: 100, 429: 30}


def test_rate_limit_fails_open_when_redis_is_down(database_url: str, tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]
    env = tune_env(
        database_url,
        tmp_path,
        RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{dead_port}",
        RATE_LIMIT="2/minute",
    )
    key = create_key(env, tmp_path)
    with serve(env, tmp_path) as base:
        statuses = [
            httpx.get(f"{base}/api/industries", headers={"X-API-Key": key}, timeout=30).status_code
            for _ in range(4)
        ]
    assert statuses == [200, 200, 200, 200]
    log = "\n".join(path.read_text() for path in tmp_path.glob("server-*.log"))
    assert "rate_limit_storage_error" in log
