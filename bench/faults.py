"""Fault scenarios with a pass/fail verdict: they break a real server under load.

- `kill9`: SIGKILL the server in the middle of a pixel load; after restart every
  request that got a 200 has its event in the database, which passes
  `PRAGMA integrity_check`.
- `pgrestart`: restart PostgreSQL in the middle of a load; the pixel keeps
  answering its GIF, the JSON API answers 503 (never 500), no worker dies and
  service resumes by itself. PostgreSQL is always started again afterwards.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from bench import harness
from bench.suites import Settings
from webapp.core.models import Event


def _ack_targets(workdir: Path, seeded: harness.Seeded) -> Path:
    paths = harness.pixel_paths(seeded)
    return harness.write_paths(
        workdir / "targets.txt",
        [f"{cid} {path}" for cid, path in zip(seeded.content_ids, paths, strict=True)],
    )


def _ack_client(
    base: str, targets: Path, log: Path, seconds: float, concurrency: int = 32
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.ackclient",
            base,
            str(targets),
            str(log),
            "--seconds",
            str(seconds),
            "--concurrency",
            str(concurrency),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=harness.BENCH_DIR.parent,
    )


def events_per_content(url: str) -> collections.Counter[int]:
    async def work() -> collections.Counter[int]:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as connection:
                rows = await connection.execute(
                    select(Event.content_id, func.count()).group_by(Event.content_id)
                )
                return collections.Counter({int(cid): int(n) for cid, n in rows})
        finally:
            await engine.dispose()

    return asyncio.run(work())


def acknowledged(log: Path) -> collections.Counter[int]:
    return collections.Counter(int(line) for line in log.read_text().split())


def kill9(settings: Settings, backend: str = "sqlite") -> dict[str, Any]:
    """SIGKILL mid-load: every acknowledged pixel hit is stored; the database is intact."""
    load_s = 4.0 if settings.quick else 8.0
    with harness.workspace("kill9") as workdir, harness.fresh_database(backend, workdir) as url:
        seeded = harness.seed_campaign(url, 2_000)
        targets = _ack_targets(workdir, seeded)
        log = workdir / "acks.txt"
        server = harness.start_server(url, workdir)
        client = _ack_client(server.base, targets, log, seconds=load_s + 2)
        time.sleep(load_s / 2)
        os.kill(server.pid, signal.SIGKILL)
        server.process.wait()
        out, _ = client.communicate(timeout=60)
        acks = acknowledged(log)
        integrity = "n/a"
        if backend == "sqlite":
            with sqlite3.connect(workdir / "bench.db") as connection:
                integrity = connection.execute("PRAGMA integrity_check").fetchone()[0]
        with harness.running(url, workdir) as restarted:
            ready = httpx.get(restarted.base + "/api/ready", timeout=10).status_code
        stored = events_per_content(url)
        missing = sum(max(0, n - stored.get(cid, 0)) for cid, n in acks.items())
        return {
            "backend": backend,
            "acknowledged": sum(acks.values()),
            "stored": sum(stored.values()),
            "missing": missing,
            "integrity_check": integrity,
            "ready_after_restart": ready,
            "client": json.loads(out or "{}"),
            "pass": missing == 0
            and sum(acks.values()) > 0
            and integrity in ("ok", "n/a")
            and ready == 200,
        }


def _postgres_cluster() -> str | None:
    try:
        versions = os.listdir("/etc/postgresql")
    except OSError:
        return None
    return sorted(versions)[-1] if versions else None


def _pg_ctl(action: str, version: str) -> int:
    return subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action],
        capture_output=True,
        timeout=120,
        check=False,
    ).returncode


def pgrestart(settings: Settings) -> dict[str, Any]:
    """Restart PostgreSQL under pixel + JSON load; clean failures, self-recovery."""
    version = _postgres_cluster()
    if version is None or shutil.which("pg_ctlcluster") is None:
        return {"status": "skipped: no local PostgreSQL cluster to restart", "pass": None}
    if not harness.postgres_available():
        return {"status": "skipped: PostgreSQL not running", "pass": None}
    try:
        return _pgrestart(settings, version)
    finally:
        if not harness.postgres_available():
            _pg_ctl("start", version)


def _pgrestart(settings: Settings, version: str) -> dict[str, Any]:
    with (
        harness.workspace("pgrestart") as workdir,
        harness.fresh_database("postgres", workdir) as url,
    ):
        seeded = harness.seed_campaign(url, 2_000)
        paths = harness.pixel_paths(seeded)
        statuses: dict[str, collections.Counter[str]] = {
            "pixel": collections.Counter(),
            "api": collections.Counter(),
        }
        stop = threading.Event()
        with harness.running(url, workdir, "--workers", "2") as server:
            pids_before = set(harness.children(server.pid))

            def load(kind: str) -> None:
                with httpx.Client(base_url=server.base, timeout=15) as client:
                    n = 0
                    while not stop.is_set():
                        n += 1
                        cid = seeded.content_ids[n % len(seeded.content_ids)]
                        try:
                            if kind == "pixel":
                                answer = client.get(paths[n % len(paths)])
                                ok = answer.headers.get("content-type") == "image/gif"
                                label = f"{answer.status_code}{'' if ok else ' not-gif'}"
                            else:
                                answer = client.post(
                                    f"/api/tracking/email-opened?content_id={cid}&contact_id={cid}",
                                    headers={"X-API-Key": harness.API_KEY},
                                )
                                label = str(answer.status_code)
                        except httpx.HTTPError as exc:
                            label = type(exc).__name__
                        statuses[kind][label] += 1

            threads = [threading.Thread(target=load, args=(kind,)) for kind in ("pixel", "api")]
            for thread in threads:
                thread.start()
            time.sleep(2)
            restarted_at = time.monotonic()
            restart_rc = _pg_ctl("restart", version)
            recovered_after = None
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if httpx.get(server.base + "/api/ready", timeout=5).status_code == 200:
                        recovered_after = round(time.monotonic() - restarted_at, 1)
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            time.sleep(2)
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
            pids_after = set(harness.children(server.pid))
            log_text = server.log_path.read_text(errors="replace")
            unhandled = [line[:600] for line in log_text.splitlines() if "unhandled_error" in line]
            # After recovery, an event is accepted and stored again.
            cid = seeded.content_ids[0]
            after = httpx.post(
                f"{server.base}/api/tracking/email-opened?content_id={cid}&contact_id={cid}",
                headers={"X-API-Key": harness.API_KEY},
                timeout=15,
            ).status_code
        bad_api = {k: v for k, v in statuses["api"].items() if k not in ("200", "503")}
        bad_pixel = {k: v for k, v in statuses["pixel"].items() if k != "200"}
        return {
            "restart_exit_code": restart_rc,
            "pixel_answers": dict(statuses["pixel"]),
            "api_answers": dict(statuses["api"]),
            "ready_again_after_s": recovered_after,
            "workers_same": pids_before == pids_after and len(pids_before) == 2,
            "api_after_recovery": after,
            "unhandled_errors": unhandled[:3],
            "pass": restart_rc == 0
            and not bad_api
            and not bad_pixel
            and recovered_after is not None
            and pids_before == pids_after
            and after == 200,
        }


FAULTS = {"kill9": kill9, "pgrestart": pgrestart}
