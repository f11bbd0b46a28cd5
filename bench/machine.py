"""The machine benchmark figures were measured on, written beside every result."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = "unknown"
    try:
        for row in Path("/proc/cpuinfo").read_text().splitlines():
            if row.startswith("model name"):
                cpu = row.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = 0
    try:
        memory = int(Path("/proc/meminfo").read_text().split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    wrk_version = ""
    found = shutil.which("wrk")
    if found:
        out = subprocess.run([found, "-v"], capture_output=True, text=True, check=False)
        wrk_version = " ".join((out.stdout or out.stderr).split()[:2])
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_mb": memory,
        "python": sys.version.split()[0],
        "platform": sys.platform,
        "kernel": os.uname().release,
        "wrk": wrk_version,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
