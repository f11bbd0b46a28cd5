"""The `tune` command line: serve, migrate, and manage API keys."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click

from .config import Config
from .db import Database, redacted_url
from .errors import ConfigError, TuneError

T = TypeVar("T")


def load_config() -> Config:
    try:
        return Config.from_env()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def with_db(config: Config, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run `work` against a fresh Database in its own event loop."""

    async def main() -> T:
        db = Database(config)
        try:
            return await work(db)
        finally:
            await db.dispose()

    try:
        return asyncio.run(main())
    except TuneError as exc:
        raise click.ClickException(exc.message) from None


def apply_migrations(config: Config) -> None:
    from .logs import get_logger
    from .migrate import upgrade

    upgrade(config.database_url)
    get_logger("webapp.db").info("migrations_applied", url=redacted_url(config.database_url))


@click.group()
def main() -> None:
    """Tune: campaign and prospect tracking for outbound email."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--limit-concurrency",
    default=2000,
    show_default=True,
    type=click.IntRange(1),
    help="Connections beyond this get 503 instead of starving everyone.",
)
def run(host: str, port: int, workers: int, limit_concurrency: int) -> None:
    """Apply migrations, make sure an API key exists, and serve with uvicorn."""
    import uvicorn

    from .logs import configure_logging

    if not os.environ.get("TUNE_BASE_URL"):
        os.environ["TUNE_BASE_URL"] = (
            f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"  # noqa: S104
        )
    config = load_config()
    configure_logging(json=config.json_logs, level=config.log_level)
    apply_migrations(config)
    with_db(config, lambda db: _bootstrap(db, config))
    _prepare_metrics_dir(workers)
    click.echo(f"Tune is serving on {config.base_url}  (dashboard: {config.base_url}/)", err=True)
    uvicorn.run(
        "webapp.asgi:app",
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        proxy_headers=False,
        server_header=False,
        limit_concurrency=limit_concurrency,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=30,
        log_config=None,
    )


def _prepare_metrics_dir(workers: int) -> None:
    """Workers share metrics through files: set PROMETHEUS_MULTIPROC_DIR and empty it.

    An operator's PROMETHEUS_MULTIPROC_DIR is used (and wiped) as it is; with
    several workers and none set, a temporary one is made and removed at exit.
    """
    import atexit
    import shutil
    import tempfile

    from .metrics import MULTIPROC_ENV, wipe

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
    from . import apikeys

    async with db.write() as session:
        if config.bootstrap_api_key:
            if await apikeys.ensure_key(session, "bootstrap", config.bootstrap_api_key):
                click.echo("Stored the API key from TUNE_BOOTSTRAP_API_KEY.", err=True)
            return
        if await apikeys.count_keys(session) == 0:
            created = await apikeys.create_key(session, "first key")
            click.echo(
                "\nFirst start: created an API key (stored hashed; it will not be shown again):\n"
                f"  {created.key}\n",
                err=True,
            )


@main.group()
def db() -> None:
    """Database migrations."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration."""
    config = load_config()
    apply_migrations(config)
    click.echo(f"Database at {redacted_url(config.database_url)} is up to date.")


@main.group()
def keys() -> None:
    """Create, list and revoke API keys (rotate: create a new one, then revoke the old)."""


@keys.command("create")
@click.option("--name", required=True, help="What the key is for, e.g. 'crm sync'.")
def keys_create(name: str) -> None:
    """Create a key and print it, alone, on the last line (it is shown only once)."""
    from . import apikeys

    async def work(db: Database) -> apikeys.CreatedKey:
        async with db.write() as session:
            return await apikeys.create_key(session, name)

    created = with_db(load_config(), work)
    click.echo(f"Created API key {created.id} ({created.name}). Store it now; it is shown once:")
    click.echo(created.key)


@keys.command("list")
def keys_list() -> None:
    """List keys: id, name, prefix, created, last used, revoked."""
    from . import apikeys

    async def work(db: Database) -> list[tuple[str, ...]]:
        async with db.read() as session:
            return [
                (
                    str(row.id),
                    row.name,
                    row.prefix + "…",
                    _when(row.created_at),
                    _when(row.last_used_at),
                    _when(row.revoked_at),
                )
                for row in await apikeys.list_keys(session)
            ]

    rows = with_db(load_config(), work)
    header = ("ID", "NAME", "PREFIX", "CREATED", "LAST USED", "REVOKED")
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=False)]
    for line in (header, *rows):
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        )


@keys.command("revoke")
@click.argument("key_id", type=int)
def keys_revoke(key_id: int) -> None:
    """Revoke a key: requests with it are refused from the next one on."""
    from . import apikeys

    async def work(db: Database) -> str:
        async with db.write() as session:
            return (await apikeys.revoke_key(session, key_id)).name

    name = with_db(load_config(), work)
    click.echo(f"Revoked API key {key_id} ({name}).")


@main.command()
@click.argument("campaign_id", type=int)
def generate(campaign_id: int) -> None:
    """Write the email of every contact of a campaign that has none yet (idempotent)."""
    from rich.progress import Progress

    from .contents import TrackingUrls, generate_contents, sender_name_of
    from .tokens import TokenSigner

    config = load_config()

    async def work(db: Database) -> dict[str, int]:
        urls = TrackingUrls(config.base_url, TokenSigner(config.secret_key))
        with Progress(transient=True) as progress:
            task = progress.add_task("Writing emails", total=None)
            summary = await generate_contents(
                db,
                campaign_id,
                urls,
                sender_name_of(config.smtp_from),
                progress=lambda done: progress.advance(task, done),
            )
        return summary.as_json()

    summary = with_db(config, work)
    click.echo(f"Created {summary['created']} emails ({summary['existing']} existed already).")


@main.group()
def events() -> None:
    """Tracked events."""


@events.command("anonymise")
@click.option("--older-than-days", type=click.IntRange(1), default=90, show_default=True)
def events_anonymise(older_than_days: int) -> None:
    """Drop user agents and IP hashes of events older than N days (counts are kept)."""
    from datetime import timedelta

    from .events import anonymise_events
    from .models import utcnow

    async def work(db: Database) -> int:
        async with db.write() as session:
            return await anonymise_events(session, utcnow() - timedelta(days=older_than_days))

    count = with_db(load_config(), work)
    click.echo(f"Anonymised {count} events older than {older_than_days} days.")


def _when(moment: object) -> str:
    from datetime import datetime

    return moment.strftime("%Y-%m-%d %H:%M") if isinstance(moment, datetime) else "-"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
