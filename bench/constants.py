"""Constants every benchmark shares: where things live, the bench server's keys, URLs."""

from __future__ import annotations

import os
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
TUNE = str(Path(sys.executable).with_name("tune"))
SECRET = "bench-secret-key-0123456789abcdef"  # noqa: S105 - a throwaway bench server
API_KEY = "tune_bench_key_0123456789abcdefghij"
POSTGRES_ADMIN_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
PIXEL_LUA = BENCH_DIR / "paths.lua"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
LINK_POSITION = 1
"""Every seeded email has one tracked link, at this position."""
