"""Faults a real server must survive: kill -9 and SIGTERM under load, a full disk,
and slow clients holding connections open."""

from __future__ import annotations

import asyncio
import collections
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from tests.support.factories import make_campaign, make_contact, make_content, make_prospect
from tests.support.paths import ROOT
from tests.support.servers import TUNE, free_port, serve, tune_env
from webapp.core.config import Config
from webapp.core.db import Database
from webapp.core.models import Event
from webapp.outbound.tokens import TokenSigner

pytestmark = pytest.mark.slow

SERVER_SECRET = "server-test-secret-0123456789"  # what tests.servers.tune_env sets


async def _seed(url: str, count: int) -> list[int]:
    db = Database(Config(database_url=url, secret_key="x" * 20))
    try:
        async with db.write() as session:
            campaign = await make_campaign(session)
            ids = []
            for _ in range(count):
                contact = await make_contact(session, await make_prospect(session, campaign))
                ids.append((await make_content(session, contact)).id)
            return ids
    finally:
        await db.dispose()


async def _stored(url: str) -> collections.Counter[int]:
    db = Database(Config(database_url=url, secret_key="x" * 20))
    try:
        async with db.read() as session:
            rows = await session.execute(
                select(Event.content_id, func.count()).group_by(Event.content_id)
            )
            return collections.Counter({int(cid): int(n) for cid, n in rows})
    finally:
        await db.dispose()


def targets_file(tmp_path: Path, ids: list[int]) -> Path:
    signer = TokenSigner(SERVER_SECRET)
    path = tmp_path / "targets.txt"
    path.write_text("".join(f"{cid} /t/o/{signer.open_token(cid)}.gif\n" for cid in ids))
    return path


def ack_client(base: str, targets: Path, log: Path, seconds: float) -> subprocess.Popen[str]:
    """The load client in its own process: one line per request answered 200; it stops
    after `seconds` or once the server is gone."""
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "bench.ackclient", base, str(targets), str(log)),
            *("--seconds", str(seconds), "--concurrency", "24", "--until-down"),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )


def start(env: dict[str, str], cwd: Path, **popen: object) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen([TUNE, "run", "--port", str(port)], env=env, cwd=cwd, **popen)  # type: ignore[call-overload]
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "tune run exited during startup"
        try:
            if httpx.get(base + "/api/health", timeout=1).status_code == 200:
                return process, base
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("tune run did not start")


def under_load(acks: Path, answers: int = 200, timeout: float = 30) -> None:
    """Wait until the load client has had `answers` requests acknowledged: the fault then
    strikes mid-load however slowly the client and server started on a busy machine."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if acks.exists() and acks.read_bytes().count(b"\n") >= answers:
            return
        time.sleep(0.05)
    raise AssertionError(f"the load client had fewer than {answers} answers in {timeout} s")


def missing(acks: Path, stored: collections.Counter[int]) -> int:
    counted = collections.Counter(int(line) for line in acks.read_text().split())
    assert sum(counted.values()) > 50, "the load client got too few answers to prove anything"
    return sum(max(0, n - stored.get(cid, 0)) for cid, n in counted.items())


def test_kill_9_mid_load_loses_no_acknowledged_event(database_url: str, tmp_path: Path) -> None:
    ids = asyncio.run(_seed(database_url, 50))
    env = tune_env(database_url, tmp_path)
    with (tmp_path / "server.log").open("wb") as log:
        process, base = start(env, tmp_path, stdout=log, stderr=subprocess.STDOUT)
        client = ack_client(base, targets_file(tmp_path, ids), tmp_path / "acks.txt", 60)
        under_load(tmp_path / "acks.txt")
        process.send_signal(signal.SIGKILL)
        process.wait()
        client.communicate(timeout=60)
    if database_url.startswith("sqlite"):
        import sqlite3

        path = database_url.split("///", 1)[1]
        with sqlite3.connect(path) as connection:
            assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with serve(env, tmp_path) as restarted:
        assert httpx.get(restarted + "/api/ready", timeout=10).status_code == 200
    assert missing(tmp_path / "acks.txt", asyncio.run(_stored(database_url))) == 0


def test_sigterm_under_load_drains_the_writer_and_exits_0(
    database_url: str, tmp_path: Path
) -> None:
    ids = asyncio.run(_seed(database_url, 50))
    env = {**tune_env(database_url, tmp_path), "LOG_LEVEL": "INFO"}
    with (tmp_path / "server.log").open("wb") as log:
        process, base = start(env, tmp_path, stdout=log, stderr=subprocess.STDOUT)
        client = ack_client(base, targets_file(tmp_path, ids), tmp_path / "acks.txt", 60)
        under_load(tmp_path / "acks.txt")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=40) == 0
        out, _ = client.communicate(timeout=60)
    assert "shutdown_complete" in (tmp_path / "server.log").read_text()
    assert json.loads(out)["ok"] > 0
    assert missing(tmp_path / "acks.txt", asyncio.run(_stored(database_url))) == 0


def test_a_full_disk_answers_503_and_never_acknowledges_a_lost_event(tmp_path: Path) -> None:
    """SQLite on a disk that fills up (a file-size limit on the server process)."""
    from webapp.core.migrate import upgrade

    path = tmp_path / "tune.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url)
    ids = asyncio.run(_seed(url, 20))
    env = tune_env(url, tmp_path, TUNE_BOOTSTRAP_API_KEY="tune_fault_key_0123456789abcdef")
    limit = path.stat().st_size + 96 * 1024

    def small_disk() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    output: list[bytes] = []
    process, base = start(
        env, tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=small_disk
    )
    assert process.stdout is not None
    reader = threading.Thread(target=lambda: output.extend(process.stdout or []), daemon=True)
    reader.start()
    statuses: collections.Counter[int] = collections.Counter()
    acked: collections.Counter[int] = collections.Counter()
    try:
        with httpx.Client(base_url=base, timeout=30) as client:
            for n in range(3000):
                cid = ids[n % len(ids)]
                answer = client.post(
                    f"/api/tracking/email-replied?content_id={cid}&contact_id={cid}",
                    headers={"X-API-Key": "tune_fault_key_0123456789abcdef"},
                )
                statuses[answer.status_code] += 1
                if answer.status_code == 200:
                    acked[cid] += 1
                if statuses[503] >= 5:
                    break
            pixel = client.get(f"/t/o/{TokenSigner(SERVER_SECRET).open_token(ids[0])}.gif")
            assert pixel.status_code == 200
            assert pixel.headers["content-type"] == "image/gif"
            assert client.get("/api/health").status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=40)
        reader.join(timeout=10)
    assert statuses[503] >= 5, statuses
    assert set(statuses) <= {200, 404, 503}, statuses
    stored = asyncio.run(_stored(url))
    assert all(stored.get(cid, 0) >= n for cid, n in acked.items())
    log = b"".join(output).decode(errors="replace")
    assert "event_write_failed" in log  # the failure is logged, never silent


def test_a_read_only_database_stops_startup_with_one_clear_line(tmp_path: Path) -> None:
    """A database file (and folder) nobody may write: `tune run` refuses to start, saying why.

    Root ignores file modes, so the test makes them immutable (`chattr +i`), which binds root too.
    """
    from webapp.core.migrate import upgrade

    folder = tmp_path / "data"
    folder.mkdir()
    path = folder / "tune.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url)
    for name in ("tune.db-wal", "tune.db-shm"):
        (folder / name).unlink(missing_ok=True)
    locked = [path, folder]
    if os.geteuid() == 0:
        lock = subprocess.run(["chattr", "+i", *map(str, locked)], capture_output=True, check=False)
        if lock.returncode != 0:
            pytest.skip(f"chattr +i is not available here: {lock.stderr.decode().strip()}")
    else:
        path.chmod(0o444)
        folder.chmod(0o555)
    try:
        done = subprocess.run(
            [TUNE, "run", "--port", str(free_port())],
            env=tune_env(url, tmp_path),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", *map(str, locked)], check=True)
        else:
            folder.chmod(0o755)
            path.chmod(0o644)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr + done.stdout
    assert "cannot be used: attempt to write a readonly database" in done.stderr
    assert "writable" in done.stderr


def test_slow_clients_do_not_starve_others(database_url: str, tmp_path: Path) -> None:
    env = tune_env(database_url, tmp_path)
    with serve(env, tmp_path) as base:
        host, port = base.removeprefix("http://").split(":")
        idle = []
        try:
            for _ in range(300):
                sock = socket.create_connection((host, int(port)), timeout=5)
                sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                idle.append(sock)
            started = time.monotonic()
            for _ in range(20):
                assert httpx.get(base + "/api/health", timeout=5).status_code == 200
            assert time.monotonic() - started < 10
        finally:
            for sock in idle:
                sock.close()


def test_limit_concurrency_sheds_load_with_503_not_a_hang(
    database_url: str, tmp_path: Path
) -> None:
    env = tune_env(database_url, tmp_path)
    with serve(env, tmp_path, "--limit-concurrency", "20") as base:
        host, port = base.removeprefix("http://").split(":")
        idle = [socket.create_connection((host, int(port)), timeout=5) for _ in range(40)]
        try:
            # Requests in flight (the login form waits for a body that never comes)
            # count against the limit; connections still sending headers do not.
            for sock in idle:
                sock.sendall(
                    b"POST /login HTTP/1.1\r\nHost: x\r\n"
                    b"Content-Type: application/x-www-form-urlencoded\r\n"
                    b"Content-Length: 1000\r\n\r\nemail="
                )
            time.sleep(0.5)
            answer = httpx.get(base + "/api/health", timeout=5)
            assert answer.status_code == 503
        finally:
            for sock in idle:
                sock.close()
        deadline = time.monotonic() + 10
        while httpx.get(base + "/api/health", timeout=5).status_code != 200:
            assert time.monotonic() < deadline, "did not recover after the slow clients left"
            time.sleep(0.2)


if os.name != "posix":  # pragma: no cover
    raise ImportError("fault tests need POSIX signals and resource limits")
