"""What every load benchmark shares: its settings, and ratios measured in alternating rounds.

Figures that compare two things are ratios measured in the same run, on the
same machine, one after the other: absolute requests per second on a shared
machine drift, ratios much less.
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import harness, pgactivity
from bench.harness import Seeded, Server, WrkResult, running, wrk
from bench.pgactivity import Activity


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


def ratio(part: float, whole: float) -> float:
    """`part / whole` to three places; 0 when `whole` is."""
    return round(part / whole, 3) if whole else 0.0


def round_seconds(settings: Settings) -> float:
    """How long each side runs in a round of `rounds` (the unrecorded warm-up: at most 2 s)."""
    return max(2.0, settings.seconds / 2)


Side = Callable[[float], WrkResult]
"""One thing to measure: runs wrk for the given seconds against one route."""

YARDSTICK = "quart"
"""Every ratio is a share of the bare Quart app's requests per second in the same round."""


def rounds(
    settings: Settings,
    sides: dict[str, Side],
    yardsticks: dict[str, str] | None = None,
    activity: Activity | None = None,
) -> dict[str, dict[str, Any]]:
    """Every side in turn, for `settings.rounds` rounds; each side's share of its yardstick
    (`yardsticks[side]`, else the bare Quart app at the same connections).

    Other work on a shared machine comes and goes within seconds; alternating
    short runs and taking the median round's ratio keeps a burst of it from
    landing on one side only. Every side first runs once unrecorded (a warm-up,
    yardsticks included): the first run of a fresh server pays for its caches,
    its connections and the first of everything, and would otherwise weigh on
    the first round of Tune's routes only. With `activity` (PostgreSQL), what the
    database server did is read before each round and after each side's run, and
    printed with the round's figures.
    """
    seconds = round_seconds(settings)
    for measure in sides.values():
        measure(min(seconds, 2.0))
    runs: dict[str, list[WrkResult]] = {name: [] for name in sides}
    for number in range(settings.rounds):
        if activity is not None:
            activity.round_started()
        for name, measure in sides.items():
            runs[name].append(measure(seconds))
            if activity is not None:
                activity.side_done(name)
        if activity is not None:
            _print_round(number, runs, yardsticks or {}, activity)
    figures: dict[str, dict[str, Any]] = {}
    yardsticks = yardsticks or {}
    for name, results in runs.items():
        yard_runs = runs[yardsticks.get(name, YARDSTICK)]
        ratios = [ratio(run.rps, yard.rps) for run, yard in zip(results, yard_runs, strict=True)]
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
        values["cpu_vs_quart"] = ratio(yard_cpu, values["cpu_us_per_request"])
    return figures


def _print_round(
    number: int, runs: dict[str, list[WrkResult]], yardsticks: dict[str, str], activity: Activity
) -> None:
    """The round's requests/s and ratios, each run beside what PostgreSQL did during it."""
    began = activity.rounds[-1]
    print(
        f"round {number + 1}: {began['events_rows_at_start']:,} events rows at start, "
        f"load {began['load_1min_at_start']}",
        file=sys.stderr,
    )
    for name, results in runs.items():
        yard = runs[yardsticks.get(name, YARDSTICK)][-1]
        run = results[-1]
        print(
            f"  {name:14} {run.rps:8.0f} req/s x{ratio(run.rps, yard.rps):<6} "
            f"{pgactivity.summary(began['sides'][name])}",
            file=sys.stderr,
            flush=True,
        )


def side(server: Server, paths: Path | str, connections: int, **options: Any) -> Side:
    """wrk against `server`, recording the server's CPU time over the run."""

    def run(seconds: float) -> WrkResult:
        before = server.cpu_seconds()
        result = wrk(server.base, paths, seconds=seconds, connections=connections, **options)
        result.server_cpu_s = server.cpu_seconds() - before
        return result

    return run


def errors(run: dict[str, Any]) -> int:
    """Non-2xx answers, socket errors and timeouts of one route's figures."""
    return int(run["non_2xx"] + run["socket_errors"] + run["timeouts"])


def with_pixel_server(
    backend: str,
    settings: Settings,
    work: Callable[[Server, str, Path, Seeded], dict[str, Any]],
    *args: str,
    **env: str,
) -> dict[str, Any]:
    """`work` against a server on a fresh database seeded with one campaign's pixel paths."""
    with harness.workspace("pixel") as workdir, harness.fresh_database(backend, workdir) as url:
        seeded = harness.seed_campaign(url, settings.contents)
        paths = harness.write_paths(workdir / "pixel.txt", harness.pixel_paths(seeded))
        with running(url, workdir, *args, **env) as server:
            return {"backend": backend, **work(server, url, paths, seeded)}


def stored(server: Server, url: str, before: int, acknowledged: int) -> dict[str, Any]:
    """Events the server stored against those it acknowledged, and its log's write errors."""
    count = harness.settle(server, url, before + acknowledged) - before
    return {
        "events_stored": count,
        "events_acknowledged": acknowledged,
        "events_at_least_acknowledged": count >= acknowledged,
        "database_locked": server.log_count("database is locked"),
        "not_recorded": server.log_count("_not_recorded"),
    }
