"""`tune generate`, `tune send` and `tune worker`: writing and sending the emails, and
the background worker that also delivers webhooks."""

from __future__ import annotations

import asyncio

import click

from webapp.cli.common import load_config, with_db
from webapp.core.config import Config
from webapp.core.db import Database
from webapp.core.errors import ConfigError


@click.command()
@click.argument("campaign_id", type=int)
def generate(campaign_id: int) -> None:
    """Write the email of every contact of a campaign that has none yet (idempotent)."""
    from rich.progress import Progress

    from webapp.outbound.contents import TrackingUrls, generate_contents
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
                progress=lambda done: progress.advance(task, done),
            )
        return summary.as_json()

    summary = with_db(config, work)
    click.echo(f"Created {summary['created']} emails ({summary['existing']} existed already).")


@click.command()
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
    from webapp.mailboxes.store import any_mailbox
    from webapp.outbound.contents import TrackingUrls
    from webapp.outbound.sending.queue import send_progress, write_and_queue
    from webapp.outbound.tokens import TokenSigner

    config = load_config()
    _check_smtp_url(config)

    async def work(db: Database) -> dict[str, int]:
        if wait and not config.smtp_url and not await any_mailbox(db):
            raise click.ClickException(
                "SMTP_URL: not set and no mailbox added; set one to send, or queue with --no-wait"
            )
        urls = TrackingUrls(config.base_url, TokenSigner(config.secret_key))
        _, summary = await write_and_queue(db, campaign_id, tier, urls)
        click.echo(
            f"Queued {summary.queued} emails ({summary.skipped_unsubscribed} unsubscribed "
            f"and {summary.skipped_suppressed} suppressed skipped, "
            f"{summary.unchanged} already queued or sent)."
        )
        if wait:
            return await _send_until_drained(db, config, urls, campaign_id)
        async with db.read() as session:
            return await send_progress(session, campaign_id)

    counts = with_db(config, work)
    click.echo("  ".join(f"{name}: {value}" for name, value in counts.items() if value))


def _check_smtp_url(config: Config) -> None:
    """A bad SMTP_URL stops the command with one line naming it (never the password)."""
    from webapp.outbound.smtp.url import parse_smtp_url

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
    from webapp.outbound.sending.queue import pending, send_progress
    from webapp.outbound.sending.sender import Sender

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


@click.command()
def worker() -> None:
    """Run the background work: the email sender (which, with no SMTP_URL and no
    mailbox yet, waits for the first mailbox added) and the webhook
    dispatcher, for web servers run with TUNE_RUN_SENDER / TUNE_RUN_WEBHOOKS false.

    Stops on SIGTERM or Ctrl-C: in-flight work finishes, nothing new is taken.
    """
    import signal

    from webapp.core.logs import configure_logging
    from webapp.outbound.contents import TrackingUrls
    from webapp.outbound.sending.sender import Sender
    from webapp.outbound.tokens import TokenSigner
    from webapp.webhooks.dispatcher import Dispatcher, policy_for

    config = load_config()
    configure_logging(json=config.json_logs, level=config.log_level)
    if config.smtp_url:
        _check_smtp_url(config)

    async def work(db: Database) -> None:
        from webapp.mailboxes.store import any_mailbox

        # With no SMTP_URL and no mailbox yet the sender waits for the first mailbox added.
        sender = Sender(db, config, TrackingUrls(config.base_url, TokenSigner(config.secret_key)))
        dispatcher = Dispatcher(db, config.secret_key, policy_for(config))
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopping.set)
        sender.start()
        dispatcher.start()
        if config.smtp_url or await any_mailbox(db):
            doing = "sending and delivering webhooks"
        else:
            doing = "delivering webhooks (and will send once a mailbox is added)"
        click.echo(f"Tune worker {dispatcher.worker_id} is {doing}.", err=True)
        await stopping.wait()
        await sender.stop()
        await dispatcher.stop()

    with_db(config, work)


COMMANDS = (generate, send, worker)
