"""The `tune` command line, run as a real process against a real database."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support.servers import run_cli, serve, tune_env


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return tune_env(database_url, tmp_path)


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


def test_bad_setting_stops_with_one_line_naming_the_variable(
    env: dict[str, str], tmp_path: Path
) -> None:
    result = run_cli(["keys", "list"], {**env, "DB_POOL_SIZE": "lots"}, tmp_path)
    assert result.returncode != 0
    assert "DB_POOL_SIZE" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_prints_a_working_key_on_first_start_and_revocation_is_immediate(
    env: dict[str, str], tmp_path: Path
) -> None:
    with serve(env, tmp_path) as base:
        log = next(tmp_path.glob("server-*.log")).read_text()
        key = next(word for word in log.split() if word.startswith("tune_"))
        response = httpx.post(
            f"{base}/api/campaigns/create?name=Test&industry=casino", headers={"X-API-Key": key}
        )
        assert response.status_code == 201
        assert run_cli(["keys", "revoke", "1"], env, tmp_path).returncode == 0
        response = httpx.get(f"{base}/api/campaigns", headers={"X-API-Key": key})
        assert response.status_code == 401


def test_bootstrap_key_from_the_environment_works(env: dict[str, str], tmp_path: Path) -> None:
    key = "tune_bootstrap-key-for-automation-0001"
    with serve({**env, "TUNE_BOOTSTRAP_API_KEY": key}, tmp_path) as base:
        response = httpx.get(f"{base}/api/industries", headers={"X-API-Key": key})
        assert response.status_code == 200
    listed = run_cli(["keys", "list"], env, tmp_path)
    assert listed.stdout.count("bootstrap") == 1


def test_generate_writes_each_contacts_email_once(
    env: dict[str, str], tmp_path: Path, database_url: str
) -> None:
    import asyncio

    from tests.support.factories import make_campaign, make_contact, make_prospect
    from webapp.core.config import Config
    from webapp.core.db import Database

    async def seed() -> int:
        db = Database(Config(database_url=database_url, secret_key="x" * 20))
        async with db.write() as session:
            campaign = await make_campaign(session)
            for _ in range(3):
                await make_contact(session, await make_prospect(session, campaign))
            campaign_id = campaign.id
        await db.dispose()
        return campaign_id

    campaign_id = asyncio.run(seed())
    first = run_cli(["generate", str(campaign_id)], env, tmp_path)
    assert first.returncode == 0, first.stderr
    assert "Created 3 emails (0 existed already)" in first.stdout
    second = run_cli(["generate", str(campaign_id)], env, tmp_path)
    assert "Created 0 emails (3 existed already)" in second.stdout
    missing = run_cli(["generate", "999"], env, tmp_path)
    assert missing.returncode != 0
    assert "campaign 999 does not exist" in missing.stderr
