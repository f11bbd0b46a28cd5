"""A load client that logs every acknowledged request, for the crash scenarios.

    python -m bench.ackclient BASE TARGETS LOG --seconds 10 --concurrency 32 [--until-down]

TARGETS has one `content_id path` per line. Each request answered 200 appends
its content id to LOG, flushed at once, so the log survives the server being
killed mid-run. Connection errors (a dead server) are counted, never logged;
with `--until-down` the first one after an answer ends the run (the server is
gone), so a crash test need not guess how long the load must last.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
from pathlib import Path

import httpx


async def drive(
    base: str,
    targets: list[tuple[int, str]],
    log: Path,
    seconds: float,
    concurrency: int,
    until_down: bool = False,
) -> dict[str, int]:
    counts = {"ok": 0, "other_status": 0, "errors": 0}
    cycle = itertools.cycle(targets)
    deadline = time.monotonic() + seconds
    down = False
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    with log.open("a", buffering=1) as out:
        async with httpx.AsyncClient(base_url=base, timeout=5, limits=limits) as client:

            async def worker() -> None:
                nonlocal down
                while not down and time.monotonic() < deadline:
                    content_id, path = next(cycle)
                    try:
                        response = await client.get(path)
                    except httpx.HTTPError:
                        counts["errors"] += 1
                        if until_down and counts["ok"]:
                            down = True
                        await asyncio.sleep(0.05)
                        continue
                    if response.status_code == 200:
                        out.write(f"{content_id}\n")
                        counts["ok"] += 1
                    else:
                        counts["other_status"] += 1

            await asyncio.gather(*(worker() for _ in range(concurrency)))
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("base")
    parser.add_argument("targets", type=Path)
    parser.add_argument("log", type=Path)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--until-down", action="store_true", help="stop once the server is gone")
    args = parser.parse_args()
    targets = []
    for line in args.targets.read_text().splitlines():
        content_id, _, path = line.partition(" ")
        targets.append((int(content_id), path))
    counts = asyncio.run(
        drive(args.base, targets, args.log, args.seconds, args.concurrency, args.until_down)
    )
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
