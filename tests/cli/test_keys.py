"""`tune keys`, run as a real process against a real database."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.servers import run_cli

pytestmark = pytest.mark.slow


def test_keys_create_list_revoke(env: dict[str, str], tmp_path: Path) -> None:
    created = run_cli(["keys", "create", "--name", "crm sync"], env, tmp_path)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("tune_") and len(key) > 40

    listed = run_cli(["keys", "list"], env, tmp_path)
    assert listed.returncode == 0
    assert "crm sync" in listed.stdout
    assert key[:9] in listed.stdout
    assert key not in listed.stdout

    revoked = run_cli(["keys", "revoke", "1"], env, tmp_path)
    assert revoked.returncode == 0
    assert "Revoked" in revoked.stdout
    listed = run_cli(["keys", "list"], env, tmp_path)
    row = next(line for line in listed.stdout.splitlines() if "crm sync" in line)
    assert row.split()[-1] != "-"  # the revoked column is filled

    missing = run_cli(["keys", "revoke", "99"], env, tmp_path)
    assert missing.returncode != 0
    assert "does not exist" in missing.stderr
