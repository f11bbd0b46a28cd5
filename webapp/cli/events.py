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


@events.command("reclassify")
@click.option("--campaign", "campaign_id", type=int, default=None, help="Only this campaign.")
def events_reclassify(campaign_id: int | None) -> None:
    """Judge stored opens and clicks again with the current rules; rebuild their counts."""
    from webapp.tracking.reclassify import Changes, reclassify

    async def work(db: Database) -> Changes:
        async with db.write() as session:
            return await reclassify(session, campaign_id)

    click.echo(with_db(load_config(), work).summary() + ".")


@events.command("refresh-ranges")
@click.option(
    "--url",
    "urls",
    multiple=True,
    help="Where to download from (repeatable): a Tune ranges file, or Microsoft's endpoints "
    "list. Default: Microsoft's endpoints web service.",
)
def events_refresh_ranges(urls: tuple[str, ...]) -> None:
    """Download the published scanner networks (needs internet access from this server)."""
    from webapp.tracking import ranges

    config = load_config()
    try:
        done = ranges.refresh(config.instance_path, list(urls) or [ranges.MICROSOFT_ENDPOINTS])
    except ranges.RangesError as exc:
        raise click.ClickException(f"Ranges not refreshed: {exc}") from None
    click.echo(
        f"Scanner ranges version {done.ranges.version} ({done.ranges.date}): "
        f"{len(done.ranges.networks)} networks, {done.added} added, {done.removed} removed; "
        f"written to {done.path}. Restart Tune to use them."
    )


COMMANDS = (events,)
