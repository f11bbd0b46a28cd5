"""CPU per row of reading the import benchmark's CSV, stage by stage, in this process.

    python -m bench.rowcost [--rows 100000] [--rounds 5]

`python -m bench.import_100k` times the whole command, whose wall time on a
shared machine moves with the other processes; this times the reading
process's work alone (`webapp/prospects/rows`), over the same generated rows
(`bench.import_100k.write_rows`), in CPU µs per row, the median of `--rounds`
alternating rounds:

- `records`: the CSV's records (`rows.csv.read_csv`), no checks;
- `normalise_row`: checking and normalising each record the general way
  (`rows.fields`, which JSON rows take);
- `normalise_record`: the same records through the CSV's straight-line check
  (`rows.quick`), with a check that both give the same rows;
- `rows_from_text`: what the reading process runs, records and checks.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.import_100k import write_rows
from webapp.prospects.rows.csv import read_csv, rows_from_text
from webapp.prospects.rows.fields import RowError, normalise_row
from webapp.prospects.rows.parallel import collect_less
from webapp.prospects.rows.quick import normalise_record


def measure(rows: int, rounds: int) -> dict[str, list[float]]:
    """CPU µs per row of each stage, one figure per round."""
    with tempfile.TemporaryDirectory(prefix="tune-rowcost-") as folder:
        path = Path(folder) / "prospects.csv"
        write_rows(path, rows)
        text = path.read_text(encoding="utf-8")
    records = [record[:2] for record in read_csv(text)[1] if not isinstance(record, RowError)]
    if [normalise_row(*r) for r in records] != [normalise_record(*r) for r in records]:
        raise SystemExit("normalise_record and normalise_row disagree on this file")

    def each(check: Callable[..., object]) -> Callable[[], None]:
        def run() -> None:
            for line, values in records:
                check(line, values)

        return run

    stages: dict[str, Callable[[], None]] = {
        "records": lambda: _drain(read_csv(text)[1]),
        "normalise_row": each(normalise_row),
        "normalise_record": each(normalise_record),
        "rows_from_text": lambda: _drain(rows_from_text(text)),
    }
    figures: dict[str, list[float]] = {name: [] for name in stages}
    for _ in range(rounds):
        for name, stage in stages.items():
            started = time.process_time()
            stage()
            figures[name].append((time.process_time() - started) / rows * 1e6)
    return figures


def _drain(items: object) -> None:
    for _ in items:  # type: ignore[attr-defined]
        pass


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args(argv)
    collect_less()  # as the reading process does
    for name, values in measure(options.rows, options.rounds).items():
        rounds = " ".join(f"{value:.2f}" for value in values)
        print(f"{name:18} {statistics.median(values):6.2f} µs/row  (rounds: {rounds})")


if __name__ == "__main__":
    main()
