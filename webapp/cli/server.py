"""`tune run` (migrate, bootstrap, serve with uvicorn) and `tune db`."""

from __future__ import annotations

import contextlib
import os
import signal
import sys

import click

from webapp.cli.common import apply_migrations, load_config, with_db
from webapp.cli.prospects import demo_on_empty_database
from webapp.core.config import Config
from webapp.core.db import Database, redacted_url


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--limit-concurrency",
    default=2000,
    show_default=True,
    type=click.IntRange(1),
    help="Requests handled at once; beyond it new requests get 503 instead of queueing. "
    "Connections still sending their headers do not count.",
)
def run(host: str, port: int, workers: int, limit_concurrency: int) -> None:
    """Apply migrations, make sure an API key exists, and serve with uvicorn."""
    import uvicorn

    from webapp.core.logs import configure_logging
    from webapp.web import serving

    if not os.environ.get("TUNE_BASE_URL"):
        os.environ["TUNE_BASE_URL"] = (
            f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"  # noqa: S104
        )
    config = load_config()
    configure_logging(json=config.json_logs, level=config.log_level)
    apply_migrations(config)
    with_db(config, lambda db: _bootstrap(db, config))
    if config.env == "development":
        with_db(config, _bootstrap_admin)
    if config.demo:
        with_db(config, lambda db: demo_on_empty_database(db, config))
    _prepare_metrics_dir(workers)
    _raise_open_file_limit()
    # Every worker's protocol reads these (webapp/web/serving.py).
    os.environ[serving.HEADER_TIMEOUT_ENV] = f"{config.header_timeout:g}"
    os.environ[serving.REQUEST_LIMIT_ENV] = str(limit_concurrency)
    click.echo(f"Tune is serving on {config.base_url}  (dashboard: {config.base_url}/)", err=True)
    # uvicorn re-raises SIGTERM/SIGINT once its graceful shutdown is done; with this
    # handler in place that ends the process with exit status 0, as supervisors expect.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    uvicorn.run(
        "webapp.asgi:app",
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http=serving.PROTOCOL,
        proxy_headers=False,
        server_header=False,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=30,
        log_config=None,
    )


def _exit_cleanly(number: int, frame: object) -> None:
    sys.exit(0)


def _raise_open_file_limit() -> None:
    """Each connection is a file descriptor: allow as many as the system lets this user."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return
    target = 65536 if hard == resource.RLIM_INFINITY else hard
    if target > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def _prepare_metrics_dir(workers: int) -> None:
    """Workers share metrics through files: set PROMETHEUS_MULTIPROC_DIR and empty it.

    An operator's PROMETHEUS_MULTIPROC_DIR is used (and wiped) as it is; with
    several workers and none set, a temporary one is made and removed at exit.
    """
    import atexit
    import shutil
    import tempfile

    from webapp.core.metrics import MULTIPROC_ENV, wipe

    path = os.environ.get(MULTIPROC_ENV)
    if path:
        os.makedirs(path, exist_ok=True)
        wipe(path)
        return
    if workers > 1:
        path = tempfile.mkdtemp(prefix="tune-metrics-")
        os.environ[MULTIPROC_ENV] = path
        atexit.register(shutil.rmtree, path, ignore_errors=True)


async def _bootstrap(db: Database, config: Config) -> None:
    """First start: print a fresh API key; with TUNE_BOOTSTRAP_API_KEY, ensure that key."""
    from webapp.accounts import apikeys

    async with db.write() as session:
        if config.bootstrap_api_key:
            if config.bootstrap_key_is_short:
                click.echo(
                    "Warning: TUNE_BOOTSTRAP_API_KEY is short (under 20 characters); "
                    "fine for development, refused in production.",
                    err=True,
                )
            outcome = await apikeys.ensure_key(session, "bootstrap", config.bootstrap_api_key)
            if outcome == "added":
                click.echo("Stored the API key from TUNE_BOOTSTRAP_API_KEY.", err=True)
            elif outcome == "revoked":
                click.echo(
                    "TUNE_BOOTSTRAP_API_KEY is a revoked key and stays revoked; "
                    "set a new key or unset the variable.",
                    err=True,
                )
            return
        if await apikeys.count_keys(session) == 0:
            created = await apikeys.create_key(session, "first key")
            click.echo(
                "\nFirst start: created an API key (stored hashed; it will not be shown again):\n"
                f"  {created.key}\n",
                err=True,
            )


@click.group()
def db() -> None:
    """Database migrations."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration."""
    config = load_config()
    apply_migrations(config)
    click.echo(f"Database at {redacted_url(config.database_url)} is up to date.")


FIRST_ADMIN_EMAIL = "admin@localhost"


async def _bootstrap_admin(db: Database) -> None:
    """Development first start: create a dashboard admin and print its password once."""
    from webapp.accounts import users

    async with db.write() as session:
        if await users.count_users(session) > 0:
            return
        password = users.generate_password()
        await users.create_user(session, FIRST_ADMIN_EMAIL, password, is_admin=True)
    click.echo(
        "\nFirst start: created the dashboard user (it will not be shown again):\n"
        f"  email:    {FIRST_ADMIN_EMAIL}\n  password: {password}\n",
        err=True,
    )


COMMANDS = (run, db)
