"""Tracking while an import runs: pixel throughput and p99 idle vs during a 100k-row import.

One server, one SQLite database. Each round measures the pixel alone, then
starts a 100,000-row CSV import over the API into a fresh campaign and
measures the pixel again while the import runs. Targets: the pixel keeps at
least 70% of its idle throughput and its p99 stays under 3x idle. The import's
own rows/s is reported alone and under the pixel load.

    python -m bench import_tracking [--seconds 8] [--publish]
"""

from __future__ import annotations

import statistics
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench import harness
from bench.harness import API_KEY, Server, WrkResult, running, wrk

THROUGHPUT_TARGET = 0.7
P99_TARGET = 3.0


def csv_body(rows: int) -> bytes:
    """`rows` prospects, one contact each, as CSV (also the `import` benchmark's file)."""
    lines = ["company,domain,email,first_name,last_name,title,employees,country"]
    lines += [
        f"Company {n},company{n}.example,person{n}@company{n}.example,Pat,Lee {n},"
        f"{('CEO', 'VP Sales', 'Manager')[n % 3]},{(n * 37) % 5000},"
        f"{('US', 'GB', 'DE', 'FR')[n % 4]}"
        for n in range(rows)
    ]
    return ("\n".join(lines) + "\n").encode()


class Import(threading.Thread):
    """One CSV import over the API, timed, in the background."""

    def __init__(self, client: httpx.Client, body: bytes) -> None:
        super().__init__(daemon=True)
        self.client, self.body = client, body
        self.started_at = self.finished_at = 0.0
        self.status = 0
        self.created = 0

    def run(self) -> None:
        created = self.client.post(
            "/api/campaigns/create", json={"name": "Import", "industry": "casino"}
        )
        campaign_id = created.json()["id"]
        self.started_at = time.monotonic()
        answer = self.client.post(
            f"/api/campaigns/{campaign_id}/prospects",
            content=self.body,
            headers={"Content-Type": "text/csv"},
        )
        self.finished_at = time.monotonic()
        self.status = answer.status_code
        self.created = answer.json().get("created", 0) if answer.status_code < 300 else 0

    @property
    def seconds(self) -> float:
        return self.finished_at - self.started_at


def _busy_round(
    server: Server, client: httpx.Client, paths: Path, body: bytes, seconds: float, connections: int
) -> tuple[WrkResult, Import, float]:
    """Pixel load while an import runs; the share of the load window the import covered."""
    job = Import(client, body)
    job.start()
    while not job.started_at:
        time.sleep(0.01)
    time.sleep(0.3)  # past campaign creation and upload: the import is parsing and writing
    began = time.monotonic()
    result = wrk(server.base, paths, seconds=seconds, connections=connections)
    ended = time.monotonic()
    job.join()
    covered = max(0.0, min(job.finished_at, ended) - began) / (ended - began)
    return result, job, round(covered, 2)


def run(settings: Any) -> dict[str, Any]:
    rows = 20_000 if settings.quick else 100_000
    seconds = settings.seconds
    connections = settings.connections
    body = csv_body(rows)
    with harness.workspace("import-tracking") as workdir:
        with harness.fresh_database("sqlite", workdir) as url:
            seeded = harness.seed_campaign(url, settings.contents)
            paths = harness.write_paths(workdir / "pixel.txt", harness.pixel_paths(seeded))
            with (
                running(url, workdir) as server,
                httpx.Client(
                    base_url=server.base, headers={"X-API-Key": API_KEY}, timeout=900
                ) as client,
            ):
                wrk(server.base, paths, seconds=2, connections=connections)  # warm up
                alone = Import(client, body)
                alone.run()
                idle: list[WrkResult] = []
                busy: list[WrkResult] = []
                imports: list[Import] = []
                covered: list[float] = []
                for _ in range(settings.rounds):
                    idle.append(wrk(server.base, paths, seconds=seconds, connections=connections))
                    result, job, share = _busy_round(
                        server, client, paths, body, seconds, connections
                    )
                    busy.append(result)
                    imports.append(job)
                    covered.append(share)
                locked = server.log_count("database is locked")
                not_recorded = server.log_count("pixel_not_recorded")
    throughput = [
        round(b.rps / a.rps, 3) if a.rps else 0.0 for a, b in zip(idle, busy, strict=True)
    ]
    p99 = [
        round(b.p99_ms / a.p99_ms, 2) if a.p99_ms else 0.0 for a, b in zip(idle, busy, strict=True)
    ]
    throughput_ratio = statistics.median(throughput)
    p99_ratio = statistics.median(p99)
    return {
        "rows": rows,
        "connections": connections,
        "seconds_per_run": seconds,
        "idle": WrkResult.combined(idle).as_json(),
        "during_import": WrkResult.combined(busy).as_json(),
        "round_throughput_ratios": throughput,
        "round_p99_ratios": p99,
        "throughput_ratio": throughput_ratio,
        "p99_ratio": p99_ratio,
        "throughput_ok": throughput_ratio >= THROUGHPUT_TARGET,
        "p99_ok": p99_ratio < P99_TARGET,
        "import_covered_window": covered,
        "import_statuses": [alone.status, *(job.status for job in imports)],
        "import_created": [alone.created, *(job.created for job in imports)],
        "import_alone_seconds": round(alone.seconds, 1),
        "import_alone_rows_per_second": round(rows / alone.seconds) if alone.seconds else 0,
        "import_under_load_rows_per_second": [
            round(rows / job.seconds) if job.seconds else 0 for job in imports
        ],
        "errors": sum(b.non_2xx + b.socket_errors + b.timeouts for b in busy),
        "database_locked": locked,
        "not_recorded": not_recorded,
    }
