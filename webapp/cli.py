"""The `tune` command line: serve, migrate, and manage API keys."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import click

from webapp.core.config import Config
from webapp.core.db import Database, redacted_url
from webapp.core.errors import ConfigError, TuneError

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

    with database_errors(config):
        try:
            return asyncio.run(main())
        except TuneError as exc:
            raise click.ClickException(exc.message) from None


@contextlib.contextmanager
def database_errors(config: Config) -> Iterator[None]:
    """A database that cannot be used (a read-only file, a full disk, a server that is
    down) stops the command with one line, not a traceback."""
    from sqlalchemy.exc import DBAPIError

    try:
        yield
    except (DBAPIError, OSError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise click.ClickException(
            f"the database at {redacted_url(config.database_url)} cannot be used: {reason}. "
            "Check that the server is reachable, or that the file and its folder are "
            "writable and the disk has room."
        ) from None


def apply_migrations(config: Config) -> None:
    from webapp.core.logs import get_logger
    from webapp.core.migrate import upgrade

    with database_errors(config):
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

    from webapp.core.logs import configure_logging
    from webapp.web.serving import uvicorn_options

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
        with_db(config, lambda db: _demo_on_empty_database(db, config))
    _prepare_metrics_dir(workers)
    click.echo(f"Tune is serving on {config.base_url}  (dashboard: {config.base_url}/)", err=True)
    # uvicorn re-raises SIGTERM/SIGINT once its graceful shutdown is done; with this
    # handler in place that ends the process with exit status 0, as supervisors expect.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    uvicorn.run(
        "webapp.asgi:app",
        host=host,
        port=port,
        workers=workers,
        **uvicorn_options(limit_concurrency=limit_concurrency),
    )


def _exit_cleanly(number: int, frame: object) -> None:
    sys.exit(0)


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
    from webapp.accounts import apikeys

    async def work(db: Database) -> apikeys.CreatedKey:
        async with db.write() as session:
            return await apikeys.create_key(session, name)

    created = with_db(load_config(), work)
    click.echo(f"Created API key {created.id} ({created.name}). Store it now; it is shown once:")
    click.echo(created.key)


@keys.command("list")
def keys_list() -> None:
    """List keys: id, name, prefix, created, last used, revoked."""
    from webapp.accounts import apikeys

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
    from webapp.accounts import apikeys

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

    from webapp.outbound.contents import TrackingUrls, generate_contents, sender_name_of
    from webapp.outbound.tokens import TokenSigner

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


REJECTED_SHOWN = 20


@main.command("import")
@click.argument("campaign_id", type=int)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--strict", is_flag=True, help="Import nothing if any row is rejected.")
def import_command(campaign_id: int, file: Path, strict: bool) -> None:
    """Import prospects from a CSV file (one row per contact) and score them into tiers.

    Idempotent: contacts already in the campaign (same email) are not imported
    twice. Rejected rows are listed with their line numbers; the good rows are
    imported anyway unless --strict is given (then the exit status is 1).
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from webapp.core.errors import ValidationFailed
    from webapp.prospects.queries import ImportProgress, ImportSummary, import_csv, import_prospects
    from webapp.prospects.rows.parse import rows_from_json

    data = file.read_bytes()
    console = Console(stderr=True)

    async def work(db: Database) -> ImportSummary:
        columns = (
            TextColumn("Importing {task.fields[name]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("rows"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console) as bar:
            task = bar.add_task("import", total=None, name=file.name)

            def advance(state: ImportProgress) -> None:
                bar.update(task, completed=state.rows_seen, total=state.total)

            try:
                if file.suffix.lower() == ".json":
                    items = _json_file(data)
                    return await import_prospects(
                        db,
                        campaign_id,
                        lambda: rows_from_json(items),
                        strict=strict,
                        source=f"cli: {file.name}",
                        progress=advance,
                        total=len(items),
                    )
                return await import_csv(
                    db,
                    campaign_id,
                    data,
                    strict=strict,
                    source=f"cli: {file.name}",
                    progress=advance,
                )
            except ValidationFailed as error:
                _echo_rejected(error.details.get("errors", []), error.details.get("rejected", 0))
                raise

    summary = with_db(load_config(), work)
    click.echo(
        f"Imported {file.name} into campaign {campaign_id}: {summary.created} created, "
        f"{summary.updated} updated, {summary.duplicates} duplicates skipped, "
        f"{summary.rejected} rejected ({summary.prospects_created} new prospects; "
        f"import {summary.import_id})."
    )
    _echo_rejected(summary.errors, summary.rejected)


def _json_file(data: bytes) -> list[object]:
    import json

    try:
        items = json.loads(data)
    except ValueError as error:
        raise click.ClickException(f"the file is not valid JSON ({error})") from None
    if not isinstance(items, list):
        raise click.ClickException("the JSON file must hold an array of prospect objects")
    return items


def _echo_rejected(errors: list[dict[str, object]], rejected: int) -> None:
    if not errors:
        return
    click.echo("Rejected lines:", err=True)
    for error in errors[:REJECTED_SHOWN]:
        click.echo(f"  line {error['line']}: {error['reason']}", err=True)
    if rejected > REJECTED_SHOWN:
        click.echo(f"  … and {rejected - REJECTED_SHOWN} more", err=True)


@main.command()
@click.argument("campaign_id", type=int)
def analyse(campaign_id: int) -> None:
    """Re-score every prospect of a campaign, e.g. after its industry profile changed.

    Hot prospects (someone replied) stay hot.
    """
    from webapp.prospects.queries import analyse_campaign

    summary = with_db(load_config(), lambda db: analyse_campaign(db, campaign_id))
    tiers = summary.tiers
    click.echo(
        f"Analysed {summary.analysed} prospects of campaign {campaign_id} with profile "
        f"{summary.profile} v{summary.profile_version} in {summary.seconds:.2f} s: "
        f"tier 1 {tiers[1]}, tier 2 {tiers[2]}, tier 3 {tiers[3]} ({summary.changed} changed)."
    )


@main.command()
@click.option("--seed", default=7, show_default=True, type=int, help="Same seed, same data.")
@click.option("--prospects", "count", default=300, show_default=True, type=click.IntRange(1))
def demo(seed: int, count: int) -> None:
    """Create a demo casino campaign (prospects, contacts, emails); print its id last."""
    config = load_config()
    campaign_id = with_db(config, lambda db: _create_demo(db, config, seed, count))
    click.echo(f"Created the demo campaign with {count} prospects (seed {seed}):")
    click.echo(str(campaign_id))


async def _create_demo(db: Database, config: Config, seed: int, count: int) -> int:
    from webapp.campaigns.demo import create_demo_campaign
    from webapp.outbound.contents import TrackingUrls, sender_name_of
    from webapp.outbound.tokens import TokenSigner

    urls = TrackingUrls(config.base_url, TokenSigner(config.secret_key))
    return await create_demo_campaign(
        db, urls, sender_name_of(config.smtp_from), seed=seed, prospects=count
    )


async def _demo_on_empty_database(db: Database, config: Config) -> None:
    """TUNE_DEMO=1: on a database without campaigns, create the demo campaign."""
    from webapp.campaigns.demo import DEFAULT_PROSPECTS, DEFAULT_SEED, has_campaigns

    if await has_campaigns(db):
        return
    campaign_id = await _create_demo(db, config, DEFAULT_SEED, DEFAULT_PROSPECTS)
    click.echo(
        f"TUNE_DEMO: created a demo campaign: {config.base_url}/campaigns/{campaign_id}", err=True
    )


@main.group()
def events() -> None:
    """Tracked events."""


@events.command("anonymise")
@click.option("--older-than-days", type=click.IntRange(1), default=90, show_default=True)
def events_anonymise(older_than_days: int) -> None:
    """Drop user agents and IP hashes of events older than N days (counts are kept)."""
    from datetime import timedelta

    from webapp.core.models import utcnow
    from webapp.tracking.events import anonymise_events

    async def work(db: Database) -> int:
        async with db.write() as session:
            return await anonymise_events(session, utcnow() - timedelta(days=older_than_days))

    count = with_db(load_config(), work)
    click.echo(f"Anonymised {count} events older than {older_than_days} days.")


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


@main.group("users")
def users_group() -> None:
    """Dashboard users."""


def _read_password() -> str:
    """Asked twice at a terminal; otherwise the first line of stdin. Never an argument."""
    if sys.stdin.isatty():
        return str(click.prompt("Password", hide_input=True, confirmation_prompt="Repeat password"))
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


@users_group.command("create")
@click.argument("email")
@click.option("--admin", is_flag=True, help="Make the user an administrator.")
def users_create(email: str, admin: bool) -> None:
    """Create a dashboard user; the password is asked at a prompt or read from stdin."""
    from webapp.accounts import users

    password = _read_password()

    async def work(db: Database) -> str:
        async with db.write() as session:
            return (await users.create_user(session, email, password, is_admin=admin)).email

    address = with_db(load_config(), work)
    click.echo(f"Created user {address}.")


@main.command()
@click.argument("campaign_id", type=int)
@click.option("--tier", type=click.IntRange(1, 3), default=None, help="Only this tier's emails.")
@click.option(
    "--wait/--no-wait",
    default=True,
    show_default=True,
    help="Send here until the campaign's queue is empty, or only queue (a server or worker sends).",
)
def send(campaign_id: int, tier: int | None, wait: bool) -> None:
    """Write missing emails and queue the campaign's unsent ones (idempotent), then send them."""
    from webapp.outbound.contents import TrackingUrls, sender_name_of
    from webapp.outbound.sending.sender import send_progress, write_and_queue
    from webapp.outbound.tokens import TokenSigner

    config = load_config()
    if wait and not config.smtp_url:
        raise click.ClickException("SMTP_URL: not set; set it to send, or queue with --no-wait")
    _check_smtp_url(config)

    async def work(db: Database) -> dict[str, int]:
        urls = TrackingUrls(config.base_url, TokenSigner(config.secret_key))
        _, summary = await write_and_queue(
            db, campaign_id, tier, urls, sender_name_of(config.smtp_from)
        )
        click.echo(
            f"Queued {summary.queued} emails ({summary.skipped_unsubscribed} unsubscribed "
            f"skipped, {summary.unchanged} already queued or sent)."
        )
        if wait:
            return await _send_until_drained(db, config, urls, campaign_id)
        async with db.read() as session:
            return await send_progress(session, campaign_id)

    counts = with_db(config, work)
    click.echo("  ".join(f"{name}: {value}" for name, value in counts.items() if value))


def _check_smtp_url(config: Config) -> None:
    """A bad SMTP_URL stops the command with one line naming it (never the password)."""
    from webapp.outbound.sending.sender import parse_smtp_url

    if config.smtp_url:
        try:
            parse_smtp_url(config.smtp_url)
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from None


async def _send_until_drained(
    db: Database, config: Config, urls: object, campaign_id: int
) -> dict[str, int]:
    """Run a sender in this process with a progress bar until nothing is queued or sending."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from webapp.outbound.contents import TrackingUrls
    from webapp.outbound.sending.sender import Sender, pending, send_progress

    assert isinstance(urls, TrackingUrls)
    sender = Sender(db, config, urls)
    sender.start()
    try:
        async with db.read() as session:
            counts = await send_progress(session, campaign_id)
        total = pending(counts)
        with Progress(
            TextColumn("Sending"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.description}"),
            transient=True,
        ) as progress:
            task = progress.add_task("", total=total)
            while pending(counts):
                await asyncio.sleep(0.3)
                async with db.read() as session:
                    counts = await send_progress(session, campaign_id)
                left = pending(counts)
                total = max(total, left)
                progress.update(
                    task,
                    total=total,
                    completed=total - left,
                    description=f"sent {counts['sent']}  failed {counts['failed']}  "
                    f"bounced {counts['bounced']}  relay {sender.circuit}",
                )
    finally:
        await sender.stop()
    return counts


@main.command()
def worker() -> None:
    """Run only the email sender (when web servers run with TUNE_RUN_SENDER=false).

    Stops on SIGTERM or Ctrl-C: in-flight sends finish, nothing new is taken.
    """
    import signal

    from webapp.core.logs import configure_logging
    from webapp.outbound.contents import TrackingUrls
    from webapp.outbound.sending.sender import Sender
    from webapp.outbound.tokens import TokenSigner

    config = load_config()
    configure_logging(json=config.json_logs, level=config.log_level)
    if not config.smtp_url:
        raise click.ClickException("SMTP_URL: not set; tune worker needs a relay to send through")
    _check_smtp_url(config)

    async def work(db: Database) -> None:
        sender = Sender(db, config, TrackingUrls(config.base_url, TokenSigner(config.secret_key)))
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopping.set)
        sender.start()
        click.echo(f"Tune worker {sender.worker_id} is sending.", err=True)
        await stopping.wait()
        await sender.stop()

    with_db(config, work)


def _when(moment: object) -> str:
    from datetime import datetime

    return moment.strftime("%Y-%m-%d %H:%M") if isinstance(moment, datetime) else "-"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
