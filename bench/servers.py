"""Real servers for benchmarks: `tune run` and the ceiling apps as processes, their CPU and memory.

Every benchmark starts `tune run` (uvicorn, uvloop, httptools) on a free
loopback port against a database made for it and drives it from another process.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.constants import API_KEY, BENCH_DIR, CLOCK_TICKS, SECRET, TUNE
from bench.databases import count_events


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A running `tune run` process."""

    process: subprocess.Popen[bytes]
    base: str
    log_path: Path
    workdir: Path
    env: dict[str, str] = field(repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss_mb(self) -> float:
        """Resident memory of the server and its worker processes, in MB."""
        total = 0
        for pid in [self.pid, *children(self.pid)]:
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except OSError:
                continue
        return round(total / 1024, 1)

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the server and its worker processes."""
        ticks = 0
        for pid in [self.pid, *children(self.pid)]:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / CLOCK_TICKS

    def peak_rss_mb(self) -> float:
        """The largest resident memory the server process has had (VmHWM), in MB."""
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
        except OSError:
            pass
        return 0.0

    def log_count(self, needle: str) -> int:
        try:
            return self.log_path.read_text(errors="replace").count(needle)
        except OSError:
            return 0

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, wait; the exit code (killed after `timeout`)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode)


def children(pid: int) -> list[int]:
    """The ids of the processes `pid` started (uvicorn's workers, the import child)."""
    try:
        raw = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [int(child) for child in raw]


def server_env(database_url: str, workdir: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TUNE_", "DATABASE_URL", "RATELIMIT", "RATE_LIMIT", "LOG_"))
    }
    env.update(
        DATABASE_URL=database_url,
        TUNE_ENV="production",
        TUNE_SECRET_KEY=SECRET,
        TUNE_BOOTSTRAP_API_KEY=API_KEY,
        TUNE_INSTANCE_PATH=str(workdir / "instance"),
        TUNE_RUN_SENDER="false",
        LOG_LEVEL="INFO",
        RATE_LIMIT="100000000/minute",
    )
    env.update(extra)
    return env


def start_server(
    database_url: str, workdir: Path, *args: str, timeout: float = 60, **extra: str
) -> Server:
    """Start `tune run` and return once `/api/health` answers."""
    env = server_env(database_url, workdir, **extra)
    return _start([TUNE, "run", *args], "/api/health", workdir, env, timeout)


def start_ceiling(name: str, workdir: Path, timeout: float = 60) -> Server:
    """Start one of the ceiling apps (`quart` or `raw`, see bench/ceilings.py)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TUNE_")}
    command = [sys.executable, "-m", "bench.ceilings", name]
    return _start(command, "/t/o/ceiling.gif", workdir, env, timeout, cwd=BENCH_DIR.parent)


def _start(
    command: list[str],
    ready_path: str,
    workdir: Path,
    env: dict[str, str],
    timeout: float,
    cwd: Path | None = None,
) -> Server:
    """Run `command --port <free port>`; return once `ready_path` answers 200."""
    port = free_port()
    log_path = workdir / f"server-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*command, "--port", str(port)],
            env=env,
            cwd=cwd or workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(process, f"http://127.0.0.1:{port}", log_path, workdir, env)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{command[0]} exited: {log_path.read_text()[-2000:]}")
        try:
            if httpx.get(server.base + ready_path, timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"{' '.join(command)} did not start within {timeout} s")
        time.sleep(0.1)


@contextmanager
def running(database_url: str, workdir: Path, *args: str, **extra: str) -> Iterator[Server]:
    """`tune run *args` with `extra` in its environment, stopped when the block ends."""
    env = server_env(database_url, workdir, **extra)
    server = _start([TUNE, "run", *args], "/api/health", workdir, env, timeout=60)
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def ceilings(workdir: Path) -> Iterator[dict[str, Server]]:
    """The bare Quart and raw ASGI apps, running for the length of the block."""
    servers: dict[str, Server] = {}
    try:
        for name in ("quart", "raw"):
            servers[name] = start_ceiling(name, workdir)
        yield servers
    finally:
        for server in servers.values():
            server.stop()


@contextmanager
def workspace(name: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=f"tune-bench-{name}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def settle(server: Server, database_url: str, expected: int, timeout: float = 30) -> int:
    """Events in the database once the writer has caught up (at least `expected`)."""
    deadline = time.monotonic() + timeout
    count = count_events(database_url)
    while count < expected and time.monotonic() < deadline:
        time.sleep(0.2)
        count = count_events(database_url)
    return count
