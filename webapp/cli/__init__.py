"""The `tune` command line: serve, migrate, manage keys and users, import, send, read replies,
check a sending domain.

One module per command group; `main` (the `tune` script's entry point) names each
command's module and imports it only when that command runs, so `tune import`
does not pay for loading the sending chain, the inbox reader or the webhooks.
`tune --help` loads them all, to list each command with its help.
"""

from __future__ import annotations

import importlib

import click

COMMAND_MODULES: dict[str, str] = {
    "run": "server",
    "db": "server",
    "keys": "keys",
    "users": "users",
    "import": "prospects",
    "analyse": "prospects",
    "demo": "prospects",
    "generate": "sending",
    "send": "sending",
    "worker": "sending",
    "events": "events",
    "inbox": "inbox",
    "webhooks": "webhooks",
    "mailboxes": "mailboxes",
    "deliverability": "deliverability",
}
"""Each command's module in `webapp.cli`; the module lists it in its `COMMANDS`."""


class LazyGroup(click.Group):
    """A group whose commands are imported from their module when they are asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMAND_MODULES)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module_name = COMMAND_MODULES.get(cmd_name)
        if module_name is None:
            return None
        module = importlib.import_module(f"webapp.cli.{module_name}")
        commands: tuple[click.Command, ...] = module.COMMANDS
        return next(command for command in commands if command.name == cmd_name)


@click.group(cls=LazyGroup)
def main() -> None:
    """Tune: campaign and prospect tracking for outbound email."""
