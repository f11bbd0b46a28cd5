"""The `tune` command line: serve, migrate, manage keys and users, import, send, read replies,
check a sending domain.

One module per command group; `main` (the `tune` script's entry point) gathers them.
"""

from __future__ import annotations

import click

from webapp.cli import (
    deliverability,
    events,
    inbox,
    keys,
    mailboxes,
    prospects,
    sending,
    server,
    users,
    webhooks,
)


@click.group()
def main() -> None:
    """Tune: campaign and prospect tracking for outbound email."""


for _module in (
    server,
    keys,
    users,
    prospects,
    sending,
    events,
    inbox,
    webhooks,
    mailboxes,
    deliverability,
):
    for _command in _module.COMMANDS:
        main.add_command(_command)
