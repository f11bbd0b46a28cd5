"""Shared parts of Tune's benchmarks, in one namespace: `from bench import harness`.

Every benchmark starts `tune run` (uvicorn, uvloop, httptools) on a free
loopback port against a database made for it, and drives it from another
process: wrk for throughput, a Python asyncio client where each acknowledged
request must be logged. The parts live by concern: `constants`, `databases`
(fresh databases), `seeding` (bulk rows), `servers` (processes), `load` (wrk
and its results) and `machine` (what the figures were measured on).
"""

from __future__ import annotations

from bench.constants import (
    API_KEY,
    BENCH_DIR,
    CLOCK_TICKS,
    LINK_POSITION,
    PIXEL_LUA,
    POSTGRES_ADMIN_URL,
    REDIS_URL,
    RESULTS_DIR,
    SECRET,
    TUNE,
)
from bench.databases import count_events, fresh_database, postgres_available
from bench.load import WrkResult, click_paths, ensure_wrk, pixel_paths, write_paths, wrk
from bench.machine import machine
from bench.seeding import Seeded, bulk_insert, new_campaign, seed_campaign, seed_events
from bench.servers import (
    Server,
    ceilings,
    children,
    free_port,
    running,
    server_env,
    settle,
    start_ceiling,
    start_server,
    workspace,
)

__all__ = [
    "API_KEY",
    "BENCH_DIR",
    "CLOCK_TICKS",
    "LINK_POSITION",
    "PIXEL_LUA",
    "POSTGRES_ADMIN_URL",
    "REDIS_URL",
    "RESULTS_DIR",
    "SECRET",
    "TUNE",
    "Seeded",
    "Server",
    "WrkResult",
    "bulk_insert",
    "ceilings",
    "children",
    "click_paths",
    "count_events",
    "ensure_wrk",
    "free_port",
    "fresh_database",
    "machine",
    "new_campaign",
    "pixel_paths",
    "postgres_available",
    "running",
    "seed_campaign",
    "seed_events",
    "server_env",
    "settle",
    "start_ceiling",
    "start_server",
    "workspace",
    "write_paths",
    "wrk",
]
