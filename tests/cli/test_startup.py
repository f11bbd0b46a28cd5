"""What `tune` loads before it runs a command: each command's start is paid on every run."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.test_prospects import new_campaign
from webapp.cli import COMMAND_MODULES


def test_the_import_command_starts_without_the_redis_client() -> None:
    """The Redis client took about 0.25 s of CPU to load, and `tune import` never uses it."""
    code = (
        "import sys, webapp.cli, webapp.cli.common, webapp.prospects.importer; "
        "print(sorted(name for name in sys.modules if name.split('.')[0] == 'coredis'))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == "[]"


NOT_FOR_IMPORT = (
    "aiosmtplib",
    "imapclient",
    "jinja2",
    "httpx",
    "webapp.outbound",
    "webapp.inbox",
    "webapp.webhooks",
    "webapp.mailboxes",
    "webapp.sequences",
)
"""The sending chain, the inbox reader, webhooks: about 0.4 s of CPU `tune import` never uses."""


@pytest.mark.slow
def test_a_real_import_loads_neither_the_sending_chain_nor_the_inbox_nor_webhooks(
    env: dict[str, str], tmp_path: Path, database_url: str
) -> None:
    campaign_id = new_campaign(database_url)
    csv_file = tmp_path / "prospects.csv"
    csv_file.write_text("Company,Website,Email\nBellagio,bellagio.com,ann@bellagio.com\n")
    code = (
        "import sys\n"
        "from webapp.cli import main\n"
        f"main(['import', '{campaign_id}', {str(csv_file)!r}], standalone_mode=False)\n"
        f"print([name for name in sys.modules if name.startswith({NOT_FOR_IMPORT!r})])\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert ran.returncode == 0, ran.stderr
    assert "1 created" in ran.stdout
    assert ran.stdout.strip().splitlines()[-1] == "[]"


def test_every_command_is_listed_with_its_help_and_found_in_its_module() -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "webapp.cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
    lines = {line.split()[0]: line for line in listed.split("Commands:\n", 1)[1].splitlines()}
    assert set(lines) == set(COMMAND_MODULES)
    for module_name in set(COMMAND_MODULES.values()):
        module = importlib.import_module(f"webapp.cli.{module_name}")
        for command in module.COMMANDS:
            assert COMMAND_MODULES[command.name] == module_name
            assert " ".join((command.help or "").split()[:3]) in lines[command.name]
