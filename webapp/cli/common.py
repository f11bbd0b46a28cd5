"""What every `tune` command shares: the config, a database in its own event loop,
one-line errors instead of tracebacks, and migrations."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

import click

from webapp.core.config import Config
from webapp.core.db import Database, redacted_url
from webapp.core.errors import ConfigError, TuneError

T = TypeVar("T")


def load_config() -> Config:
    from webapp.tracking.hits import configure as configure_tracking

    try:
        config = Config.from_env()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    configure_tracking(config)
    return config


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


def when(moment: object) -> str:
    from datetime import datetime

    return moment.strftime("%Y-%m-%d %H:%M") if isinstance(moment, datetime) else "-"


def echo_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """Rows as aligned columns under `header`."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=False)]
    for line in (header, *rows):
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        )
