"""`tune inbox check`: read the reply mailbox once and say what each new message was."""

from __future__ import annotations

import click

from webapp.cli.common import load_config, with_db
from webapp.core.config import Config
from webapp.core.db import Database
from webapp.core.errors import ConfigError


@click.group()
def inbox() -> None:
    """The mailbox that receives replies, auto-replies and bounces (IMAP_URL)."""


@inbox.command("check")
def inbox_check() -> None:
    """Read the mailbox once now and print what each new message was."""
    from webapp.core.logs import configure_logging
    from webapp.inbox.mailbox import MailboxError
    from webapp.inbox.poller import InboxBusy, PassReport, Poller

    config = load_config()
    configure_logging(json=config.json_logs, level=config.log_level)
    if not config.imap_url:
        raise click.ClickException("IMAP_URL: not set; see docs/inbox.md")
    check_imap_url(config)

    async def work(db: Database) -> PassReport:
        try:
            return await Poller(db, config).check_once()
        except InboxBusy as exc:
            raise click.ClickException(
                f"{exc}; it is read continuously by a running Tune, nothing to do"
            ) from None
        except MailboxError as exc:
            raise click.ClickException(f"the mailbox cannot be read: {exc}") from None

    report = with_db(config, work)
    for uid, kind, outcome, subject in report.messages:
        click.echo(f"{uid:>8}  {kind:<10}  {outcome:<11}  {subject[:70]}")
    summary = ", ".join(f"{count} {name}" for name, count in sorted(report.outcomes.items()))
    click.echo(f"{len(report.messages)} new messages" + (f": {summary}." if summary else "."))


def check_imap_url(config: Config) -> None:
    """A bad IMAP_URL stops the command with one line naming it (never the password)."""
    from webapp.inbox.mailbox import parse_mailbox_url

    if not config.imap_url:
        return
    try:
        mailbox = parse_mailbox_url(config.imap_url)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if mailbox.xoauth2 and not config.imap_oauth2_token_command:
        raise click.ClickException(
            "IMAP_OAUTH2_TOKEN_COMMAND: required when IMAP_URL has ?auth=xoauth2"
        )


COMMANDS = (inbox,)
