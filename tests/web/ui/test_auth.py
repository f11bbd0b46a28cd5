"""Signing in and out: throttled guesses, lockouts per source, sessions that really end."""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from tests.support.factories import make_user
from tests.support.servers import REDIS_URL, free_port, redis_available
from tests.support.signin import PASSWORD, csrf_of, login, token
from webapp.accounts import users
from webapp.core.services import Services
from webapp.web.ui.auth import THROTTLE

EMAIL = "rep@example.com"


async def guesses(
    client: Client, count: int, password: str = "wrong password", source: str = "10.0.0.1"
) -> Counter[int]:
    """`count` sign-ins sent at once from one client address; the status codes."""
    html = await (await client.get("/login")).get_data(as_text=True)
    form = {"email": EMAIL, "password": password, "csrf_token": csrf_of(html), "next": ""}
    scope = {"client": (source, 40000)}
    responses = await asyncio.gather(
        *(client.post("/login", form=form, scope_base=scope) for _ in range(count))
    )
    return Counter(response.status_code for response in responses)


@pytest.fixture
async def user(tune: Services) -> Any:
    async with tune.db.write() as session:
        return await make_user(session, EMAIL)


@pytest.mark.parametrize("storage", ["memory", "redis"])
async def test_concurrent_guesses_check_at_most_the_allowed_passwords(
    app: Quart, client: Client, user: Any, storage: str
) -> None:
    if storage == "redis":
        if not redis_available():
            pytest.skip("Redis is not running on 127.0.0.1:6379")
        namespace = "tune-login-test-" + secrets.token_hex(6)  # Redis is shared: own keys
        app.extensions[THROTTLE] = users.LoginThrottle(REDIS_URL, namespace=namespace)
    outcome = await guesses(client, 60)
    assert outcome == Counter({401: 5, 429: 55})


async def test_two_workers_sharing_redis_check_at_most_the_allowed_passwords() -> None:
    if not redis_available():
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    namespace = "tune-login-test-" + secrets.token_hex(6)
    workers = [users.LoginThrottle(REDIS_URL, namespace=namespace) for _ in range(2)]

    async def attempt(number: int) -> bool:
        try:
            await workers[number % 2].reserve(EMAIL, "10.0.0.1")
        except Exception:
            return False
        return True

    allowed = await asyncio.gather(*(attempt(n) for n in range(60)))
    assert sum(allowed) == 5


async def test_wrong_passwords_from_one_address_do_not_lock_the_account_elsewhere(
    client: Client, user: Any
) -> None:
    assert await guesses(client, 6, source="10.0.0.66") == Counter({401: 5, 429: 1})
    # The owner, from another address, still signs in.
    assert await guesses(client, 1, password=PASSWORD, source="10.0.0.7") == Counter({303: 1})


async def test_with_redis_down_the_throttle_counts_in_the_process(
    app: Quart, client: Client, user: Any
) -> None:
    app.extensions[THROTTLE] = users.LoginThrottle(f"redis://127.0.0.1:{free_port()}")
    assert await guesses(client, 8) == Counter({401: 5, 429: 3})


# --- sessions -------------------------------------------------------------------------------


def session_cookie(client: Client) -> str:
    jar = client.cookie_jar
    assert jar is not None
    return next(cookie.value for cookie in jar if cookie.name == "session") or ""


async def test_sign_out_ends_copies_of_the_session_cookie(
    app: Quart, client: Client, user: Any
) -> None:
    assert (await login(client)).status_code == 303
    copied = session_cookie(client)
    response = await client.post("/logout", form={"csrf_token": await token(client)})
    assert response.status_code == 303
    thief = app.test_client()
    thief.set_cookie("localhost", "session", copied)
    assert (await thief.get("/campaigns")).status_code == 302
    # Signing in again gives a working session.
    assert (await login(client)).status_code == 303
    assert (await client.get("/campaigns")).status_code == 200


async def test_ending_a_users_sessions_signs_out_every_browser(
    app: Quart, client: Client, tune: Services, user: Any
) -> None:
    other = app.test_client()
    assert (await login(client)).status_code == 303
    assert (await login(other)).status_code == 303
    async with tune.db.write() as session:
        await users.sign_out_everywhere(session, EMAIL)
    assert (await client.get("/campaigns")).status_code == 302
    assert (await other.get("/campaigns")).status_code == 302


async def test_a_password_set_by_the_command_ends_sessions_and_works(
    client: Client, tune: Services, user: Any
) -> None:
    assert (await login(client)).status_code == 303
    async with tune.db.write() as session:
        await users.set_password(session, EMAIL, "another long password")
    assert (await client.get("/campaigns")).status_code == 302
    assert (await login(client, password="another long password")).status_code == 303


async def test_the_session_lasts_the_configured_seven_days(client: Client, user: Any) -> None:
    response = await login(client)
    cookie = next(
        value for value in response.headers.getlist("Set-Cookie") if value.startswith("session=")
    )
    expires = next(part for part in cookie.split(";") if part.strip().lower().startswith("expires"))
    lifetime = parsedate_to_datetime(expires.split("=", 1)[1]) - datetime.now(UTC)
    assert timedelta(days=7) - timedelta(minutes=5) < lifetime <= timedelta(days=7)
