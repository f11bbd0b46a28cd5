"""Import 100,000 CSV rows with `tune import`, then re-score them with `tune analyse`.

    python -m bench.import_100k [--rows 100000] [--database-url URL]

Generates the rows deterministically (about 40,000 companies with 1–4
contacts each, varied sizes, countries and titles, a few bad rows) into a
temporary file, creates a campaign on a fresh SQLite database (or the
PostgreSQL database given, which must hold no prospects: the benchmark refuses
one that does, so it never counts or mixes with other data, a test run's say,
and leaves it as it is), and runs
the real command line in subprocesses. Measures the import's rows/s, CPU
seconds and peak RSS (`wait4` of that process: its CPU includes the process
that reads the file, which it waits for), a second import of the same file
(all duplicates), and the re-analysis time `tune analyse` reports, with the
machine's load average before and after. Prints a table and writes
`bench/results/import.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
RESULT = BENCH_DIR / "results" / "import.json"
TUNE = str(Path(sys.executable).with_name("tune"))
SECRET = "bench-secret-0123456789"  # noqa: S105 (a throwaway database)

COUNTRIES = ("US", "US", "USA", "Canada", "GB", "AU", "MO", "SG", "ES", "Mexico", "DE", "IN", "")
TITLES = (
    "CEO",
    "Chief Marketing Officer",
    "VP Marketing",
    "Head of Player Development",
    "Director of Marketing",
    "General Manager",
    "Marketing Manager",
    "Casino Host",
    "Slot Technician",
    "",
)
KINDS = ("Casino", "Casino Resort", "Gaming Group", "Card Room", "Racino", "Holdings", "Reviews")


def write_rows(path: Path, rows: int, seed: int = 1, *, contacts: int = 4) -> int:
    """Write `rows` CSV data rows (one per contact, 1 to `contacts` per company).

    Returns the number of bad rows among them.
    """
    rng = random.Random(seed)
    bad = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["Company", "Website", "Email", "First Name", "Last Name", "Title", "Employees",
             "Revenue", "Country"]
        )  # fmt: skip
        written = company = 0
        while written < rows:
            company += 1
            name = f"{rng.choice(KINDS)} {company:06d}"
            domain = f"company{company:06d}.example"
            employees = rng.choice(("", "45", "180", "650", "1,200", "3k", "12000", "51-200"))
            revenue = rng.choice(("", "$2M", "25M", "$120M", "1.5B", "8bn"))
            country = rng.choice(COUNTRIES)
            for person in range(min(rng.randint(1, contacts), rows - written)):
                email = f"p{person}.{company}@{domain}"
                if contacts > 1 and rng.random() < 0.002:
                    email, bad = "not-an-email", bad + 1
                writer.writerow(
                    [name, domain, email, "Ann", "Lee", rng.choice(TITLES), employees, revenue,
                     country]
                )  # fmt: skip
                written += 1
    return bad


def run_measured(args: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """Run a `tune` command; (wall seconds, peak RSS in MB, stdout). Fails on a non-zero exit.

    The CPU seconds of the last command (with the processes it waited for) are kept in
    `LAST_CPU_SECONDS`."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [TUNE, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"tune {' '.join(args)} failed ({process.returncode}): {output}")
    rss_kb = usage.ru_maxrss if sys.platform != "darwin" else usage.ru_maxrss // 1024
    LAST_CPU_SECONDS[0] = usage.ru_utime + usage.ru_stime
    return seconds, rss_kb // 1024, output


LAST_CPU_SECONDS = [0.0]


async def create_campaign(database_url: str) -> int:
    from webapp.campaigns.queries import create_campaign as create
    from webapp.core.config import Config
    from webapp.core.db import Database

    db = Database(Config(database_url=database_url, secret_key=SECRET))
    try:
        async with db.write() as session:
            return (await create(session, "Import benchmark", "casino")).id
    finally:
        await db.dispose()


async def analyse_many(url: str, env: dict[str, str], work: Path, prospects: int) -> dict[str, Any]:
    """Re-score `prospects` prospects (one contact each): unchanged, then after a profile change."""
    from webapp.core.config import Config
    from webapp.core.db import Database
    from webapp.prospects.analysis import analyse_campaign
    from webapp.prospects.scoring.profile import parse_profile

    csv_path = work / "companies.csv"
    write_rows(csv_path, prospects, seed=2, contacts=1)
    campaign_id = await create_campaign(url)
    await asyncio.to_thread(run_measured, ["import", str(campaign_id), str(csv_path)], env)
    text = (
        Path(__file__).parent.parent / "webapp/prospects/scoring/profiles/casino.toml"
    ).read_text()
    changed = parse_profile(text.replace("version = 1", "version = 2"), "casino")
    db = Database(Config(database_url=url, secret_key=SECRET))
    try:
        unchanged = await analyse_campaign(db, campaign_id)
        rewritten = await analyse_campaign(db, campaign_id, profile=changed)
    finally:
        await db.dispose()
    return {
        "prospects": unchanged.analysed,
        "unchanged_seconds": round(unchanged.seconds, 2),
        "profile_change_seconds": round(rewritten.seconds, 2),
        "profile_change_written": rewritten.changed,
    }


async def holds_prospects(url: str) -> bool:
    """Whether the database at `url` has a prospects table with a row in it."""
    from sqlalchemy import inspect, text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            if not await connection.run_sync(lambda sync: inspect(sync).has_table("prospects")):
                return False
            return bool(await connection.scalar(text("SELECT EXISTS (SELECT 1 FROM prospects)")))
    finally:
        await engine.dispose()


def run(rows: int = 100_000, database_url: str | None = None) -> dict[str, Any]:
    """Run the benchmark; returns the figures (also written to bench/results/import.json).

    Raises SystemExit when `database_url` already holds prospects."""
    from webapp.core.db import redacted_url

    if database_url is not None and asyncio.run(holds_prospects(database_url)):
        raise SystemExit(
            f"{redacted_url(database_url)} already holds prospects: the import benchmark "
            "needs a database without any (create an empty one, say `createdb "
            "tune_import_bench`, and pass its URL)"
        )
    with tempfile.TemporaryDirectory(prefix="tune-import-bench-") as folder:
        work = Path(folder)
        url = database_url or f"sqlite+aiosqlite:///{work / 'tune.db'}"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("TUNE_", "DATABASE_URL"))},
            "DATABASE_URL": url,
            "TUNE_SECRET_KEY": SECRET,
            "TUNE_INSTANCE_PATH": str(work / "instance"),
            "LOG_LEVEL": "WARNING",
        }
        csv_path = work / "prospects.csv"
        bad = write_rows(csv_path, rows)
        subprocess.run([TUNE, "db", "upgrade"], env=env, check=True, capture_output=True)
        campaign_id = asyncio.run(create_campaign(url))

        load_before = [round(x, 2) for x in os.getloadavg()]
        seconds, rss_mb, output = run_measured(["import", str(campaign_id), str(csv_path)], env)
        cpu_seconds = LAST_CPU_SECONDS[0]
        load_after = [round(x, 2) for x in os.getloadavg()]
        created = int(re.search(r"(\d+) created", output).group(1))  # type: ignore[union-attr]
        prospects = int(re.search(r"(\d+) new prospects", output).group(1))  # type: ignore[union-attr]
        again, again_rss, again_output = run_measured(
            ["import", str(campaign_id), str(csv_path)], env
        )
        duplicates = int(re.search(r"(\d+) duplicates", again_output).group(1))  # type: ignore[union-attr]
        wall, analyse_rss, analysed = run_measured(["analyse", str(campaign_id)], env)
        analyse_seconds = float(re.search(r"in ([\d.]+) s", analysed).group(1))  # type: ignore[union-attr]
        analyse_100k = asyncio.run(analyse_many(url, env, work, rows))
        result = {
            "backend": "postgresql" if url.startswith("postgresql") else "sqlite",
            "rows": rows,
            "bad_rows": bad,
            "file_mb": round(csv_path.stat().st_size / 2**20, 1),
            "import": {
                "seconds": round(seconds, 2),
                "rows_per_s": round(rows / seconds),
                "peak_rss_mb": rss_mb,
                "cpu_seconds": round(cpu_seconds, 2),
                "load_before": load_before,
                "load_after": load_after,
                "created": created,
                "prospects": prospects,
            },
            "reimport": {
                "seconds": round(again, 2),
                "rows_per_s": round(rows / again),
                "peak_rss_mb": again_rss,
                "duplicates": duplicates,
            },
            "analyse": {
                "prospects": prospects,
                "seconds": analyse_seconds,
                "prospects_per_s": round(prospects / analyse_seconds),
                "command_seconds": round(wall, 2),
                "peak_rss_mb": analyse_rss,
            },
            "analyse_100k": analyse_100k,
        }
    RESULT.parent.mkdir(exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    return result


def table(result: dict[str, Any]) -> str:
    imported, again, analysed = result["import"], result["reimport"], result["analyse"]
    lines = [
        f"{result['rows']:,} rows ({result['file_mb']} MB CSV, {result['backend']})",
        f"  tune import      {imported['seconds']:>7.2f} s  {imported['rows_per_s']:>8,} rows/s  "
        f"CPU {imported['cpu_seconds']} s  peak RSS {imported['peak_rss_mb']} MB  "
        f"({imported['created']:,} contacts, {imported['prospects']:,} prospects; load "
        f"{imported['load_before'][0]} -> {imported['load_after'][0]})",
        f"  re-import        {again['seconds']:>7.2f} s  {again['rows_per_s']:>8,} rows/s  "
        f"peak RSS {again['peak_rss_mb']} MB  ({again['duplicates']:,} duplicates)",
        f"  tune analyse     {analysed['seconds']:>7.2f} s  "
        f"{analysed['prospects_per_s']:>8,} prospects/s  (command {analysed['command_seconds']} s,"
        f" peak RSS {analysed['peak_rss_mb']} MB)",
        f"  analyse {result['analyse_100k']['prospects']:,} prospects: "
        f"{result['analyse_100k']['unchanged_seconds']} s unchanged, "
        f"{result['analyse_100k']['profile_change_seconds']} s after a profile change "
        f"({result['analyse_100k']['profile_change_written']:,} written)",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Entry point for `python -m bench.import_100k` and the bench runner."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--database-url", default=None, help="a PostgreSQL database without prospects"
    )
    options = parser.parse_args(argv)
    result = run(options.rows, options.database_url)
    print(table(result))
    print(f"written to {RESULT.relative_to(BENCH_DIR.parent)}")
    return result


if __name__ == "__main__":
    main()
