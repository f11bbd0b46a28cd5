"""Shared parts of Tune's benchmarks: fresh databases, seeded data, real servers, wrk.

Every benchmark starts `tune run` (uvicorn, uvloop, httptools) on a free
loopback port against a database made for it, and drives it from another
process: wrk for throughput, a Python asyncio client where each acknowledged
request must be logged.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from webapp.core.config import Config
from webapp.core.db import Database
from webapp.core.migrate import upgrade
from webapp.core.models import (
    Campaign,
    CampaignCounter,
    Contact,
    Content,
    Event,
    Industry,
    Link,
    Prospect,
)
from webapp.outbound.tokens import TokenSigner

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
TUNE = str(Path(sys.executable).with_name("tune"))
SECRET = "bench-secret-key-0123456789abcdef"  # noqa: S105 - a throwaway bench server
API_KEY = "tune_bench_key_0123456789abcdefghij"
POSTGRES_ADMIN_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
PIXEL_LUA = BENCH_DIR / "paths.lua"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
LINK_POSITION = 1
"""Every seeded email has one tracked link, at this position."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- databases -------------------------------------------------------------------------------


@contextmanager
def fresh_database(backend: str, workdir: Path) -> Iterator[str]:
    """A migrated, empty database: a SQLite file in `workdir`, or a new PostgreSQL database."""
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
        upgrade(url)
        yield url
        return
    name = f"tune_bench_{os.getpid()}_{int(time.time() * 1000) % 10**9}"
    admin = make_url(POSTGRES_ADMIN_URL)
    asyncio.run(_pg_admin(admin.render_as_string(hide_password=False), f"CREATE DATABASE {name}"))
    url = admin.set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        asyncio.run(
            _pg_admin(
                admin.render_as_string(hide_password=False),
                f"DROP DATABASE IF EXISTS {name} WITH (FORCE)",
            )
        )


async def _pg_admin(url: str, statement: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(statement))
    finally:
        await engine.dispose()


def postgres_available() -> bool:
    url = make_url(POSTGRES_ADMIN_URL)
    try:
        with socket.create_connection((url.host or "127.0.0.1", url.port or 5432), timeout=1):
            return True
    except OSError:
        return False


@dataclass
class Seeded:
    """What a seeded campaign offers to a load tool."""

    campaign_id: int
    content_ids: list[int]
    contact_ids: list[int]


def seed_campaign(url: str, contents: int, *, industry: str = "casino", tier_of: int = 3) -> Seeded:
    """One campaign with `contents` prospects, contacts and emails, inserted in bulk."""
    return asyncio.run(_seed_campaign(url, contents, industry, tier_of))


async def _seed_campaign(url: str, count: int, industry: str, tier_of: int) -> Seeded:
    db = Database(Config(database_url=url, secret_key=SECRET))
    now = datetime.now(UTC)
    try:
        async with db.write() as session:
            industry_id = await session.scalar(select(Industry.id).where(Industry.slug == industry))
            campaign_id = (
                await session.execute(
                    insert(Campaign)
                    .values(name=f"Bench {count}", industry_id=industry_id)
                    .returning(Campaign.id)
                )
            ).scalar_one()
            first = (await session.scalar(select(func.coalesce(func.max(Prospect.id), 0)))) or 0
            step = 5_000
            for start in range(0, count, step):
                ids = range(first + start + 1, first + min(count, start + step) + 1)
                await session.execute(
                    insert(Prospect),
                    [
                        {
                            "id": n,
                            "campaign_id": campaign_id,
                            "company_key": f"company{n}.example",
                            "name": f"Company {n}",
                            "domain": f"company{n}.example",
                            "tier": 1 + n % tier_of,
                            "score": n % 100,
                            "score_reasons": [],
                        }
                        for n in ids
                    ],
                )
                await session.execute(
                    insert(Contact),
                    [
                        {
                            "id": n,
                            "campaign_id": campaign_id,
                            "prospect_id": n,
                            "email": f"person{n}@company{n}.example",
                            "first_name": "Pat",
                        }
                        for n in ids
                    ],
                )
                await session.execute(
                    insert(Content),
                    [
                        {
                            "id": n,
                            "campaign_id": campaign_id,
                            "contact_id": n,
                            "prospect_id": n,
                            "tier": 1 + n % tier_of,
                            "subject": "Hello",
                            "html": "<p>Hello</p>",
                            "text": "Hello",
                            "send_status": "sent",
                            "sent_at": now,
                        }
                        for n in ids
                    ],
                )
                await session.execute(
                    insert(Link),
                    [
                        {
                            "content_id": n,
                            "position": LINK_POSITION,
                            "url": f"https://company{n}.example/pricing",
                        }
                        for n in ids
                    ],
                )
        ids = list(range(first + 1, first + count + 1))
        return Seeded(campaign_id, ids, ids)
    finally:
        await db.dispose()


def seed_events(url: str, seeded: Seeded, count: int) -> None:
    """`count` open events over the campaign's emails, and the matching counter rows.

    Bulk SQL (a recursive CTE on SQLite, generate_series on PostgreSQL), not HTTP:
    a million rows take seconds.
    """
    asyncio.run(_seed_events(url, seeded, count))


async def _seed_events(url: str, seeded: Seeded, count: int) -> None:
    engine = create_async_engine(url)
    base = seeded.content_ids[0]
    size = len(seeded.content_ids)
    stamp = "2026-01-05 09:30:00.000000"
    columns = (
        "kind, campaign_id, content_id, contact_id, prospect_id, tier, occurred_at, "
        "flagged, unique_hit, source"
    )
    # Seeded ids are equal for prospect, contact and content; tier is 1 + id % 3.
    select_rows = (
        f"'open', {seeded.campaign_id}, {base} + (x % {size}), {base} + (x % {size}), "
        f"{base} + (x % {size}), 1 + (({base} + (x % {size})) % 3), '{stamp}', "
        "false, x < " + str(size) + ", 'pixel'"
    )
    try:
        async with engine.begin() as connection:
            if engine.dialect.name == "sqlite":
                await connection.execute(
                    text(
                        f"WITH RECURSIVE c(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM c "  # noqa: S608
                        f"WHERE x < {count - 1}) INSERT INTO events ({columns}) "
                        f"SELECT {select_rows} FROM c"
                    )
                )
            else:
                await connection.execute(
                    text(
                        f"INSERT INTO events ({columns}) SELECT {select_rows} "  # noqa: S608
                        f"FROM generate_series(0, {count - 1}) AS x"
                    )
                )
            per_tier: dict[int, int] = {}
            for offset in range(size):
                tier = 1 + (base + offset) % 3
                hits = count // size + (1 if offset < count % size else 0)
                per_tier[tier] = per_tier.get(tier, 0) + hits
            for tier, total in per_tier.items():
                uniques = sum(1 for cid in seeded.content_ids if 1 + cid % 3 == tier)
                for name, value in (
                    ("open_total", total),
                    ("open_unique", min(uniques, total)),
                    ("sent", uniques),
                ):
                    await connection.execute(
                        insert(CampaignCounter).values(
                            campaign_id=seeded.campaign_id, tier=tier, name=name, value=value
                        )
                    )
    finally:
        await engine.dispose()


def count_events(url: str) -> int:
    async def work() -> int:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as connection:
                return int((await connection.scalar(select(func.count()).select_from(Event))) or 0)
        finally:
            await engine.dispose()

    return asyncio.run(work())


def write_paths(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def pixel_paths(seeded: Seeded) -> list[str]:
    signer = TokenSigner(SECRET)
    return [f"/t/o/{signer.open_token(cid)}.gif" for cid in seeded.content_ids]


def click_paths(seeded: Seeded) -> list[str]:
    signer = TokenSigner(SECRET)
    return [f"/t/c/{signer.click_token(cid, LINK_POSITION)}" for cid in seeded.content_ids]


# --- servers ---------------------------------------------------------------------------------


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
        for pid in [self.pid, *_children(self.pid)]:
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
        for pid in [self.pid, *_children(self.pid)]:
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


def _children(pid: int) -> list[int]:
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
    server = start_server(database_url, workdir, *args, **extra)
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


# --- wrk -------------------------------------------------------------------------------------


@dataclass
class WrkResult:
    """One wrk run: request counts, errors and latency percentiles (ms)."""

    requests: int
    seconds: float
    non_2xx: int
    socket_errors: int
    timeouts: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    server_cpu_s: float = 0.0
    """CPU time the server used during the run, when measured."""

    @property
    def rps(self) -> float:
        return round(self.requests / self.seconds, 1) if self.seconds else 0.0

    @property
    def cpu_us_per_request(self) -> float:
        return round(self.server_cpu_s * 1e6 / self.requests, 1) if self.requests else 0.0

    @property
    def ok(self) -> int:
        return self.requests - self.non_2xx

    @classmethod
    def combined(cls, runs: list[WrkResult]) -> WrkResult:
        """Several runs as one: totals, the median p50, the worst p99 and maximum."""
        return cls(
            requests=sum(run.requests for run in runs),
            seconds=sum(run.seconds for run in runs),
            non_2xx=sum(run.non_2xx for run in runs),
            socket_errors=sum(run.socket_errors for run in runs),
            timeouts=sum(run.timeouts for run in runs),
            p50_ms=statistics.median(run.p50_ms for run in runs),
            p99_ms=max(run.p99_ms for run in runs),
            max_ms=max(run.max_ms for run in runs),
            server_cpu_s=sum(run.server_cpu_s for run in runs),
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "ok": self.ok,
            "rps": self.rps,
            "non_2xx": self.non_2xx,
            "socket_errors": self.socket_errors,
            "timeouts": self.timeouts,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "max_ms": self.max_ms,
            "cpu_us_per_request": self.cpu_us_per_request,
        }


def ensure_wrk() -> str:
    """The wrk binary; installed from Debian's packages when missing (needs root)."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("wrk not found: installing it with apt-get", file=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=False, timeout=300)
        found = shutil.which("wrk")
        if found:
            return found
    raise SystemExit("wrk is required: apt-get install wrk (Debian/Ubuntu) or brew install wrk")


def wrk(
    base: str,
    paths: Path | str,
    *,
    seconds: float,
    connections: int,
    threads: int = 1,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    max_requests: int = 0,
    timeout_s: int = 10,
) -> WrkResult:
    """Drive `base` with wrk for `seconds`; `paths` is a file of request paths or one path.

    With `max_requests`, each thread stops after its share (the run still ends at `seconds`).
    """
    binary = ensure_wrk()
    if isinstance(paths, str):
        single = Path(tempfile.mkstemp(prefix="tune-wrk-", suffix=".txt")[1])
        single.write_text(paths + "\n")
        paths = single
    args = [str(paths), method, str(max(0, max_requests // threads))]
    args += [f"{name}: {value}" for name, value in (headers or {}).items()]
    command = [
        binary,
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{max(1, round(seconds))}s",
        "--timeout",
        f"{timeout_s}s",
        "-s",
        str(PIXEL_LUA),
        base,
        "--",
        *args,
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    line = next(
        (row for row in done.stdout.splitlines() if row.startswith("WRK_JSON ")),
        None,
    )
    if line is None:
        raise RuntimeError(f"wrk failed: {done.stdout[-1000:]} {done.stderr[-1000:]}")
    data = json.loads(line.removeprefix("WRK_JSON "))
    return WrkResult(
        requests=int(data["requests"]),
        seconds=float(data["duration_us"]) / 1e6,
        non_2xx=int(data["status"]),
        socket_errors=int(data["connect"] + data["read"] + data["write"]),
        timeouts=int(data["timeout"]),
        p50_ms=round(float(data["p50_us"]) / 1000, 2),
        p99_ms=round(float(data["p99_us"]) / 1000, 2),
        max_ms=round(float(data["max_us"]) / 1000, 2),
    )


def settle(server: Server, database_url: str, expected: int, timeout: float = 30) -> int:
    """Events in the database once the writer has caught up (at least `expected`)."""
    deadline = time.monotonic() + timeout
    count = count_events(database_url)
    while count < expected and time.monotonic() < deadline:
        time.sleep(0.2)
        count = count_events(database_url)
    return count


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
