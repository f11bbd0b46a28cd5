"""Load benchmarks of the tracking and API routes against the bare Quart and raw ASGI ceilings.

Pixel, click, health and API routes at 64 connections; the pixel at 500;
group commit against one commit per event; memory under a long pixel load;
all of it again on PostgreSQL, and one worker against two.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import harness, pgactivity
from bench.harness import API_KEY, Seeded, Server, WrkResult, running, wrk
from bench.rounds import (
    Settings,
    errors,
    ratio,
    round_seconds,
    rounds,
    side,
    stored,
    with_pixel_server,
)

FIRST_CLICKS_PER_SECOND = 10_000
"""Fresh links seeded per second of a `click_first` run, above the 7,000-8,300 clicks/s one
worker answered on a quiet machine: every click of a run is the first click of its link."""

TARGETS = {"pixel": 1.0, "click": 0.9, "health": 0.8, "api_read": 0.8, "api_post": 0.6}
"""Each route's target, as a share of the bare Quart app (see docs/benchmarks.md)."""


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
        # Every link clicked once before the rounds, as links clicked before would be: the
        # click figure is that of a link in the server's cache. Links never clicked are
        # measured apart (`click_first`), on emails of their own, a fresh slice each run.
        harness.wrk(
            server.base,
            clicks,
            seconds=min(20.0, max(2.0, len(seeded.content_ids) / 1_000)),
            connections=c,
            max_requests=len(seeded.content_ids),
        )
        first = _first_clicks(server, url, settings, c)
        posts = harness.write_paths(
            workdir / "api.txt",
            [
                f"/api/tracking/email-opened?content_id={content}&contact_id={contact}"
                for content, contact in zip(seeded.content_ids, seeded.contact_ids, strict=True)
            ],
        )
        key = {"X-API-Key": API_KEY}
        before = harness.count_events(url)
        with harness.ceilings(workdir) as yard, pgactivity.watching(url) as activity:
            figures = rounds(
                settings,
                {
                    "raw": side(yard["raw"], paths, c),
                    "quart": side(yard["quart"], paths, c),
                    "health": side(server, "/api/health", c),
                    "pixel": side(server, paths, c),
                    "click": side(server, clicks, c),
                    "click_first": first.side,
                    "api_read": side(
                        server, f"/api/campaigns/{seeded.campaign_id}/stats", c, headers=key
                    ),
                    "api_post": side(server, posts, c, method="POST", headers=key),
                    "api_campaign": side(
                        server, f"/api/campaigns/{seeded.campaign_id}", c, headers=key
                    ),
                },
                activity=activity,
            )
        # Each first click also stores the open it implies: counted once here (at least).
        acknowledged = sum(
            figures[name]["ok"] for name in ("pixel", "click", "click_first", "api_post")
        )
        return {
            "connections": c,
            "routes": figures,
            "click_first_share": first.share(),
            **stored(server, url, before, acknowledged),
            "errors": sum(errors(figures[name]) for name in figures),
            **pgactivity.figures(activity),
        }

    return with_pixel_server(backend, settings, work)


class _FirstClicks:
    """Clicks on links no one clicked before: each run takes a fresh slice of new emails.

    A slice holds `FIRST_CLICKS_PER_SECOND` emails per second of a round (and no fewer
    than `settings.contents`); a run that sends more requests than that clicks some
    links a second time, and `share()` says which part of the clicks were first clicks.
    """

    def __init__(self, server: Server, files: list[Path], connections: int, size: int) -> None:
        self.server, self.files, self.connections, self.size = server, files, connections, size
        self.requests = 0
        self.runs = 0

    def side(self, seconds: float) -> WrkResult:
        result = side(self.server, self.files.pop(0), self.connections)(seconds)
        self.requests += result.requests
        self.runs += 1
        return result

    def share(self) -> float:
        """First clicks over all clicks of the recorded runs (the warm-up's included)."""
        return ratio(min(self.requests, self.runs * self.size), self.requests)


def _first_clicks(server: Server, url: str, settings: Settings, connections: int) -> _FirstClicks:
    """Never-clicked emails for the warm-up and each round of `click_first`."""
    size = max(settings.contents, round(FIRST_CLICKS_PER_SECOND * round_seconds(settings)))
    cold = harness.seed_campaign(url, size * (settings.rounds + 1))
    files = [
        harness.write_paths(
            server.workdir / f"click_first_{n}.txt",
            harness.click_paths(
                Seeded(cold.campaign_id, cold.content_ids[n * size : (n + 1) * size], [])
            ),
        )
        for n in range(settings.rounds + 1)
    ]
    return _FirstClicks(server, files, connections, size)


# 2 ---------------------------------------------------------------------------------------------


def concurrency(settings: Settings, backend: str = "sqlite") -> dict[str, Any]:
    """Pixel vs bare Quart at 64 and at 500 connections, alternating: errors, lost events."""

    def work(server: Server, url: str, paths: Path, _: Seeded) -> dict[str, Any]:
        before = harness.count_events(url)
        with harness.ceilings(server.workdir) as yard, pgactivity.watching(url) as activity:
            figures = rounds(
                settings,
                {
                    "quart": side(yard["quart"], paths, 64),
                    "pixel": side(server, paths, 64),
                    "quart_500": side(yard["quart"], paths, 500),
                    "pixel_500": side(server, paths, 500),
                },
                {"pixel_500": "quart_500", "quart_500": "quart_500"},
                activity,
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
            "change_500_vs_64": ratio(ratio_500 - ratio_64, ratio_64),
            **stored(server, url, before, acknowledged),
            "errors_500": errors(figures["pixel_500"]) + errors(figures["quart_500"]),
            **pgactivity.figures(activity),
        }

    return with_pixel_server(backend, settings, work)


# 3 ---------------------------------------------------------------------------------------------


def groupcommit(settings: Settings, backend: str = "sqlite") -> dict[str, Any]:
    """Group commit (batches of up to 500) vs one commit per event, pixel load."""
    runs: dict[str, WrkResult] = {}
    kept: dict[str, int] = {}
    for label, batch in (("group_commit", "500"), ("one_commit_per_event", "1")):

        def work(server: Server, url: str, paths: Path, _: Seeded, label: str = label) -> Any:
            result = wrk(server.base, paths, seconds=settings.seconds, connections=64)
            runs[label] = result
            kept[label] = harness.settle(server, url, result.ok)
            return {}

        with_pixel_server(backend, settings, work, TUNE_EVENT_BATCH_MAX=batch)
    return {
        "backend": backend,
        "group_commit": runs["group_commit"].as_json(),
        "one_commit_per_event": runs["one_commit_per_event"].as_json(),
        "speedup": ratio(runs["group_commit"].rps, runs["one_commit_per_event"].rps),
        "events_at_least_200s": all(kept[k] >= runs[k].ok for k in runs),
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

    return with_pixel_server("sqlite", settings, work)


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
            _ceiling("raw", one.workdir, workers=2) as raw_two,
            pgactivity.watching(url) as activity,
        ):
            figures = rounds(
                settings,
                {
                    "quart": side(yard["quart"], paths, settings.connections),
                    "pixel_1_worker": side(one, paths, settings.connections),
                    "pixel_2_workers": side(two, paths, settings.connections),
                    "raw": side(yard["raw"], paths, settings.connections),
                    "raw_2_workers": side(raw_two, paths, settings.connections),
                },
                activity=activity,
            )
        two_vs_one = _two_vs_one(figures, "pixel_1_worker", "pixel_2_workers")
        acknowledged = figures["pixel_1_worker"]["ok"] + figures["pixel_2_workers"]["ok"]
        return {
            "routes": figures,
            "round_ratios_2_vs_1": two_vs_one,
            "two_workers_vs_one": statistics.median(two_vs_one),
            # The most a second worker can add on this machine, wrk and all: the
            # raw ASGI app's own 2 / 1 workers, in the same rounds.
            "raw_round_ratios_2_vs_1": (raw := _two_vs_one(figures, "raw", "raw_2_workers")),
            "raw_two_workers_vs_one": statistics.median(raw),
            **stored(one, url, before, acknowledged),
            **pgactivity.figures(activity),
        }

    return with_pixel_server("postgres", settings, work, **redis)


def _two_vs_one(figures: dict[str, dict[str, Any]], one: str, two: str) -> list[float]:
    """Each round's requests/s of `two` over `one`'s."""
    return [
        ratio(b, a)
        for a, b in zip(figures[one]["round_rps"], figures[two]["round_rps"], strict=True)
    ]


@contextmanager
def _ceiling(name: str, workdir: Path, *, workers: int) -> Iterator[Server]:
    server = harness.start_ceiling(name, workdir, workers=workers)
    try:
        yield server
    finally:
        server.stop()
