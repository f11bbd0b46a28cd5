"""`tune run`: settings, first start and bootstrap keys, against a real server."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support.servers import run_cli, serve

pytestmark = pytest.mark.slow


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
