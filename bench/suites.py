"""Tune's benchmarks, one function each; every one returns its figures as a dict.

Figures that compare two things are ratios measured in the same run, on the
same machine, one after the other: absolute requests per second on a shared
machine drift, ratios much less.
"""

from __future__ import annotations

import re
import statistics
import subprocess
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


def _alternate(
    settings: Settings, base: Callable[[float], WrkResult], other: Callable[[float], WrkResult]
) -> tuple[WrkResult, WrkResult, list[float]]:
    """`base` then `other`, for `settings.rounds` rounds splitting `settings.seconds` each.

    Other work on a shared machine comes and goes within seconds; alternating
    short runs and taking the median round's ratio keeps a burst of it from
    landing on one side only.
    """
    seconds = max(2.0, settings.seconds * 2 / settings.rounds)
    bases: list[WrkResult] = []
    others: list[WrkResult] = []
    for _ in range(settings.rounds):
        bases.append(base(seconds))
        others.append(other(seconds))
    ratios = [_ratio(b.rps, a.rps) for a, b in zip(bases, others, strict=True)]
    return WrkResult.combined(bases), WrkResult.combined(others), ratios


def _pixel_pair(
    server: Server, url: str, paths: Path, settings: Settings, connections: int
) -> dict[str, Any]:
    """Health and pixel in turns against one server: throughput ratio, p99s, events vs 200s."""
    before = harness.count_events(url)
    health, pixel, ratios = _alternate(
        settings,
        lambda seconds: wrk(server.base, "/api/health", seconds=seconds, connections=connections),
        lambda seconds: wrk(server.base, paths, seconds=seconds, connections=connections),
    )
    stored = harness.settle(server, url, before + pixel.ok) - before
    return {
        "connections": connections,
        "health": health.as_json(),
        "pixel": pixel.as_json(),
        "round_ratios": ratios,
        "pixel_vs_health": statistics.median(ratios),
        "events_stored": stored,
        "pixel_200s": pixel.ok,
        "events_at_least_200s": stored >= pixel.ok,
        "errors": pixel.non_2xx + pixel.socket_errors + pixel.timeouts,
        "database_locked": server.log_count("database is locked"),
        "not_recorded": server.log_count("pixel_not_recorded"),
    }


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


# 1 ---------------------------------------------------------------------------------------------


def pixel(settings: Settings, backend: str = "sqlite") -> dict[str, Any]:
    """Tracking pixel vs /api/health: throughput ratio (target >= 0.85), p99, events stored."""
    return _with_pixel_server(
        backend,
        settings,
        lambda server, url, paths, _: _pixel_pair(
            server, url, paths, settings, settings.connections
        ),
    )


# 2 ---------------------------------------------------------------------------------------------


def concurrency(settings: Settings, backend: str = "sqlite") -> dict[str, Any]:
    """The same with 500 connections: no errors, no "database is locked", no lost event."""
    return _with_pixel_server(
        backend,
        settings,
        lambda server, url, paths, _: _pixel_pair(server, url, paths, settings, 500),
    )


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


# 4 ---------------------------------------------------------------------------------------------


def api(settings: Settings, backend: str = "sqlite") -> dict[str, Any]:
    """POST /api/tracking/email-opened with an API key and rate limiting vs /api/health."""

    def work(server: Server, url: str, _: Path, seeded: Seeded) -> dict[str, Any]:
        paths = harness.write_paths(
            server.workdir / "api.txt",
            [
                f"/api/tracking/email-opened?content_id={content}&contact_id={contact}"
                for content, contact in zip(seeded.content_ids, seeded.contact_ids, strict=True)
            ],
        )
        health, tracked, ratios = _alternate(
            settings,
            lambda seconds: wrk(server.base, "/api/health", seconds=seconds, connections=64),
            lambda seconds: wrk(
                server.base,
                paths,
                seconds=seconds,
                connections=64,
                method="POST",
                headers={"X-API-Key": API_KEY},
            ),
        )
        events = harness.settle(server, url, tracked.ok)
        return {
            "health": health.as_json(),
            "tracking_api": tracked.as_json(),
            "round_ratios": ratios,
            "api_vs_health": statistics.median(ratios),
            "events_stored": events,
            "events_at_least_200s": events >= tracked.ok,
        }

    return _with_pixel_server(backend, settings, work)


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
                server.base, f"/campaigns/{wide.campaign_id}/tiers/1", settings, session
            )
            deep_page = _latency(
                server.base,
                f"/campaigns/{wide.campaign_id}/tiers/1?cursor={deep}",
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
    """CSV import of 100,000 rows (rows/s, peak RSS) and re-analysis of the prospects."""
    rows = 10_000 if settings.quick else 100_000
    with harness.workspace("import") as workdir, harness.fresh_database("sqlite", workdir) as url:
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
            started = time.monotonic()
            imported = client.post(
                f"/api/campaigns/{campaign_id}/prospects",
                content=body,
                headers={"Content-Type": "text/csv"},
            )
            import_s = time.monotonic() - started
            peak = server.peak_rss_mb()
            if imported.status_code not in (200, 201):
                return {"status": f"import answered {imported.status_code}: {imported.text[:200]}"}
            summary = imported.json()
            started = time.monotonic()
            analysed = client.post(f"/api/campaigns/{campaign_id}/analyse")
            analyse_s = time.monotonic() - started
        return {
            "rows": rows,
            "csv_mb": round(len(body) / 1e6, 1),
            "created": summary.get("created"),
            "rejected": summary.get("rejected"),
            "import_seconds": round(import_s, 1),
            "rows_per_second": round(rows / import_s) if import_s else 0,
            "rss_mb_before": rss_before,
            "peak_rss_mb": peak,
            "analyse_status": analysed.status_code,
            "analyse_seconds": round(analyse_s, 1),
            "analysed": analysed.json().get("analysed") if analysed.status_code == 200 else None,
        }


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
    """1-3 on PostgreSQL, and 1 worker vs 2 workers on PostgreSQL."""
    if not harness.postgres_available():
        return {"status": "skipped: no PostgreSQL at " + harness.POSTGRES_ADMIN_URL}
    result: dict[str, Any] = {
        "pixel": pixel(settings, "postgres"),
        "concurrency": concurrency(settings, "postgres"),
        "groupcommit": groupcommit(settings, "postgres"),
    }

    def two(server: Server, url: str, paths: Path, _: Seeded) -> dict[str, Any]:
        return _pixel_pair(server, url, paths, settings, settings.connections)

    result["two_workers"] = _with_pixel_server(
        "postgres", settings, two, "--workers", "2", RATELIMIT_STORAGE_URI="memory://"
    )
    one = result["pixel"]["pixel"]["rps"]
    result["pixel_2_workers_vs_1"] = _ratio(result["two_workers"]["pixel"]["rps"], one)
    result["health_2_workers_vs_1"] = _ratio(
        result["two_workers"]["health"]["rps"], result["pixel"]["health"]["rps"]
    )
    return result


BENCHMARKS: dict[str, Benchmark] = {
    "pixel": pixel,
    "concurrency": concurrency,
    "groupcommit": groupcommit,
    "api": api,
    "pages": pages,
    "import": imports,
    "memory": memory,
    "postgres": postgres,
}
