"""`tune keys`: create, list and revoke API keys."""

from __future__ import annotations

import click

from webapp.cli.common import echo_table, load_config, when, with_db
from webapp.core.db import Database


@click.group()
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
                    when(row.created_at),
                    when(row.last_used_at),
                    when(row.revoked_at),
                )
                for row in await apikeys.list_keys(session)
            ]

    echo_table(
        ("ID", "NAME", "PREFIX", "CREATED", "LAST USED", "REVOKED"), with_db(load_config(), work)
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


COMMANDS = (keys,)
