"""`tune inbox check`: read every inbox once (IMAP_URL's and each mailbox's IMAP folder,
as the running pollers do) and say what each new message was, inbox by inbox."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import click

from webapp.cli.common import load_config, with_db
from webapp.core.config import Config
from webapp.core.db import Database
from webapp.core.errors import ConfigError

if TYPE_CHECKING:
    from webapp.inbox.poller import PassReport


@dataclass
class Checked:
    """One inbox read by `tune inbox check`: what it found, or why it could not be read."""

    name: str
    where: str
    report: PassReport | None = None
    problem: str | None = None


@click.group()
def inbox() -> None:
    """The inboxes that receive replies, auto-replies and bounces (IMAP_URL and each
    mailbox's IMAP URL)."""


@inbox.command("check")
def inbox_check() -> None:
    """Read every inbox once now and print what each new message was."""
    from webapp.core.logs import configure_logging

    config = load_config()
    configure_logging(json=config.json_logs, level=config.log_level)
    check_imap_url(config)
    checked = with_db(config, lambda db: _check_all(db, config))
    if not checked:
        raise click.ClickException(
            "IMAP_URL: not set, and no mailbox has an IMAP URL; see docs/inbox.md"
        )
    if len(checked) == 1 and checked[0].problem is not None:
        raise click.ClickException(checked[0].problem)
    for inbox_checked in checked:
        if len(checked) > 1:
            click.echo(f"== {inbox_checked.name} ({inbox_checked.where})")
        if inbox_checked.problem is not None:
            click.echo(f"not read: {inbox_checked.problem}")
            continue
        report = inbox_checked.report
        assert report is not None
        for uid, kind, outcome, subject in report.messages:
            click.echo(f"{uid:>8}  {kind:<10}  {outcome:<11}  {subject[:70]}")
        summary = ", ".join(f"{count} {name}" for name, count in sorted(report.outcomes.items()))
        click.echo(f"{len(report.messages)} new messages" + (f": {summary}." if summary else "."))
    failed = [item.name for item in checked if item.problem is not None]
    if failed:
        raise click.ClickException(f"not read: {', '.join(failed)}")


async def _check_all(db: Database, config: Config) -> list[Checked]:
    """One pass over each inbox the pollers would read, one after the other."""
    from webapp.inbox.mailbox import MailboxError
    from webapp.inbox.poller import InboxBusy, Poller
    from webapp.inbox.pollers import InboxPollers

    checked = []
    for name, url in (await InboxPollers(db, config).wanted()).items():
        item = Checked(name, url.redacted())
        try:
            item.report = await Poller(db, config, url=url).check_once()
        except InboxBusy as exc:
            item.problem = f"{exc}; it is read continuously by a running Tune, nothing to do"
        except MailboxError as exc:
            item.problem = f"the mailbox cannot be read: {exc}"
        except (OSError, TimeoutError) as exc:
            item.problem = f"the mailbox cannot be reached: {type(exc).__name__}"
        except ConfigError as exc:
            item.problem = str(exc)
        checked.append(item)
    return checked


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
