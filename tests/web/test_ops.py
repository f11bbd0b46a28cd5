"""Liveness, readiness, unhandled errors (logged once, standard answer) and Sentry."""

from __future__ import annotations

import contextlib
import gzip
import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sentry_sdk
from quart import Quart
from sqlalchemy import text

from webapp import create_app
from webapp.core.config import Config
from webapp.core.migrate import head_revision
from webapp.web.services import Services


async def test_health_answers_without_the_database(config: Config) -> None:
    application = create_app(
        config.with_changes(db_pool_size=1, db_max_overflow=0, db_pool_timeout=0.2)
    )
    async with application.test_app():
        tune: Services = application.extensions["tune"]
        held = tune.db.engine.connect()
        await held.start()
        try:
            client = application.test_client()
            health = await client.get("/api/health")
            ready = await client.get("/api/ready")
        finally:
            await held.close()
    assert health.status_code == 200
    assert await health.get_json() == {"status": "ok"}
    assert ready.status_code == 503
    body = await ready.get_json()
    assert body["checks"]["database"].startswith("unavailable")
    assert "database" in body["error"]["message"]


async def test_ready_when_everything_is_up(app: Quart) -> None:
    response = await app.test_client().get("/api/ready")
    assert response.status_code == 200
    assert await response.get_json() == {
        "status": "ready",
        "checks": {"database": "ok", "migrations": "ok", "event_writer": "ok"},
    }


async def test_ready_names_a_stopped_event_writer(app: Quart, tune: Services) -> None:
    await tune.writer.stop()
    response = await app.test_client().get("/api/ready")
    assert response.status_code == 503
    body = await response.get_json()
    assert body["checks"]["event_writer"] == "stopped"
    assert body["error"]["code"] == "service_unavailable"
    assert "event_writer stopped" in body["error"]["message"]


async def test_ready_names_migrations_behind_head(app: Quart, tune: Services) -> None:
    async with tune.db.write() as session:
        await session.execute(text("UPDATE alembic_version SET version_num = 'older'"))
    try:
        response = await app.test_client().get("/api/ready")
    finally:  # the PostgreSQL schema is kept for the rest of the session
        async with tune.db.write() as session:
            await session.execute(
                text("UPDATE alembic_version SET version_num = :head"), {"head": head_revision()}
            )
    assert response.status_code == 503
    body = await response.get_json()
    assert body["checks"]["migrations"] == "at older, not head"
    assert body["checks"]["database"] == "ok"


# Unhandled errors -------------------------------------------------------------


def failing_app(config: Config) -> Quart:
    """The real app plus two routes that fail the way a bug would."""
    application = create_app(config)

    @application.get("/api/test-failure")
    async def api_failure() -> Any:
        raise RuntimeError("kaboom in the API")

    @application.get("/test-failure")
    async def page_failure() -> Any:
        raise RuntimeError("kaboom on a page")

    return application


async def test_unhandled_api_error_is_logged_once_and_answered_as_json(
    config: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    application = failing_app(config)  # logs to the stream capsys captures
    async with application.test_app():
        capsys.readouterr()
        response = await application.test_client().get(
            "/api/test-failure", headers={"X-Request-ID": "req-abc-123"}
        )
    assert response.status_code == 500
    assert response.headers["X-Request-ID"] == "req-abc-123"
    body = await response.get_json()
    assert body["error"]["code"] == "internal_error"
    assert "req-abc-123" in body["error"]["message"]
    assert "kaboom" not in json.dumps(body)
    logged = capsys.readouterr().err
    lines = [line for line in logged.splitlines() if "unhandled_error" in line]
    assert len(lines) == 1, logged
    assert "req-abc-123" in lines[0]
    assert logged.count("RuntimeError: kaboom in the API") == 1  # the traceback, once


async def test_unhandled_page_error_shows_the_500_page(config: Config) -> None:
    application = failing_app(config)
    async with application.test_app():
        response = await application.test_client().get(
            "/test-failure", headers={"Accept": "text/html"}
        )
    assert response.status_code == 500
    assert response.content_type.startswith("text/html")
    page = await response.get_data(as_text=True)
    assert "<html" in page.lower()
    assert "kaboom" not in page


# Sentry ---------------------------------------------------------------------------


def test_nothing_is_initialised_without_a_dsn(config: Config) -> None:
    create_app(config)
    assert not sentry_sdk.get_client().is_active()


class _Envelopes(BaseHTTPRequestHandler):
    received: list[bytes] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        elif self.headers.get("Content-Encoding") == "br":
            import brotli

            body = brotli.decompress(body)
        self.received.append(body)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def sentry_collector() -> Iterator[tuple[str, list[bytes]]]:
    """A local HTTP server that takes Sentry envelopes; the SDK is shut down afterwards."""
    _Envelopes.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Envelopes)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://publickey@127.0.0.1:{server.server_address[1]}/42", _Envelopes.received
    finally:
        client = sentry_sdk.get_client()
        client.close(timeout=2)
        sentry_sdk.get_global_scope().set_client(None)
        server.shutdown()
        server.server_close()


async def test_sentry_reports_an_unhandled_error_once_with_the_request_id(
    config: Config, sentry_collector: tuple[str, list[bytes]]
) -> None:
    dsn, received = sentry_collector
    application = create_app(config.with_changes(sentry_dsn=dsn))

    @application.get("/api/test-failure")
    async def api_failure() -> Any:
        raise ValueError("reported to sentry")

    async with application.test_app():
        client = application.test_client()
        ok = await client.get("/api/health", headers={"X-Request-ID": "fine-1"})
        failed = await client.get("/api/test-failure", headers={"X-Request-ID": "sentry-req-7"})
    assert ok.status_code == 200
    assert failed.status_code == 500
    assert (await failed.get_json())["error"]["code"] == "internal_error"
    sentry_sdk.flush(timeout=5)

    events = []
    for envelope in received:
        for line in envelope.split(b"\n"):
            if line.startswith(b"{") and b'"exception"' in line:
                events.append(json.loads(line))
    assert len(events) == 1
    event = events[0]
    assert event["tags"]["request_id"] == "sentry-req-7"
    assert event["exception"]["values"][-1]["type"] == "ValueError"


@contextlib.contextmanager
def full_disk(folder: Path) -> Iterator[Path]:
    """A small real filesystem at `folder`; yields a file to fill it with (unmounted after)."""
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here: {mounted.stderr.strip()}")
    try:
        yield folder / "filler"
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(path: Path) -> None:
    """Write zeros to `path` until the filesystem refuses."""
    with contextlib.suppress(OSError), open(path, "wb") as handle:
        while True:
            handle.write(bytes(1 << 16))
            handle.flush()


async def ready_state(application: Quart) -> tuple[int, str]:
    response = await application.test_client().get("/api/ready")
    return response.status_code, (await response.get_json())["checks"]["database"]


async def test_ready_notices_a_database_that_cannot_be_written(
    config: Config, database_url: str, tmp_path: Path
) -> None:
    if database_url.startswith("sqlite"):
        # A full disk: reads still work, every commit fails.
        with full_disk(tmp_path / "small") as filler:
            path = filler.with_name("tune.db")
            shutil.copy(database_url.split(":///", 1)[1], path)
            application = create_app(
                config.with_changes(database_url=f"sqlite+aiosqlite:///{path}")
            )
            async with application.test_app():
                assert await ready_state(application) == (200, "ok")
                fill(filler)
                status, database = await ready_state(application)
                assert status == 503
                assert database.startswith("cannot write (disk full"), database
                filler.unlink()
                assert await ready_state(application) == (200, "ok")
        return
    # PostgreSQL that takes no writes (a standby, or read-only by default).
    application = create_app(config)
    async with application.test_app():
        tune: Services = application.extensions["tune"]
        name = tune.db.engine.url.database
        setting = f'ALTER DATABASE "{name}" {{}} default_transaction_read_only'
        # This session started before the change, so it can undo it.
        async with tune.db.engine.connect() as admin:
            await admin.execute(text(setting.format("SET") + " = on"))
            await admin.commit()
            try:
                await tune.db.engine.dispose()  # new connections take the new default
                status, database = await ready_state(application)
            finally:
                await admin.execute(text(setting.format("RESET")))
                await admin.commit()
                await tune.db.engine.dispose()
        assert status == 503
        assert database.startswith("cannot write (") and "read-only" in database, database
        assert await ready_state(application) == (200, "ok")
