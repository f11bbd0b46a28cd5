"""`tune import`, `tune analyse` and `tune demo`: prospects into a campaign and their tiers."""

from __future__ import annotations

from pathlib import Path

import click

from webapp.cli.common import load_config, with_db
from webapp.core.config import Config
from webapp.core.db import Database

REJECTED_SHOWN = 20


@click.command("import")
@click.argument("campaign_id", type=int)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--strict", is_flag=True, help="Import nothing if any row is rejected.")
@click.option(
    "--encoding",
    default=None,
    help="The CSV's encoding (utf-8, cp1252, cp1251, ...); detected when not given.",
)
def import_command(campaign_id: int, file: Path, strict: bool, encoding: str | None) -> None:
    """Import prospects from a CSV file (one row per contact) and score them into tiers.

    Idempotent: contacts already in the campaign (same email) are not imported
    twice. Rejected rows are listed with their line numbers; the good rows are
    imported anyway unless --strict is given (then the exit status is 1).
    Re-running it after an interruption resumes the import: rows already
    imported count as duplicates.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from webapp.core.errors import ValidationFailed
    from webapp.prospects.importer import (
        ImportProgress,
        ImportSummary,
        import_csv,
        import_prospects,
    )
    from webapp.prospects.jobs import mark_interrupted
    from webapp.prospects.rows.fields import rows_from_json
    from webapp.prospects.rows.parallel import collect_less

    data = file.read_bytes()
    console = Console(stderr=True)
    collect_less()  # this process does nothing but the import

    async def work(db: Database) -> ImportSummary:
        if interrupted := await mark_interrupted(db):
            console.print(
                f"{interrupted} import(s) left running by a stopped process marked interrupted; "
                "import the same file again to resume them."
            )
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
                    encoding=encoding,
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


@click.command()
@click.argument("campaign_id", type=int)
def analyse(campaign_id: int) -> None:
    """Re-score every prospect of a campaign, e.g. after its industry profile changed.

    Hot prospects (someone replied) stay hot.
    """
    from webapp.prospects.analysis import analyse_campaign

    summary = with_db(load_config(), lambda db: analyse_campaign(db, campaign_id))
    tiers = summary.tiers
    click.echo(
        f"Analysed {summary.analysed} prospects of campaign {campaign_id} with profile "
        f"{summary.profile} v{summary.profile_version} in {summary.seconds:.2f} s: "
        f"tier 1 {tiers[1]}, tier 2 {tiers[2]}, tier 3 {tiers[3]} ({summary.changed} changed)."
    )


@click.command()
@click.option("--seed", default=7, show_default=True, type=int, help="Same seed, same data.")
@click.option("--prospects", "count", default=300, show_default=True, type=click.IntRange(1))
def demo(seed: int, count: int) -> None:
    """Create a demo casino campaign (prospects, contacts, emails); print its id last."""
    config = load_config()
    campaign_id = with_db(config, lambda db: create_demo(db, config, seed, count))
    click.echo(f"Created the demo campaign with {count} prospects (seed {seed}):")
    click.echo(str(campaign_id))


async def create_demo(db: Database, config: Config, seed: int, count: int) -> int:
    from webapp.campaigns.demo import create_demo_campaign
    from webapp.outbound.contents import TrackingUrls
    from webapp.outbound.tokens import TokenSigner

    urls = TrackingUrls(config.base_url, TokenSigner(config.secret_key))
    return await create_demo_campaign(db, urls, seed=seed, prospects=count)


async def demo_on_empty_database(db: Database, config: Config) -> None:
    """TUNE_DEMO=1: on a database without campaigns, create the demo campaign."""
    from webapp.campaigns.demo import DEFAULT_PROSPECTS, DEFAULT_SEED, has_campaigns

    if await has_campaigns(db):
        return
    campaign_id = await create_demo(db, config, DEFAULT_SEED, DEFAULT_PROSPECTS)
    click.echo(
        f"TUNE_DEMO: created a demo campaign: {config.base_url}/campaigns/{campaign_id}", err=True
    )


COMMANDS = (import_command, analyse, demo)
