"""CSV import over the API: rows per second, CPU and peak memory of the server and its child.

Each import goes to a fresh server and database, on SQLite and (when it
answers) PostgreSQL.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import httpx

from bench import harness
from bench.harness import API_KEY, running
from bench.import_tracking import csv_body
from bench.rounds import Settings


def imports(settings: Settings) -> dict[str, Any]:
    """CSV import over the API of 20,000 and 100,000 rows on SQLite and PostgreSQL.

    Each import goes to a fresh server and database (so the child process that
    imports uploads of 1 MB or more starts cold, as after a deploy); the
    memory figure is the peak, sampled every 50 ms, of the server and its
    child processes together. The 100,000 prospects are then re-analysed.
    """
    # Both sizes are over 1 MB of CSV, so both run in the child process: memory compares.
    sizes = (12_000, 20_000) if settings.quick else (20_000, 100_000)
    backends = ["sqlite", *(["postgresql"] if harness.postgres_available() else [])]
    figures: dict[str, Any] = {"load_before": [round(x, 2) for x in os.getloadavg()]}
    for backend in backends:
        for rows in sizes:
            figures[f"{backend}_{rows}"] = _import_once(backend, rows, analyse=rows == sizes[-1])
    figures["load_after"] = [round(x, 2) for x in os.getloadavg()]
    return figures


def _import_once(backend: str, rows: int, *, analyse: bool) -> dict[str, Any]:
    with harness.workspace("import") as workdir, harness.fresh_database(backend, workdir) as url:
        with (
            running(url, workdir) as server,
            httpx.Client(
                base_url=server.base, headers={"X-API-Key": API_KEY}, timeout=900
            ) as client,
        ):
            created = client.post(
                "/api/campaigns/create", json={"name": "Import", "industry": "casino"}
            )
            if created.status_code != 201:
                return {"status": f"not available: campaign create answered {created.status_code}"}
            campaign_id = created.json()["id"]
            body = csv_body(rows)
            rss_before = server.rss_mb()
            peak = [rss_before]
            done = threading.Event()

            def sample() -> None:
                while not done.wait(0.05):
                    peak[0] = max(peak[0], server.rss_mb())

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            cpu_before = server.cpu_seconds()
            started = time.monotonic()
            imported = client.post(
                f"/api/campaigns/{campaign_id}/prospects",
                content=body,
                headers={"Content-Type": "text/csv"},
            )
            import_s = time.monotonic() - started
            cpu_s = server.cpu_seconds() - cpu_before  # the child process is kept: counted
            done.set()
            sampler.join()
            if imported.status_code not in (200, 201):
                return {"status": f"import answered {imported.status_code}: {imported.text[:200]}"}
            summary = imported.json()
            figures: dict[str, Any] = {
                "rows": rows,
                "csv_mb": round(len(body) / 1e6, 1),
                "created": summary.get("created"),
                "rejected": summary.get("rejected"),
                "import_seconds": round(import_s, 2),
                "rows_per_second": round(rows / import_s) if import_s else 0,
                "cpu_seconds": round(cpu_s, 2),
                "rows_per_cpu_second": round(rows / cpu_s) if cpu_s else 0,
                "rss_mb_before": rss_before,
                "peak_rss_mb": peak[0],
            }
            if analyse:
                started = time.monotonic()
                analysed = client.post(f"/api/campaigns/{campaign_id}/analyse")
                figures["analyse_status"] = analysed.status_code
                figures["analyse_seconds"] = round(time.monotonic() - started, 1)
        return figures
