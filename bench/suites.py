"""Tune's benchmarks, one function each; every one returns its figures as a dict.

Figures that compare two things are ratios measured in the same run, on the
same machine, one after the other: absolute requests per second on a shared
machine drift, ratios much less.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench import harness
from bench.harness import API_KEY, Seeded, Server, WrkResult, running, wrk
from bench.import_tracking import csv_body
from webapp.web.pagination import encode_cursor


@dataclass
class Settings:
    """How long and how hard to run; `quick` shortens everything for a smoke run."""

    seconds: float = 8.0
    rounds: int = 3
    """Rounds of A then B for each ratio; the median round's ratio is reported."""
    connections: int = 64
    memory_hits: int = 1_000_000
    memory_seconds: float = 300.0
    contents: int = 10_000
    quick: bool = False


Benchmark = Callable[[Settings], dict[str, Any]]


def _ratio(part: float, whole: float) -> float:
    return round(part / whole, 3) if whole else 0.0


Side = Callable[[float], WrkResult]
"""One thing to measure: runs wrk for the given seconds against one route."""

YARDSTICK = "quart"
"""Every ratio is a share of the bare Quart app's requests per second in the same round."""

TARGETS = {"pixel": 1.0, "click": 0.9, "health": 0.8, "api_read": 0.8, "api_post": 0.6}
"""Each route's target, as a share of the bare Quart app (see docs/benchmarks.md)."""


def _rounds(
    settings: Settings, sides: dict[str, Side], yardsticks: dict[str, str] | None = None
) -> dict[str, dict[str, Any]]:
    """Every side in turn, for `settings.rounds` rounds; each side's share of its yardstick
    (`yardsticks[side]`, else the bare Quart app at the same connections).

    Other work on a shared machine comes and goes within seconds; alternating
    short runs and taking the median round's ratio keeps a burst of it from
    landing on one side only.
    """
    seconds = max(2.0, settings.seconds / 2)
    runs: dict[str, list[WrkResult]] = {name: [] for name in sides}
    for _ in range(settings.rounds):
        for name, side in sides.items():
            runs[name].append(side(seconds))
    figures: dict[str, dict[str, Any]] = {}
    yardsticks = yardsticks or {}
    for name, results in runs.items():
        yard_runs = runs[yardsticks.get(name, YARDSTICK)]
        ratios = [_ratio(run.rps, yard.rps) for run, yard in zip(results, yard_runs, strict=True)]
        figures[name] = {
            **WrkResult.combined(results).as_json(),
            "round_rps": [run.rps for run in results],
            "round_ratios": ratios,
            "vs_quart": statistics.median(ratios),
        }
    for name, values in figures.items():
        # Requests per CPU-second as a share of Quart's: steadier than throughput when
        # other work takes the cores away now and then.
        yard_cpu = figures[yardsticks.get(name, YARDSTICK)]["cpu_us_per_request"]
        values["cpu_vs_quart"] = _ratio(yard_cpu, values["cpu_us_per_request"])
    return figures


def _get(server: Server, paths: Path | str, connections: int, **options: Any) -> Side:
    """wrk against `server`, recording the server's CPU time over the run."""

    def side(seconds: float) -> WrkResult:
        before = server.cpu_seconds()
        result = wrk(server.base, paths, seconds=seconds, connections=connections, **options)
        result.server_cpu_s = server.cpu_seconds() - before
        return result

    return side


def _errors(run: dict[str, Any]) -> int:
    return int(run["non_2xx"] + run["socket_errors"] + run["timeouts"])


def _with_pixel_server(
    backend: str,
    settings: Settings,
    work: Callable[[Server, str, Path, Seeded], dict[str, Any]],
    *args: str,
    **env: str,
) -> dict[str, Any]:
    with harness.workspace("pixel") as workdir, harness.fresh_database(backend, workdir) as url:
        seeded = harness.seed_campaign(url, settings.contents)
        paths = harness.write_paths(workdir / "pixel.txt", harness.pixel_paths(seeded))
        with running(url, workdir, *args, **env) as server:
            return {"backend": backend, **work(server, url, paths, seeded)}


def _stored(server: Server, url: str, before: int, acknowledged: int) -> dict[str, Any]:
    stored = harness.settle(server, url, before + acknowledged) - before
    return {
        "events_stored": stored,
        "events_acknowledged": acknowledged,
        "events_at_least_acknowledged": stored >= acknowledged,
        "database_locked": server.log_count("database is locked"),
        "not_recorded": server.log_count("_not_recorded"),
    }


# 1 ---------------------------------------------------------------------------------------------


def pixel(settings: Settings, backend: str = "sqlite") -> dict[str, Any]:
    """Tune's routes as a share of a bare Quart app (and a raw ASGI app), 64 connections.

    Pixel, click redirect, /api/health, a key-authenticated API read and
    POST /api/tracking/email-opened, alternating with the two ceiling apps in
    every round; p50/p99 and events stored against events acknowledged.
    """
    c = settings.connections

    def work(server: Server, url: str, paths: Path, seeded: Seeded) -> dict[str, Any]:
        workdir = server.workdir
        clicks = harness.write_paths(workdir / "click.txt", harness.click_paths(seeded))
        posts = harness.write_paths(
            workdir / "api.txt",
            [
                f"/api/tracking/email-opened?content_id={content}&contact_id={contact}"
                for content, contact in zip(seeded.content_ids, seeded.contact_ids, strict=True)
            ],
        )
        key = {"X-API-Key": API_KEY}
        before = harness.count_events(url)
        with harness.ceilings(workdir) as yard:
            figures = _rounds(
                settings,
                {
                    "raw": _get(yard["raw"], paths, c),
                    "quart": _get(yard["quart"], paths, c),
                    "health": _get(server, "/api/health", c),
                    "pixel": _get(server, paths, c),
                    "click": _get(server, clicks, c),
                    "api_read": _get(
                        server, f"/api/campaigns/{seeded.campaign_id}/stats", c, headers=key
                    ),
                    "api_post": _get(server, posts, c, method="POST", headers=key),
                },
            )
        acknowledged = sum(figures[name]["ok"] for name in ("pixel", "click", "api_post"))
        return {
            "connections": c,
            "routes": figures,
            **_stored(server, url, before, acknowledged),
            "errors": sum(_errors(figures[name]) for name in figures),
        }

    return _with_pixel_server(backend, settings, work)


# 2 ---------------------------------------------------------------------------------------------


def concurrency(settings: Settings, backend: str = "sqlite") -> dict[str, Any]:
    """Pixel vs bare Quart at 64 and at 500 connections, alternating: errors, lost events."""

    def work(server: Server, url: str, paths: Path, _: Seeded) -> dict[str, Any]:
        before = harness.count_events(url)
        with harness.ceilings(server.workdir) as yard:
            figures = _rounds(
                settings,
                {
                    "quart": _get(yard["quart"], paths, 64),
                    "pixel": _get(server, paths, 64),
                    "quart_500": _get(yard["quart"], paths, 500),
                    "pixel_500": _get(server, paths, 500),
                },
                {"pixel_500": "quart_500", "quart_500": "quart_500"},
            )
        at_500 = figures["pixel_500"]["round_ratios"]
        ratio_64 = figures["pixel"]["vs_quart"]
        ratio_500 = figures["pixel_500"]["vs_quart"]
        acknowledged = figures["pixel"]["ok"] + figures["pixel_500"]["ok"]
        return {
            "routes": figures,
            "pixel_vs_quart_64": ratio_64,
            "pixel_vs_quart_500": ratio_500,
            "round_ratios_500": at_500,
            "change_500_vs_64": _ratio(ratio_500 - ratio_64, ratio_64),
            **_stored(server, url, before, acknowledged),
            "errors_500": _errors(figures["pixel_500"]) + _errors(figures["quart_500"]),
        }

    return _with_pixel_server(backend, settings, work)


# 3 ---------------------------------------------------------------------------------------------


def groupcommit(settings: Settings, backend: str = "sqlite") -> dict[str, Any]:
    """Group commit (batches of up to 500) vs one commit per event, pixel load."""
    runs: dict[str, WrkResult] = {}
    stored: dict[str, int] = {}
    for label, batch in (("group_commit", "500"), ("one_commit_per_event", "1")):

        def work(server: Server, url: str, paths: Path, _: Seeded, label: str = label) -> Any:
            result = wrk(server.base, paths, seconds=settings.seconds, connections=64)
            runs[label] = result
            stored[label] = harness.settle(server, url, result.ok)
            return {}

        _with_pixel_server(backend, settings, work, TUNE_EVENT_BATCH_MAX=batch)
    return {
        "backend": backend,
        "group_commit": runs["group_commit"].as_json(),
        "one_commit_per_event": runs["one_commit_per_event"].as_json(),
        "speedup": _ratio(runs["group_commit"].rps, runs["one_commit_per_event"].rps),
        "events_at_least_200s": all(stored[k] >= runs[k].ok for k in runs),
    }


# 5 ---------------------------------------------------------------------------------------------


def _latency(base: str, path: str, settings: Settings, headers: dict[str, str]) -> WrkResult:
    return wrk(base, path, seconds=max(2.0, settings.seconds / 2), connections=4, headers=headers)


def _sign_in(server: Server) -> str | None:
    """A dashboard session cookie for a fresh admin, or None without a dashboard."""
    password = "bench password 0123456789"  # noqa: S105 - a throwaway bench user
    created = subprocess.run(
        [harness.TUNE, "users", "create", "bench@example.com", "--admin"],
        input=password + "\n",
        env=server.env,
        cwd=server.workdir,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if created.returncode != 0:
        return None
    with httpx.Client(base_url=server.base, timeout=10) as client:
        page = client.get("/login")
        match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        if page.status_code != 200 or match is None:
            return None
        signed_in = client.post(
            "/login",
            data={
                "email": "bench@example.com",
                "password": password,
                "csrf_token": match.group(1),
                "next": "/campaigns",
            },
        )
        cookie = client.cookies.get("session")
        if signed_in.status_code not in (302, 303) or not cookie:
            return None
        return f"session={cookie}"


def pages(settings: Settings) -> dict[str, Any]:
    """Campaign page and stats API at 1,000 vs 1,000,000 events; tier pages at 100,000."""
    events_big = 100_000 if settings.quick else 1_000_000
    prospects_big = 10_000 if settings.quick else 100_000
    with harness.workspace("pages") as workdir, harness.fresh_database("sqlite", workdir) as url:
        started = time.monotonic()
        small = harness.seed_campaign(url, 1_000)
        harness.seed_events(url, small, 1_000)
        big = harness.seed_campaign(url, 1_000)
        harness.seed_events(url, big, events_big)
        wide = harness.seed_campaign(url, prospects_big)
        seeding = round(time.monotonic() - started, 1)
        key = {"X-API-Key": API_KEY}
        with running(url, workdir) as server:
            figures: dict[str, Any] = {"seed_seconds": seeding, "events_big": events_big}
            for name, path in (
                ("stats_api", "/api/campaigns/{}/stats"),
                ("campaign_api", "/api/campaigns/{}"),
            ):
                few = _latency(server.base, path.format(small.campaign_id), settings, key)
                many = _latency(server.base, path.format(big.campaign_id), settings, key)
                figures[name] = {
                    "p50_ms_1k": few.p50_ms,
                    "p50_ms_big": many.p50_ms,
                    "p99_ms_1k": few.p99_ms,
                    "p99_ms_big": many.p99_ms,
                    "ratio_p50": _ratio(many.p50_ms, few.p50_ms),
                }
            deep = encode_cursor([False, 1, wide.content_ids[-1]])
            first_api = _latency(
                server.base, f"/api/campaigns/{wide.campaign_id}/prospects/1", settings, key
            )
            deep_api = _latency(
                server.base,
                f"/api/campaigns/{wide.campaign_id}/prospects/1?cursor={deep}",
                settings,
                key,
            )
            figures["tier_api"] = {
                "prospects": prospects_big,
                "p50_ms_first": first_api.p50_ms,
                "p50_ms_deep": deep_api.p50_ms,
                "ratio_p50": _ratio(deep_api.p50_ms, first_api.p50_ms),
            }
            cookie = _sign_in(server)
            if cookie is None:
                figures["dashboard"] = "not available yet"
                return figures
            session = {"Cookie": cookie}
            few = _latency(server.base, f"/campaigns/{small.campaign_id}", settings, session)
            many = _latency(server.base, f"/campaigns/{big.campaign_id}", settings, session)
            first = _latency(
                # The score order, whose keyset the deep cursor above is in.
                server.base,
                f"/campaigns/{wide.campaign_id}/tiers/1?sort=score",
                settings,
                session,
            )
            deep_page = _latency(
                server.base,
                f"/campaigns/{wide.campaign_id}/tiers/1?sort=score&cursor={deep}",
                settings,
                session,
            )
            figures["campaign_page"] = {
                "p50_ms_1k": few.p50_ms,
                "p50_ms_big": many.p50_ms,
                "ratio_p50": _ratio(many.p50_ms, few.p50_ms),
                "non_2xx": few.non_2xx + many.non_2xx,
            }
            figures["tier_page"] = {
                "p50_ms_first": first.p50_ms,
                "p50_ms_deep": deep_page.p50_ms,
                "ratio_p50": _ratio(deep_page.p50_ms, first.p50_ms),
                "non_2xx": first.non_2xx + deep_page.non_2xx,
            }
            return figures


# 6 ---------------------------------------------------------------------------------------------


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


# 7 ---------------------------------------------------------------------------------------------


def memory(settings: Settings) -> dict[str, Any]:
    """Server RSS after 1,000 pixel hits vs after up to 1,000,000 (bounded in time)."""
    hits = 50_000 if settings.quick else settings.memory_hits
    limit_s = 30.0 if settings.quick else settings.memory_seconds

    def work(server: Server, url: str, paths: Path, _: Seeded) -> dict[str, Any]:
        # wrk runs for its whole duration even when its threads stop early: size each run.
        warm = wrk(server.base, paths, seconds=2, connections=16, max_requests=1_000)
        rss_warm = server.rss_mb()
        samples = [(warm.ok, rss_warm)]
        served = warm.ok
        rate = max(100.0, warm.rps)
        deadline = time.monotonic() + limit_s
        while served < hits and deadline - time.monotonic() > 1:
            slice_s = min(30.0, deadline - time.monotonic(), (hits - served) / rate + 1)
            step = wrk(server.base, paths, seconds=slice_s, connections=128)
            served += step.ok
            rate = max(100.0, step.rps)
            samples.append((served, server.rss_mb()))
        rss_end = server.rss_mb()
        return {
            "hits_warm": warm.ok,
            "rss_mb_warm": rss_warm,
            "hits_total": served,
            "rss_mb_end": rss_end,
            "growth_mb": round(rss_end - rss_warm, 1),
            "samples": samples,
            "reached_target": served >= hits,
        }

    return _with_pixel_server("sqlite", settings, work)


# 8 ---------------------------------------------------------------------------------------------


def postgres(settings: Settings) -> dict[str, Any]:
    """1-3 on PostgreSQL, and the pixel on 1 vs 2 workers (rate limits in Redis)."""
    if not harness.postgres_available():
        return {"status": "skipped: no PostgreSQL at " + harness.POSTGRES_ADMIN_URL}
    result: dict[str, Any] = {
        "pixel": pixel(settings, "postgres"),
        "concurrency": concurrency(settings, "postgres"),
        "groupcommit": groupcommit(settings, "postgres"),
        "workers": workers(settings),
    }
    return result


def workers(settings: Settings) -> dict[str, Any]:
    """One worker and two workers on the same PostgreSQL database, alternating with Quart."""
    redis = {"RATELIMIT_STORAGE_URI": harness.REDIS_URL}

    def work(one: Server, url: str, paths: Path, _: Seeded) -> dict[str, Any]:
        before = harness.count_events(url)
        with (
            running(url, one.workdir, "--workers", "2", **redis) as two,
            harness.ceilings(one.workdir) as yard,
        ):
            figures = _rounds(
                settings,
                {
                    "quart": _get(yard["quart"], paths, settings.connections),
                    "pixel_1_worker": _get(one, paths, settings.connections),
                    "pixel_2_workers": _get(two, paths, settings.connections),
                },
            )
        two_vs_one = [
            _ratio(b, a)
            for a, b in zip(
                figures["pixel_1_worker"]["round_rps"],
                figures["pixel_2_workers"]["round_rps"],
                strict=True,
            )
        ]
        acknowledged = figures["pixel_1_worker"]["ok"] + figures["pixel_2_workers"]["ok"]
        return {
            "routes": figures,
            "round_ratios_2_vs_1": two_vs_one,
            "two_workers_vs_one": statistics.median(two_vs_one),
            **_stored(one, url, before, acknowledged),
        }

    return _with_pixel_server("postgres", settings, work, **redis)


BENCHMARKS: dict[str, Benchmark] = {
    "pixel": pixel,
    "concurrency": concurrency,
    "groupcommit": groupcommit,
    "pages": pages,
    "import": imports,
    "memory": memory,
    "postgres": postgres,
}
