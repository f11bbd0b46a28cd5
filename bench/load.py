"""Load for benchmarks: wrk runs over files of request paths, and their results.

wrk drives throughput through `bench/paths.lua`, which cycles through a file of
request paths and prints one JSON line of figures.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.constants import LINK_POSITION, PIXEL_LUA, SECRET
from bench.seeding import Seeded
from webapp.outbound.tokens import TokenSigner


def write_paths(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def pixel_paths(seeded: Seeded) -> list[str]:
    signer = TokenSigner(SECRET)
    return [f"/t/o/{signer.open_token(cid)}.gif" for cid in seeded.content_ids]


def click_paths(seeded: Seeded) -> list[str]:
    signer = TokenSigner(SECRET)
    return [f"/t/c/{signer.click_token(cid, LINK_POSITION)}" for cid in seeded.content_ids]


@dataclass
class WrkResult:
    """One wrk run: request counts, errors and latency percentiles (ms)."""

    requests: int
    seconds: float
    non_2xx: int
    socket_errors: int
    timeouts: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    server_cpu_s: float = 0.0
    """CPU time the server used during the run, when measured."""

    @property
    def rps(self) -> float:
        return round(self.requests / self.seconds, 1) if self.seconds else 0.0

    @property
    def cpu_us_per_request(self) -> float:
        return round(self.server_cpu_s * 1e6 / self.requests, 1) if self.requests else 0.0

    @property
    def ok(self) -> int:
        return self.requests - self.non_2xx

    @classmethod
    def combined(cls, runs: list[WrkResult]) -> WrkResult:
        """Several runs as one: totals, the median p50, the worst p99 and maximum."""
        return cls(
            requests=sum(run.requests for run in runs),
            seconds=sum(run.seconds for run in runs),
            non_2xx=sum(run.non_2xx for run in runs),
            socket_errors=sum(run.socket_errors for run in runs),
            timeouts=sum(run.timeouts for run in runs),
            p50_ms=statistics.median(run.p50_ms for run in runs),
            p99_ms=max(run.p99_ms for run in runs),
            max_ms=max(run.max_ms for run in runs),
            server_cpu_s=sum(run.server_cpu_s for run in runs),
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "ok": self.ok,
            "rps": self.rps,
            "non_2xx": self.non_2xx,
            "socket_errors": self.socket_errors,
            "timeouts": self.timeouts,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "max_ms": self.max_ms,
            "cpu_us_per_request": self.cpu_us_per_request,
        }


def ensure_wrk() -> str:
    """The wrk binary; installed from Debian's packages when missing (needs root)."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk not found: installing it with apt-get", file=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=False, timeout=300)
        found = shutil.which("wrk")
        if found:
            return found
    raise SystemExit("wrk is required: apt-get install wrk (Debian/Ubuntu) or brew install wrk")


def wrk(
    base: str,
    paths: Path | str,
    *,
    seconds: float,
    connections: int,
    threads: int = 1,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    max_requests: int = 0,
    timeout_s: int = 10,
) -> WrkResult:
    """Drive `base` with wrk for `seconds`; `paths` is a file of request paths or one path.

    With `max_requests`, each thread stops after its share (the run still ends at `seconds`).
    """
    binary = ensure_wrk()
    if isinstance(paths, str):
        single = Path(tempfile.mkstemp(prefix="tune-wrk-", suffix=".txt")[1])
        single.write_text(paths + "\n")
        paths = single
    args = [str(paths), method, str(max(0, max_requests // threads))]
    args += [f"{name}: {value}" for name, value in (headers or {}).items()]
    command = [
        binary,
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{max(1, round(seconds))}s",
        "--timeout",
        f"{timeout_s}s",
        "-s",
        str(PIXEL_LUA),
        base,
        "--",
        *args,
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    line = next(
        (row for row in done.stdout.splitlines() if row.startswith("WRK_JSON ")),
        None,
    )
    if line is None:
        raise RuntimeError(f"wrk failed: {done.stdout[-1000:]} {done.stderr[-1000:]}")
    data = json.loads(line.removeprefix("WRK_JSON "))
    return WrkResult(
        requests=int(data["requests"]),
        seconds=float(data["duration_us"]) / 1e6,
        non_2xx=int(data["status"]),
        socket_errors=int(data["connect"] + data["read"] + data["write"]),
        timeouts=int(data["timeout"]),
        p50_ms=round(float(data["p50_us"]) / 1000, 2),
        p99_ms=round(float(data["p99_us"]) / 1000, 2),
        max_ms=round(float(data["max_us"]) / 1000, 2),
    )
