"""The serving process's garbage collector settings (webapp/core/collector.py).

Each check runs in a fresh interpreter: freezing and thresholds are process-wide.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from webapp.core.collector import YOUNG_THRESHOLD


def run_python(code: str, env: dict[str, str] | None = None) -> Any:
    """Run `code` in a new interpreter; it prints one JSON value, returned here."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_settle_freezes_and_makes_young_collections_rarer() -> None:
    result = run_python(
        """
        import gc, json
        from webapp.core import collector
        gc.set_threshold(700, 11, 12)
        collector.settle()
        print(json.dumps({"threshold": gc.get_threshold(), "frozen": gc.get_freeze_count()}))
        """
    )
    assert result["threshold"] == [YOUNG_THRESHOLD, 11, 12]
    assert result["frozen"] > 1000  # at least this interpreter's modules


@pytest.mark.parametrize("young", [0, YOUNG_THRESHOLD * 3])
def test_settle_leaves_a_chosen_threshold_alone(young: int) -> None:
    """Collection turned off, or already rarer: never made more frequent, never turned on."""
    result = run_python(
        f"""
        import gc, json
        from webapp.core import collector
        gc.set_threshold({young}, 10, 10)
        collector.settle()
        print(json.dumps(gc.get_threshold()))
        """
    )
    assert result == [young, 10, 10]


def test_cycles_are_still_collected_without_being_asked() -> None:
    """Garbage in reference cycles is freed by the collector's own young collections."""
    result = run_python(
        f"""
        import gc, json
        from webapp.core import collector
        collector.settle()
        freed = []

        class Node:
            def __del__(self):
                freed.append(1)

        for _ in range({YOUNG_THRESHOLD} * 3):
            node = Node()
            node.me = node  # a cycle: reference counting alone never frees it
        del node
        print(json.dumps({{"made": {YOUNG_THRESHOLD} * 3, "freed": len(freed)}}))
        """
    )
    # No gc.collect() was called: at least two young collections ran by themselves.
    assert result["freed"] >= YOUNG_THRESHOLD
    assert result["freed"] < result["made"]  # the last ones wait for the next collection


def test_the_served_app_settles_the_collector_once_serving(tmp_path: Path) -> None:
    """`tune run` imports webapp.asgi: its startup freezes and raises the young threshold."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'tune.db'}"
    env = {
        "DATABASE_URL": url,
        "TUNE_ENV": "production",
        "TUNE_SECRET_KEY": "collector-test-secret-0123456789",
        "TUNE_INSTANCE_PATH": str(tmp_path / "instance"),
        "TUNE_RUN_SENDER": "false",
        "TUNE_RUN_INBOX": "false",
        "TUNE_RUN_WEBHOOKS": "false",
    }
    result = run_python(
        f"""
        import asyncio, gc, json
        from webapp.core.migrate import upgrade
        upgrade({url!r})
        gc.set_threshold(700, 10, 10)
        from webapp.asgi import app

        async def main():
            before = gc.get_threshold()
            async with app.test_app():
                during = gc.get_threshold()
                frozen = gc.get_freeze_count()
            return before, during, frozen

        before, during, frozen = asyncio.run(main())
        print(json.dumps({{"before": before, "during": during, "frozen": frozen}}))
        """,
        env,
    )
    assert result["before"] == [700, 10, 10]
    assert result["during"] == [YOUNG_THRESHOLD, 10, 10]
    assert result["frozen"] > 10_000
