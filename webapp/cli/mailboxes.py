"""`tune mailboxes`: add, list, test, pause, resume and rekey the sending mailboxes."""

from __future__ import annotations

from typing import Any

import click

from webapp.cli.common import echo_table, load_config, when, with_db
from webapp.core.db import Database


@click.group()
def mailboxes() -> None:
    """The mailboxes emails leave from: caps, warm-up, health (docs/mailboxes.md)."""


@mailboxes.command("add")
@click.argument("name")
@click.option("--from", "from_address", required=True, help="The From address.")
@click.option("--from-name", default="", help="The From display name.")
@click.option(
    "--smtp-url",
    envvar="MAILBOX_SMTP_URL",
    required=True,
    help="smtp://user:password@host:587 (or set MAILBOX_SMTP_URL, kept out of shell history).",
)
@click.option("--imap-url", envvar="MAILBOX_IMAP_URL", default=None, help="imaps://... to read.")
@click.option("--daily-cap", type=int, default=None, help="Sends in any 24 hours [400].")
@click.option("--hourly-cap", type=int, default=None, help="Sends in any 60 minutes [100].")
@click.option("--min-gap", type=int, default=None, help="Seconds between two sends [0].")
@click.option("--warmup-start", type=int, default=None, help="Warm-up: sends on day one.")
@click.option("--warmup-step", type=int, default=None, help="Warm-up: more each day.")
@click.option("--signature", default=None, help="Plain text for {{ sender.signature }}.")
def mailboxes_add(name: str, **options: Any) -> None:
    """Add a mailbox (its passwords are stored encrypted and never printed)."""
    from webapp.mailboxes import store

    config = load_config()
    data = {
        "name": name,
        "from_address": options["from_address"],
        "from_name": options["from_name"],
        "smtp_url": options["smtp_url"],
        "imap_url": options["imap_url"],
        "daily_cap": options["daily_cap"],
        "hourly_cap": options["hourly_cap"],
        "min_gap_seconds": options["min_gap"],
        "warmup_start": options["warmup_start"],
        "warmup_step": options["warmup_step"],
        "signature": options["signature"],
    }

    async def work(db: Database) -> str:
        async with db.write() as session:
            mailbox = await store.create_mailbox(session, config, data)
            return f"{mailbox.name} <{mailbox.from_address}> via {mailbox.smtp_url}"

    click.echo(f"Added mailbox {with_db(config, work)}.")


@mailboxes.command("list")
def mailboxes_list() -> None:
    """List mailboxes: caps, sends in the last day and hour, what is left, health, state."""
    from webapp.mailboxes import store
    from webapp.mailboxes.capacity import slots_for
    from webapp.mailboxes.progress import mailbox_states

    config = load_config()

    async def work(db: Database) -> list[tuple[str, ...]]:
        async with db.read() as session:
            states = await mailbox_states(
                session, slots_for(config), await store.list_mailboxes(session)
            )
        return [
            (
                state.mailbox.name,
                state.mailbox.from_address,
                f"{state.daily_cap_today}/{state.mailbox.daily_cap}",
                str(state.mailbox.hourly_cap),
                f"{state.usage.day}/{state.usage.hour}",
                str(state.usage.remaining),
                f"{state.health.bounce_rate:.1%}/{state.health.complaint_rate:.1%}",
                f"paused {when(state.mailbox.paused_at)}: {state.mailbox.paused_reason}"
                if state.mailbox.paused_at
                else "sending",
            )
            for state in states
        ]

    echo_table(
        ("NAME", "FROM", "DAY CAP", "HOUR CAP", "SENT 24H/1H", "LEFT", "BOUNCE/COMPL", "STATE"),
        with_db(config, work),
    )


@mailboxes.command("test")
@click.argument("name")
def mailboxes_test(name: str) -> None:
    """Connect to the mailbox's SMTP relay (and IMAP inbox) and say what works."""
    from webapp.mailboxes import store
    from webapp.mailboxes.probe import probe

    config = load_config()

    async def work(db: Database) -> list[tuple[str, bool, str]]:
        async with db.read() as session:
            mailbox = await store.get_mailbox(session, name)
        return await probe(config, mailbox)

    results = with_db(config, work)
    for part, ok, detail in results:
        click.echo(f"{part}: {'ok' if ok else 'FAILED'} ({detail})")
    if not all(ok for _, ok, _ in results):
        raise SystemExit(1)


@mailboxes.command("pause")
@click.argument("name")
@click.option("--reason", default="paused by a rep", help="Shown in the dashboard.")
def mailboxes_pause(name: str, reason: str) -> None:
    """Pause a mailbox: its emails wait in the queue until it is resumed."""
    from webapp.mailboxes import store

    async def work(db: Database) -> None:
        async with db.write() as session:
            await store.pause_mailbox(session, name, reason)

    with_db(load_config(), work)
    click.echo(f"Paused mailbox {name}.")


@mailboxes.command("resume")
@click.argument("name")
def mailboxes_resume(name: str) -> None:
    """Resume a paused mailbox (by a rep or by its own health): its emails are due at once."""
    from webapp.mailboxes import store

    async def work(db: Database) -> None:
        async with db.write() as session:
            await store.resume_mailbox(session, name)

    with_db(load_config(), work)
    click.echo(f"Resumed mailbox {name}.")


@mailboxes.command("rekey")
def mailboxes_rekey() -> None:
    """Re-encrypt every stored mailbox password under the current TUNE_SECRET_KEY (after a
    rotation, with the old key in TUNE_PREVIOUS_SECRET_KEYS)."""
    from webapp.mailboxes import store

    config = load_config()

    async def work(db: Database) -> int:
        async with db.write() as session:
            return await store.rekey(session, config)

    click.echo(f"Re-encrypted {with_db(config, work)} passwords under the current key.")


COMMANDS = (mailboxes,)
