"""`tune webhooks`: add, list, change, rotate and delete endpoints; see and resend deliveries."""

from __future__ import annotations

import click

from webapp.cli.common import echo_table, load_config, when, with_db
from webapp.core.db import Database
from webapp.webhooks.endpoints import EVENT_TYPES

EVENT_CHOICE = click.Choice(EVENT_TYPES)


@click.group()
def webhooks() -> None:
    """Webhook endpoints: where Tune posts its events (docs/webhooks.md)."""


@webhooks.command("add")
@click.option("--url", required=True, help="Where to POST (https in production).")
@click.option(
    "--event", "events", multiple=True, required=True, type=EVENT_CHOICE, help="Repeatable."
)
@click.option("--description", default="", help="What the endpoint is for.")
@click.option("--include-flagged", is_flag=True, help="Also machine opens and bot clicks.")
def webhooks_add(
    url: str, events: tuple[str, ...], description: str, include_flagged: bool
) -> None:
    """Add an endpoint and print its signing secret, alone, on the last line (shown once)."""
    from webapp.webhooks.endpoints import CreatedEndpoint, create_endpoint

    config = load_config()

    async def work(db: Database) -> CreatedEndpoint:
        async with db.write() as session:
            return await create_endpoint(
                session,
                app_secret=config.secret_key,
                url=url,
                events=list(events),
                description=description,
                include_flagged=include_flagged,
                production=config.is_production,
                allow_private=config.allow_private_webhooks,
            )

    created = with_db(config, work)
    click.echo(
        f"Added webhook endpoint {created.endpoint.id} ({created.endpoint.url}). "
        "Store its signing secret now; it is shown once:"
    )
    click.echo(created.secret)


@webhooks.command("list")
def webhooks_list() -> None:
    """List endpoints: id, state, waiting deliveries, events, URL."""
    from webapp.webhooks.deliveries import waiting_counts
    from webapp.webhooks.endpoints import list_endpoints

    async def work(db: Database) -> list[tuple[str, ...]]:
        async with db.read() as session:
            waiting = await waiting_counts(session)
            return [
                (
                    str(row.id),
                    "on" if row.active else ("off (failing)" if row.disabled_at else "off"),
                    str(waiting.get(row.id, 0)),
                    ",".join(row.events),
                    row.url,
                )
                for row in await list_endpoints(session)
            ]

    echo_table(("ID", "STATE", "WAITING", "EVENTS", "URL"), with_db(load_config(), work))


@webhooks.command("set")
@click.argument("endpoint_id", type=int)
@click.option("--url", default=None)
@click.option("--event", "events", multiple=True, type=EVENT_CHOICE, help="Replaces the list.")
@click.option(
    "--active/--inactive", default=None, help="Switch on (clears a failure notice) or off."
)
@click.option("--include-flagged/--humans-only", default=None)
def webhooks_set(
    endpoint_id: int,
    url: str | None,
    events: tuple[str, ...],
    active: bool | None,
    include_flagged: bool | None,
) -> None:
    """Change an endpoint."""
    from webapp.webhooks.endpoints import update_endpoint

    config = load_config()

    async def work(db: Database) -> None:
        async with db.write() as session:
            await update_endpoint(
                session,
                endpoint_id,
                production=config.is_production,
                allow_private=config.allow_private_webhooks,
                url=url,
                events=list(events) or None,
                active=active,
                include_flagged=include_flagged,
            )

    with_db(config, work)
    click.echo(f"Changed webhook endpoint {endpoint_id}.")


@webhooks.command("rotate-secret")
@click.argument("endpoint_id", type=int)
def webhooks_rotate(endpoint_id: int) -> None:
    """A new signing secret; the old one keeps signing too for 24 hours. Prints the new one."""
    from webapp.webhooks.endpoints import rotate_secret

    config = load_config()

    async def work(db: Database) -> str:
        async with db.write() as session:
            return await rotate_secret(session, endpoint_id, app_secret=config.secret_key)

    secret = with_db(config, work)
    click.echo(f"New signing secret of endpoint {endpoint_id} (the old one works for 24 hours):")
    click.echo(secret)


@webhooks.command("delete")
@click.argument("endpoint_id", type=int)
def webhooks_delete(endpoint_id: int) -> None:
    """Delete an endpoint and everything still waiting for it."""
    from webapp.webhooks.endpoints import delete_endpoint

    async def work(db: Database) -> None:
        async with db.write() as session:
            await delete_endpoint(session, endpoint_id)

    with_db(load_config(), work)
    click.echo(f"Deleted webhook endpoint {endpoint_id}.")


@webhooks.command("deliveries")
@click.argument("endpoint_id", type=int)
def webhooks_deliveries(endpoint_id: int) -> None:
    """An endpoint's latest deliveries, newest first."""
    from webapp.webhooks.deliveries import recent_deliveries
    from webapp.webhooks.endpoints import get_endpoint

    async def work(db: Database) -> list[tuple[str, ...]]:
        async with db.read() as session:
            await get_endpoint(session, endpoint_id)
            return [
                (
                    str(row.id),
                    row.event_type,
                    row.status,
                    str(row.attempts),
                    str(row.last_status_code or "-"),
                    when(row.created_at),
                    (row.last_error or "")[:60],
                )
                for row in await recent_deliveries(session, endpoint_id)
            ]

    echo_table(
        ("ID", "TYPE", "STATUS", "TRIES", "CODE", "CREATED", "LAST ERROR"),
        with_db(load_config(), work),
    )


@webhooks.command("resend")
@click.argument("endpoint_id", type=int)
@click.argument("delivery_id", type=int)
def webhooks_resend(endpoint_id: int, delivery_id: int) -> None:
    """Send a delivered or failed message again (same webhook-id and body)."""
    from webapp.webhooks.deliveries import resend

    async def work(db: Database) -> int:
        async with db.write() as session:
            return (await resend(session, endpoint_id, delivery_id)).id

    copy = with_db(load_config(), work)
    click.echo(f"Queued delivery {copy} (a copy of {delivery_id}).")


COMMANDS = (webhooks,)
