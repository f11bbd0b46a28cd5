"""Run Tune's benchmarks and fault scenarios: `python -m bench [name ...]`.

    python -m bench                  # everything (about 11 minutes on 2 cores)
    python -m bench pixel api        # some of them
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

from bench import faults, harness, import_tracking, suites

ALL: dict[str, Callable[[suites.Settings], dict[str, Any]]] = {
    **suites.BENCHMARKS,
    "import_tracking": import_tracking.run,
    **faults.FAULTS,
}
DOC = harness.BENCH_DIR.parent / "docs" / "benchmarks.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"

Row = tuple[str, str, str, str]
"""benchmark, figure, value, target and verdict."""


def _verdict(ok: bool | None) -> str:
    return "" if ok is None else ("pass" if ok else "FAIL")


def summarise(name: str, r: dict[str, Any]) -> list[Row]:
    """The figures worth a line in the table."""
    if "status" in r and len(r) <= 2:
        return [(name, "status", str(r["status"]), "")]
    rows: list[Row] = []

    def pair(label: str, p: dict[str, Any]) -> None:
        tag = f"{label} ({p.get('backend', 'sqlite')}, c={p['connections']})"
        rows.append(
            (
                tag,
                "pixel / health req/s; median round ratio",
                f"{p['pixel']['rps']:.0f} / {p['health']['rps']:.0f}; {p['pixel_vs_health']}"
                f" (rounds {', '.join(str(x) for x in p['round_ratios'])})",
                f">= 0.85 {_verdict(p['pixel_vs_health'] >= 0.85)}",
            )
        )
        rows.append(
            (
                tag,
                "p99 pixel / health ms",
                f"{p['pixel']['p99_ms']} / {p['health']['p99_ms']}",
                "",
            )
        )
        rows.append(
            (
                tag,
                "events stored / 200s",
                f"{p['events_stored']} / {p['pixel_200s']}",
                f">= {_verdict(p['events_at_least_200s'])}",
            )
        )
        clean = p["errors"] == 0 and p["database_locked"] == 0 and p["not_recorded"] == 0
        rows.append(
            (
                tag,
                "errors / locked / not recorded",
                f"{p['errors']} / {p['database_locked']} / {p['not_recorded']}",
                f"0 {_verdict(clean)}",
            )
        )

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

    if name in ("pixel", "concurrency"):
        pair(name, r)
    elif name == "groupcommit":
        commit(name, r)
    elif name == "api":
        rows.append(
            (
                "api (sqlite, c=64)",
                "tracking API / health req/s; median round ratio",
                f"{r['tracking_api']['rps']:.0f} / {r['health']['rps']:.0f}; {r['api_vs_health']}"
                f" (rounds {', '.join(str(x) for x in r['round_ratios'])})",
                f"events >= 200s {_verdict(r['events_at_least_200s'])}",
            )
        )
        rows.append(("api (sqlite, c=64)", "p99 API ms", str(r["tracking_api"]["p99_ms"]), ""))
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
                rows.append(
                    (
                        f"pages: {key}",
                        "p50 ms first / deep keyset page",
                        f"{v['p50_ms_first']} / {v['p50_ms_deep']} = {v['ratio_p50']}",
                        f"<= 1.5 {_verdict(v['ratio_p50'] <= 1.5)}",
                    )
                )
        if not isinstance(r.get("campaign_page"), dict):
            rows.append(("pages: dashboard", "status", str(r.get("dashboard")), ""))
    elif name == "import":
        rows.append(
            (
                "import (sqlite, CSV over the API)",
                f"{r['rows']:,} rows: seconds, rows/s, peak RSS",
                f"{r['import_seconds']} s, {r['rows_per_second']:,} rows/s, "
                f"{r['peak_rss_mb']} MB (from {r['rss_mb_before']})",
                f"created {r['created']}, rejected {r['rejected']}",
            )
        )
        rows.append(
            (
                "import (sqlite)",
                f"re-analysis of {r['rows']:,} prospects",
                f"{r['analyse_seconds']} s",
                f"status {r['analyse_status']}",
            )
        )
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
        pair("concurrency", r["concurrency"])
        commit("groupcommit", r["groupcommit"])
        pair("2 workers", r["two_workers"])
        rows.append(
            (
                "postgres workers",
                "2 / 1 workers req/s",
                f"pixel x{r['pixel_2_workers_vs_1']}, health x{r['health_2_workers_vs_1']}",
                "",
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
