"""Tune's benchmarks by name, one function each; every one returns its figures as a dict.

The load benchmarks live in `throughput`, page latency in `pages`, CSV import in
`csv_import`; their settings and alternating rounds in `rounds`.
"""

from __future__ import annotations

from bench.csv_import import imports
from bench.pages import pages
from bench.rounds import Benchmark, Settings
from bench.throughput import (
    TARGETS,
    concurrency,
    groupcommit,
    memory,
    pixel,
    postgres,
    workers,
)

__all__ = [
    "BENCHMARKS",
    "TARGETS",
    "Benchmark",
    "Settings",
    "concurrency",
    "groupcommit",
    "imports",
    "memory",
    "pages",
    "pixel",
    "postgres",
    "workers",
]

BENCHMARKS: dict[str, Benchmark] = {
    "pixel": pixel,
    "concurrency": concurrency,
    "groupcommit": groupcommit,
    "pages": pages,
    "import": imports,
    "memory": memory,
    "postgres": postgres,
}
