"""`tune users`: dashboard users (the password is never a command-line argument)."""

from __future__ import annotations

import sys

import click

from webapp.cli.common import load_config, with_db
from webapp.core.db import Database


@click.group("users")
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


@users_group.command("password")
@click.argument("email")
def users_password(email: str) -> None:
    """Set a user's password (read like `create`'s) and end all of its sessions."""
    from webapp.accounts import users

    password = _read_password()

    async def work(db: Database) -> str:
        async with db.write() as session:
            return (await users.set_password(session, email, password)).email

    click.echo(f"Changed the password of {with_db(load_config(), work)}; its sessions ended.")


@users_group.command("sign-out")
@click.argument("email")
def users_sign_out(email: str) -> None:
    """End every dashboard session of a user (a lost laptop, a copied cookie)."""
    from webapp.accounts import users

    async def work(db: Database) -> str:
        async with db.write() as session:
            return (await users.sign_out_everywhere(session, email)).email

    click.echo(f"Ended every session of {with_db(load_config(), work)}.")


COMMANDS = (users_group,)
