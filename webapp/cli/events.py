"""`tune events`: housekeeping of tracked events."""

from __future__ import annotations

import click

from webapp.cli.common import load_config, with_db
from webapp.core.db import Database


@click.group()
def events() -> None:
    """Tracked events."""


@events.command("anonymise")
@click.option("--older-than-days", type=click.IntRange(1), default=90, show_default=True)
def events_anonymise(older_than_days: int) -> None:
    """Drop user agents and IP hashes of events older than N days (counts are kept)."""
    from datetime import timedelta

    from webapp.core.models import utcnow
    from webapp.tracking.store import anonymise_events

    async def work(db: Database) -> int:
        async with db.write() as session:
            return await anonymise_events(session, utcnow() - timedelta(days=older_than_days))

    count = with_db(load_config(), work)
    click.echo(f"Anonymised {count} events older than {older_than_days} days.")


COMMANDS = (events,)
