"""Real `tune run` processes on free loopback ports, for tests where HTTP behaviour matters."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

TUNE = str(Path(sys.executable).with_name("tune"))


REDIS_URL = "redis://127.0.0.1:6379"


def redis_available() -> bool:
    """Whether the Redis that the shared-limit tests use is running."""
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tune_env(database_url: str, workdir: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TUNE_", "DATABASE_URL", "RATELIMIT"))
    }
    env.update(
        DATABASE_URL=database_url,
        TUNE_SECRET_KEY="server-test-secret-0123456789",
        TUNE_INSTANCE_PATH=str(workdir / "instance"),
        LOG_LEVEL="WARNING",
        # Deliverability checks ask a loopback port nothing answers on (the discard
        # port), so no test ever reaches a DNS server on the internet.
        DNS_NAMESERVERS="127.0.0.1:9",
        DNS_TIMEOUT="2",
    )
    env.update(extra)
    return env


def run_cli(
    args: list[str], env: Mapping[str, str], cwd: Path, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TUNE, *args],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        input=stdin,
        timeout=120,
        check=False,
    )


@contextmanager
def serve(env: Mapping[str, str], cwd: Path, *args: str, port: int | None = None) -> Iterator[str]:
    """Start `tune run` and yield its base URL once /api/health answers; stop it on exit."""
    port = port or free_port()
    log = open(cwd / f"server-{port}.log", "w")
    process = subprocess.Popen(
        [TUNE, "run", "--port", str(port), *args],
        env=dict(env),
        cwd=cwd,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"tune run exited: {(cwd / f'server-{port}.log').read_text()[-2000:]}"
                )
            try:
                if httpx.get(base + "/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("tune run did not start within 60 s")
            time.sleep(0.2)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
