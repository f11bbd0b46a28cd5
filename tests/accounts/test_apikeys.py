"""API keys given at startup (TUNE_BOOTSTRAP_API_KEY), against real `tune run` processes."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from tests.support.servers import run_cli, serve, tune_env
from webapp.accounts.apikeys import KeyCache, KeyMatch, announce, revocation_marker

pytestmark = pytest.mark.slow

GUIDE_KEY = "tune_dev_key_12345"
"""The key the seed's curl guide uses: shorter than production accepts."""


def server_log(tmp_path: Path) -> str:
    return "".join(path.read_text() for path in sorted(tmp_path.glob("server-*.log")))


def test_the_guides_key_works_in_development_and_a_revoked_one_stays_revoked(
    database_url: str, tmp_path: Path
) -> None:
    env = tune_env(database_url, tmp_path, TUNE_ENV="development", TUNE_BOOTSTRAP_API_KEY=GUIDE_KEY)
    with serve(env, tmp_path) as base:
        response = httpx.get(f"{base}/api/industries", headers={"X-API-Key": GUIDE_KEY})
        assert response.status_code == 200
    log = server_log(tmp_path)
    assert log.count("TUNE_BOOTSTRAP_API_KEY is short") == 1
    assert GUIDE_KEY not in log

    listed = run_cli(["keys", "list"], env, tmp_path).stdout
    key_id = next(line.split()[0] for line in listed.splitlines() if "bootstrap" in line)
    assert run_cli(["keys", "revoke", key_id], env, tmp_path).returncode == 0
    for path in tmp_path.glob("server-*.log"):
        path.unlink()
    with serve(env, tmp_path) as base:
        response = httpx.get(f"{base}/api/industries", headers={"X-API-Key": GUIDE_KEY})
        assert response.status_code == 401
    revoked = [line for line in server_log(tmp_path).splitlines() if "revoked" in line]
    assert revoked == [
        "TUNE_BOOTSTRAP_API_KEY is a revoked key and stays revoked; "
        "set a new key or unset the variable."
    ]


def test_a_key_revoked_by_another_process_is_refused_by_every_worker_at_once(
    database_url: str, tmp_path: Path
) -> None:
    """Workers keep verified keys for a while; a revocation from the CLI (another
    process) must still refuse the very next request on every worker, on the
    Quart routes and on the stats read answered in front of them."""
    env = tune_env(database_url, tmp_path)
    with serve(env, tmp_path, "--workers", "2") as base:
        for round_ in range(3):
            created = run_cli(["keys", "create", "--name", f"cached{round_}"], env, tmp_path)
            assert created.returncode == 0, created.stderr
            key = created.stdout.strip().splitlines()[-1]
            headers = {"X-API-Key": key}
            made = httpx.post(
                f"{base}/api/campaigns/create?name=Spring&industry=casino", headers=headers
            )
            stats = f"{base}/api/campaigns/{made.json()['id']}/stats"
            # One connection per request, so both workers verify (and keep) the key.
            before = [
                httpx.get(url, headers=headers).status_code
                for url in [f"{base}/api/industries", stats] * 10
            ]
            listed = run_cli(["keys", "list"], env, tmp_path).stdout
            key_id = next(
                line.split()[0] for line in listed.splitlines() if f"cached{round_}" in line
            )
            assert run_cli(["keys", "revoke", key_id], env, tmp_path).returncode == 0
            after = [
                httpx.get(url, headers=headers).status_code
                for url in [f"{base}/api/industries", stats] * 10
            ]
            assert before == [200] * 20
            assert after == [401] * 20


def test_the_key_cache_drops_its_keys_at_each_revocation_and_follows_a_new_marker(
    tmp_path: Path,
) -> None:
    database = str(tmp_path / "tune.db")
    cache = KeyCache(database)
    match = KeyMatch(1, "a" * 64, None)
    _, generation = cache.get(match.key_hash)
    cache.put(match, generation)
    assert cache.get(match.key_hash)[0] == match
    announce(revocation_marker(database))  # as `tune keys revoke` does, from another process
    assert cache.get(match.key_hash)[0] is None
    cache.put(match, cache.get(match.key_hash)[1])
    assert cache.get(match.key_hash)[0] == match
    # The marker deleted and made again (a restore): followed within REMAP_SECONDS.
    os.remove(revocation_marker(database))
    announce(revocation_marker(database))
    cache._next_check = 0.0
    assert cache.get(match.key_hash)[0] is None
