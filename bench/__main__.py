"""Run Tune's benchmarks and fault scenarios: `python -m bench [name ...]`.

    python -m bench                  # everything (about 11 minutes on 2 cores)
    python -m bench pixel import     # some of them
    python -m bench --quick          # a short smoke run of everything
    python -m bench --publish        # also write the table into docs/benchmarks.md

Each benchmark writes `bench/results/<name>.json`; a summary table is printed
at the end, with the machine it ran on.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import (
    faults,
    followups,
    harness,
    import_tracking,
    pgactivity,
    prospect_list,
    sequences,
    suites,
)

ALL: dict[str, Callable[[suites.Settings], dict[str, Any]]] = {
    **suites.BENCHMARKS,
    "import_tracking": import_tracking.run,
    **sequences.BENCHMARKS,
    **followups.BENCHMARKS,
    **prospect_list.BENCHMARKS,
    **faults.FAULTS,
}
DOC = harness.BENCH_DIR.parent / "docs" / "benchmarks.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"

Row = tuple[str, str, str, str]
"""benchmark, figure, value, target and verdict."""

ROUTES = {
    "raw": "raw ASGI GIF (ceiling)",
    "quart": "bare Quart GIF (yardstick)",
    "health": "/api/health",
    "pixel": "pixel /t/o/<token>.gif",
    "click": "click /t/c/<token> (302)",
    "click_first": "first click of a link (302; not in the link cache)",
    "api_read": "GET /api/campaigns/<id>/stats (API key)",
    "api_post": "POST /api/tracking/email-opened (API key)",
    "api_campaign": "GET /api/campaigns/<id> (API key)",
    "quart_500": "bare Quart GIF, 500 connections (yardstick at 500)",
    "pixel_500": "pixel, 500 connections (x bare Quart at 500)",
    "pixel_1_worker": "pixel, 1 worker",
    "pixel_2_workers": "pixel, 2 workers",
    "raw_2_workers": "raw ASGI GIF, 2 workers",
}
P99_TARGETS = ("pixel", "health")


def _verdict(ok: bool | None) -> str:
    return "" if ok is None else ("pass" if ok else "FAIL")


def _listed(values: list[float]) -> str:
    return ", ".join(str(x) for x in values)


def summarise(name: str, r: dict[str, Any]) -> list[Row]:
    """The figures worth a line in the table."""
    if "status" in r and len(r) <= 2:
        return [(name, "status", str(r["status"]), "")]
    rows: list[Row] = []

    def routes(tag: str, figures: dict[str, Any]) -> None:
        for route, v in figures.items():
            target = []
            if route in suites.TARGETS:
                goal = suites.TARGETS[route]
                target.append(f">= {goal} {_verdict(v['vs_quart'] >= goal)}")
            if route in P99_TARGETS:
                target.append(f"p99 <= 50 {_verdict(v['p99_ms'] <= 50)}")
            rows.append(
                (
                    tag,
                    f"{ROUTES.get(route, route)}: req/s, x bare Quart (rounds), p50 / p99 ms, "
                    "server CPU µs/request (x bare Quart)",
                    f"{v['rps']:.0f}, x{v['vs_quart']} ({_listed(v['round_ratios'])}), "
                    f"{v['p50_ms']} / {v['p99_ms']}, {v['cpu_us_per_request']} "
                    f"(x{v['cpu_vs_quart']})",
                    "; ".join(target),
                )
            )

    def stored(tag: str, r: dict[str, Any]) -> None:
        rows.append(
            (
                tag,
                "events stored / acknowledged; locked / not recorded",
                f"{r['events_stored']} / {r['events_acknowledged']}; "
                f"{r['database_locked']} / {r['not_recorded']}",
                f">= {_verdict(r['events_at_least_acknowledged'] and not r['not_recorded'])}",
            )
        )

    def database(tag: str, r: dict[str, Any]) -> None:
        rows.extend((tag, figure, value, "") for figure, value in pgactivity.round_rows(r))

    def pair(label: str, p: dict[str, Any]) -> None:
        tag = f"{label} ({p.get('backend', 'sqlite')}, c={p['connections']})"
        routes(tag, p["routes"])
        if "click_first_share" in p:
            rows.append((tag, "first clicks / all clicks of the first-click runs",
                         str(p["click_first_share"]), ""))  # fmt: skip
        stored(tag, p)
        rows.append(
            (tag, "errors (all routes)", str(p["errors"]), f"0 {_verdict(not p['errors'])}")
        )
        database(tag, p)

    def crowd(label: str, p: dict[str, Any]) -> None:
        tag = f"{label} ({p.get('backend', 'sqlite')}, c=64 and 500)"
        routes(tag, p["routes"])
        change = p["change_500_vs_64"]
        rows.append(
            (
                tag,
                "pixel x bare Quart at 64 / 500 connections",
                f"{p['pixel_vs_quart_64']} / {p['pixel_vs_quart_500']} "
                f"(rounds at 500: {_listed(p['round_ratios_500'])})",
                # The target is that crowding does not cost the pixel more than 15% of its
                # standing against bare Quart; a rise (bare Quart degrading more) passes.
                f"at most 15% lower {_verdict(change >= -0.15)} ({change:+.0%})",
            )
        )
        stored(tag, p)
        rows.append(
            (tag, "errors at 500", str(p["errors_500"]), f"0 {_verdict(not p['errors_500'])}")
        )
        database(tag, p)

    def commit(label: str, g: dict[str, Any]) -> None:
        rows.append(
            (
                f"{label} ({g['backend']})",
                "group / per-event commit req/s",
                f"{g['group_commit']['rps']:.0f} / {g['one_commit_per_event']['rps']:.0f}"
                f" = x{g['speedup']}",
                "",
            )
        )

    if name == "pixel":
        pair(name, r)
    elif name == "concurrency":
        crowd(name, r)
    elif name == "groupcommit":
        commit(name, r)
    elif name == "pages":
        big = f"{r['events_big']:,}"
        for key in ("stats_api", "campaign_api", "campaign_page"):
            if isinstance(r.get(key), dict):
                v = r[key]
                rows.append(
                    (
                        f"pages: {key}",
                        f"p50 ms 1,000 / {big} events",
                        f"{v['p50_ms_1k']} / {v['p50_ms_big']} = {v['ratio_p50']}",
                        f"<= 1.5 {_verdict(v['ratio_p50'] <= 1.5)}",
                    )
                )
        for key in ("tier_api", "tier_page"):
            if isinstance(r.get(key), dict):
                v = r[key]
                layer = v.get("p50_ms_first_layer")
                rows.append(
                    (
                        f"pages: {key}",
                        "p50 ms first / deep keyset page"
                        + (" (first page without parameters, in front of Quart)" if layer else ""),
                        f"{v['p50_ms_first']} / {v['p50_ms_deep']} = {v['ratio_p50']}"
                        + (f" ({layer})" if layer else ""),
                        f"<= 1.5 {_verdict(v['ratio_p50'] <= 1.5)}",
                    )
                )
        if not isinstance(r.get("campaign_page"), dict):
            rows.append(("pages: dashboard", "status", str(r.get("dashboard")), ""))
    elif name == "import":
        for key, v in r.items():
            if not isinstance(v, dict) or not key.startswith(("sqlite_", "postgresql_")):
                continue
            backend = key.partition("_")[0]
            if "status" in v:
                rows.append((f"import ({backend})", "status", str(v["status"]), ""))
                continue
            rows.append(
                (
                    f"import ({backend}, CSV over the API)",
                    f"{v['rows']:,} rows: seconds, rows/s, CPU s (rows per CPU s), "
                    "peak RSS (server + child)",
                    f"{v['import_seconds']} s, {v['rows_per_second']:,} rows/s, "
                    f"{v.get('cpu_seconds', '?')} s ({v.get('rows_per_cpu_second', 0):,}), "
                    f"{v['peak_rss_mb']} MB (from {v['rss_mb_before']})",
                    f">= 25,000 rows/s {_verdict(v['rows_per_second'] >= 25_000)}; "
                    f"created {v['created']}, rejected {v['rejected']}",
                )
            )
            if "analyse_seconds" in v:
                rows.append(
                    (
                        f"import ({backend})",
                        f"re-analysis of {v['rows']:,} prospects",
                        f"{v['analyse_seconds']} s",
                        f"status {v['analyse_status']}",
                    )
                )
        rows.append(
            ("import", "load average before / after (1, 5, 15 min)",
             f"{_listed(r['load_before'])} / {_listed(r['load_after'])}", "")
        )  # fmt: skip
    elif name == "import_tracking":
        tag = f"import + pixel (sqlite, c={r['connections']})"
        rows.append(
            (
                tag,
                "pixel req/s idle / during import; median round ratio",
                f"{r['idle']['rps']:.0f} / {r['during_import']['rps']:.0f}; "
                f"{r['throughput_ratio']} (rounds "
                f"{', '.join(str(x) for x in r['round_throughput_ratios'])})",
                f">= {import_tracking.THROUGHPUT_TARGET} {_verdict(r['throughput_ok'])}",
            )
        )
        rows.append(
            (
                tag,
                "pixel p99 ms idle / during import; median round ratio",
                f"{r['idle']['p99_ms']} / {r['during_import']['p99_ms']}; {r['p99_ratio']} "
                f"(rounds {', '.join(str(x) for x in r['round_p99_ratios'])})",
                f"< {import_tracking.P99_TARGET} {_verdict(r['p99_ok'])}",
            )
        )
        rows.append(
            (
                tag,
                f"{r['rows']:,}-row import rows/s alone / under pixel load",
                f"{r['import_alone_rows_per_second']:,} / "
                f"{', '.join(f'{x:,}' for x in r['import_under_load_rows_per_second'])}",
                f"window covered {', '.join(str(x) for x in r['import_covered_window'])}",
            )
        )
    elif name == "memory":
        rows.append(
            (
                "memory (sqlite)",
                "RSS MB after hits",
                f"{r['rss_mb_warm']} @ {r['hits_warm']:,} -> {r['rss_mb_end']} @ "
                f"{r['hits_total']:,}",
                f"growth {r['growth_mb']} MB",
            )
        )
    elif name == "postgres":
        pair("pixel", r["pixel"])
        crowd("concurrency", r["concurrency"])
        commit("groupcommit", r["groupcommit"])
        w = r["workers"]
        tag = "workers (postgres, redis, c=64)"
        routes(tag, w["routes"])
        rows.append(
            (
                tag,
                "pixel req/s, 2 / 1 workers",
                f"x{w['two_workers_vs_one']} (rounds {_listed(w['round_ratios_2_vs_1'])})",
                f">= 1.7 {_verdict(w['two_workers_vs_one'] >= 1.7)}",
            )
        )
        if "raw_two_workers_vs_one" in w:
            rows.append(
                (
                    tag,
                    "raw ASGI req/s, 2 / 1 workers (the most a second worker gives here)",
                    f"x{w['raw_two_workers_vs_one']} "
                    f"(rounds {_listed(w['raw_round_ratios_2_vs_1'])})",
                    "",
                )
            )
        stored(tag, w)
        database(tag, w)
    elif name == "sequences":
        for backend in ("sqlite", "postgres"):
            if not isinstance(r.get(backend), dict):
                continue
            v = r[backend]
            rows.append(
                (
                    f"sequences: due-work lease ({backend})",
                    f"ms for {v['due']} due rows, 1,000 / 1,000,000 enrolled",
                    f"{v['lease_ms_1k']} / {v['lease_ms_1m']} = {v['ratio']}"
                    f" (rounds {', '.join(str(x) for x in v['round_ratios'])})",
                    f"<= 1.5 {_verdict(v['pass'])}",
                )
            )
    elif name == "followups":
        for backend in ("sqlite", "postgres"):
            if not isinstance(r.get(backend), dict):
                continue
            v = r[backend]
            rows.append(
                (
                    f"follow-up list, {v['events']:,} events ({backend})",
                    "ms: API first page / page after 2,000 / dashboard panel",
                    f"{v['first_ms']} / {v['deep_ms']} / {v['panel_ms']} ({v['listed']:,} listed)",
                    "measured",
                )
            )
    elif name == "prospect_list":
        for backend in ("sqlite", "postgres"):
            if not isinstance(r.get(backend), dict):
                continue
            v = r[backend]
            rows.append(
                (
                    f"prospect list, {v['prospects']:,} prospects ({backend})",
                    "slowest filter/sort: ms for the page's tier lists and counts",
                    f"{v['slowest_page_ms']}",
                    f"<= {prospect_list.TARGET_MS:g} {_verdict(v['pass'])}",
                )
            )
    elif name == "kill9":
        rows.append(
            (
                f"fault: kill -9 ({r['backend']})",
                "acknowledged / stored / missing",
                f"{r['acknowledged']} / {r['stored']} / {r['missing']}, "
                f"integrity {r['integrity_check']}",
                _verdict(r["pass"]),
            )
        )
    elif name == "pgrestart":
        rows.append(
            (
                "fault: PostgreSQL restart",
                "pixel / API answers",
                f"{r['pixel_answers']} / {r['api_answers']}, ready again after "
                f"{r['ready_again_after_s']} s",
                _verdict(r["pass"]),
            )
        )
    return rows


def table(rows: list[Row]) -> str:
    header: Row = ("benchmark", "figure", "value", "target")
    lines = [
        "| " + " | ".join(header) + " |",
        "| " + " | ".join("---" for _ in header) + " |",
    ]
    lines += ["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def latest_rows() -> tuple[list[Row], list[str]]:
    """Rows from the latest result of every benchmark, and the dates they were measured."""
    rows: list[Row] = []
    dates: set[str] = set()
    for name in ALL:
        path = harness.RESULTS_DIR / f"{name}.json"
        if path.exists():
            result = json.loads(path.read_text())
            rows += summarise(name, result)
            dates.add(result.get("machine", {}).get("date", "?"))
    return rows, sorted(dates)


def publish(info: dict[str, Any], command: str) -> None:
    """Write the latest result of every benchmark into docs/benchmarks.md."""
    rows, dates = latest_rows()
    text = DOC.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{DOC} lacks the {BEGIN} / {END} markers")
    machine = (
        f"Measured {', '.join(dates)} on {info['cpu']} ({info['cores']} cores, "
        f"{info['memory_mb']:,} MB), Linux {info['kernel']}, Python {info['python']}, "
        f"{info['wrk']}. Last command: `{command}`; each row is the latest run of "
        "`python -m bench <name>` (all of them: `make bench`)."
    )
    block = f"{BEGIN}\n{machine}\n\n{table(rows)}\n{END}"
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    DOC.write_text(head + block + tail)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", choices=[*ALL, []], metavar="name")
    parser.add_argument("--quick", action="store_true", help="short smoke run")
    parser.add_argument("--seconds", type=float, help="seconds per load run (default 8)")
    parser.add_argument("--memory-hits", type=int, default=1_000_000)
    parser.add_argument("--memory-seconds", type=float, default=300.0)
    parser.add_argument("--publish", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args(argv)
    names = args.names or list(ALL)
    settings = suites.Settings(
        seconds=args.seconds or (3.0 if args.quick else 8.0),
        memory_hits=args.memory_hits,
        memory_seconds=args.memory_seconds,
        quick=args.quick,
    )
    harness.ensure_wrk()
    harness.RESULTS_DIR.mkdir(exist_ok=True)
    info = harness.machine()
    print(f"Tune benchmarks on {info['cpu']} ({info['cores']} cores)", file=sys.stderr)
    rows: list[Row] = []
    failed = False
    started = time.monotonic()
    for name in names:
        began = time.monotonic()
        print(f"== {name}", file=sys.stderr, flush=True)
        try:
            result = ALL[name](settings)
        except Exception as exc:
            traceback.print_exc()
            result = {"status": f"error: {type(exc).__name__}: {exc}"[:300]}
            failed = True
        result["seconds"] = round(time.monotonic() - began, 1)
        result["machine"] = info
        Path(harness.RESULTS_DIR / f"{name}.json").write_text(json.dumps(result, indent=2))
        new_rows = summarise(name, result)
        failed = failed or any("FAIL" in row[3] for row in new_rows if name in faults.FAULTS)
        rows += new_rows
        print(table(new_rows), file=sys.stderr, flush=True)
    print(f"\nTotal {time.monotonic() - started:.0f} s on {info['cpu']}, {info['cores']} cores\n")
    print(table(rows))
    if args.publish:
        publish(info, "python -m bench " + " ".join(argv or sys.argv[1:]))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
