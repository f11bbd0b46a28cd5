"""What `tune` loads before it runs a command: each command's start is paid on every run."""

from __future__ import annotations

import subprocess
import sys


def test_the_import_command_starts_without_the_redis_client() -> None:
    """The Redis client took about 0.25 s of CPU to load, and `tune import` never uses it."""
    code = (
        "import sys, webapp.cli, webapp.cli.common, webapp.prospects.importer; "
        "print(sorted(name for name in sys.modules if name.split('.')[0] == 'coredis'))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == "[]"
