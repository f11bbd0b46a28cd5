"""Dashboard users: password hashing, accounts, sign-in throttling and the CLI."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from tests.support.factories import make_user
from tests.support.servers import run_cli, serve, tune_env
from tests.support.signin import PASSWORD, csrf_of, login
from webapp.accounts import users
from webapp.core.config import Config
from webapp.core.db import Database
from webapp.core.errors import Conflict, ValidationFailed
from webapp.web.services import Services
from webapp.web.ui.auth import THROTTLE


async def test_passwords_are_stored_as_scrypt_hashes(tune: Services) -> None:
    async with tune.db.write() as session:
        user = await make_user(session, "Rep@Example.com ")
    assert user.email == "rep@example.com"
    assert user.password_hash.startswith("scrypt:")
    assert PASSWORD not in user.password_hash
    async with tune.db.read() as session:
        assert await users.check_credentials(session, "REP@example.com", PASSWORD) is not None
        assert await users.check_credentials(session, "rep@example.com", "wrong password") is None
        assert await users.check_credentials(session, "nobody@example.com", PASSWORD) is None


async def test_accounts_need_a_free_email_and_a_long_password(tune: Services) -> None:
    async with tune.db.write() as session:
        await make_user(session)
    for email, password, field in (
        ("rep@example.com", PASSWORD, "email"),
        ("not-an-email", PASSWORD, "email"),
        ("new@example.com", "short", "password"),
    ):
        with pytest.raises((Conflict, ValidationFailed)) as error:
            async with tune.db.write() as session:
                await users.create_user(session, email, password)
        assert error.value.field == field


async def test_an_account_is_locked_after_five_failures(client: Client, tune: Services) -> None:
    async with tune.db.write() as session:
        await make_user(session)
        await make_user(session, "other@example.com")
    for _ in range(5):
        assert (await login(client, password="wrong password")).status_code == 401
    response = await login(client)  # the right password, too late
    assert response.status_code == 429
    assert "too many failed sign-ins" in await response.get_data(as_text=True)
    assert int(response.headers["Retry-After"]) > 0
    # Another account from the same address is not locked by these five.
    assert (await login(client, "other@example.com")).status_code == 303


async def test_a_successful_sign_in_clears_the_account_failures(
    client: Client, tune: Services
) -> None:
    async with tune.db.write() as session:
        await make_user(session)
    for _ in range(4):
        await login(client, password="wrong password")
    assert (await login(client)).status_code == 303
    await client.post("/logout", form={"csrf_token": csrf_of(await _page(client, "/campaigns"))})
    for _ in range(4):
        await login(client, password="wrong password")
    assert (await login(client)).status_code == 303


async def test_an_address_is_locked_after_failures_on_many_accounts(
    app: Quart, client: Client, tune: Services
) -> None:
    app.extensions[THROTTLE] = users.LoginThrottle("memory://", per_address="3/minute")
    async with tune.db.write() as session:
        await make_user(session)
    for number in range(3):
        await login(client, f"guess{number}@example.com", "wrong password")
    assert (await login(client)).status_code == 429


async def _page(client: Client, path: str) -> str:
    return await (await client.get(path)).get_data(as_text=True)


# --- the command line ----------------------------------------------------------------------


def test_users_create_reads_the_password_from_stdin(
    database_url: str, tmp_path: Path, config: Config
) -> None:
    env = tune_env(database_url, tmp_path)
    result = run_cli(["users", "create", "Lead@Example.com"], env, tmp_path, stdin=PASSWORD + "\n")
    assert result.returncode == 0, result.stderr
    assert "Created user lead@example.com." in result.stdout
    assert PASSWORD not in result.stdout + result.stderr

    async def check() -> Any:
        db = Database(config)
        try:
            async with db.read() as session:
                return await users.check_credentials(session, "lead@example.com", PASSWORD)
        finally:
            await db.dispose()

    import asyncio

    assert asyncio.run(check()) is not None
    again = run_cli(["users", "create", "lead@example.com"], env, tmp_path, stdin=PASSWORD + "\n")
    assert again.returncode != 0 and "already exists" in again.stderr
    short = run_cli(["users", "create", "x@example.com"], env, tmp_path, stdin="short\n")
    assert short.returncode != 0 and "at least 10 characters" in short.stderr


def test_users_create_never_takes_the_password_as_an_argument(
    database_url: str, tmp_path: Path
) -> None:
    env = tune_env(database_url, tmp_path)
    result = run_cli(["users", "create", "a@example.com", PASSWORD], env, tmp_path, stdin="")
    assert result.returncode == 2
    assert "unexpected extra argument" in result.stderr.lower()


def test_first_development_start_creates_an_admin_and_prints_its_password_once(
    database_url: str, tmp_path: Path
) -> None:
    env = tune_env(database_url, tmp_path, TUNE_ENV="development")
    with serve(env, tmp_path) as base:
        log = "".join(path.read_text() for path in tmp_path.glob("server-*.log"))
        match = re.search(r"email:\s+(\S+)\s+password:\s+(\S+)", log)
        assert match, log[-2000:]
        email, password = match.groups()
        with httpx.Client(base_url=base, follow_redirects=False) as browser:
            page = browser.get("/login")
            response = browser.post(
                "/login",
                data={"email": email, "password": password, "csrf_token": csrf_of(page.text)},
            )
            assert response.status_code == 303
            assert browser.get("/campaigns").status_code == 200
    # A second start finds the user and prints no password.
    for path in tmp_path.glob("server-*.log"):
        path.unlink()
    with serve(env, tmp_path):
        log = "".join(path.read_text() for path in tmp_path.glob("server-*.log"))
        assert "password:" not in log


def test_users_password_and_sign_out_end_every_session(
    database_url: str, tmp_path: Path, config: Config
) -> None:
    env = tune_env(database_url, tmp_path)
    created = run_cli(["users", "create", "rep@example.com"], env, tmp_path, stdin=PASSWORD + "\n")
    assert created.returncode == 0, created.stderr

    async def version() -> tuple[int, bool]:
        db = Database(config)
        try:
            async with db.read() as session:
                user = await users.user_by_email(session, "rep@example.com")
                assert user is not None
                new = await users.check_credentials(session, user.email, "a new long password")
                return user.session_version, new is not None
        finally:
            await db.dispose()

    import asyncio

    assert asyncio.run(version()) == (0, False)
    result = run_cli(["users", "sign-out", "Rep@Example.com"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Ended every session of rep@example.com." in result.stdout
    assert asyncio.run(version()) == (1, False)
    changed = run_cli(
        ["users", "password", "rep@example.com"], env, tmp_path, stdin="a new long password\n"
    )
    assert changed.returncode == 0, changed.stderr
    assert asyncio.run(version()) == (2, True)
    unknown = run_cli(["users", "sign-out", "nobody@example.com"], env, tmp_path)
    assert unknown.returncode != 0 and "no user has email nobody@example.com" in unknown.stderr
