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

from tests.support.servers import REDIS_URL, free_port, redis_available
from tests.support.signin import PASSWORD, csrf_of, login, page, token
from webapp.accounts import users
from webapp.web.services import Services
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


# --- sign in, sign out, login required --------------------------------------------------


async def test_root_redirects_to_login_then_to_follow_ups(client: Client, user: Any) -> None:
    response = await client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    await login(client)
    response = await client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/followups"


@pytest.mark.parametrize(
    "path",
    [
        "/campaigns",
        "/campaigns/1",
        "/campaigns/1/tiers/1",
        "/campaigns/1/live",
        "/campaigns/1/live/poll",
        "/campaigns/1/templates",
        "/campaigns/1/imports/1",
        "/prospects/1",
        "/keys",
        "/followups",
        "/followups/live",
        "/followups/live/poll",
    ],
)
async def test_every_page_needs_a_signed_in_user(client: Client, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=" + path.replace("/", "%2F")
    htmx = await client.get(path, headers={"HX-Request": "true"})
    assert htmx.status_code == 401
    assert htmx.headers["HX-Redirect"] == "/login"


async def test_sign_in_with_wrong_password_is_refused_with_a_message(
    client: Client, user: Any
) -> None:
    response = await login(client, password="not the password")
    assert response.status_code == 401
    assert "Wrong email or password." in await response.get_data(as_text=True)
    assert (await client.get("/campaigns")).status_code == 302


async def test_sign_in_goes_to_the_page_asked_for_but_never_off_site(
    client: Client, user: Any
) -> None:
    _, html = await page(client, "/login?next=/keys")
    assert 'name="next" value="/keys"' in html
    form = {"email": "rep@example.com", "password": PASSWORD, "csrf_token": csrf_of(html)}
    response = await client.post("/login", form={**form, "next": "/keys"})
    assert response.headers["Location"] == "/keys"
    await client.post("/logout", form={"csrf_token": await token(client)})
    _, html = await page(client, "/login")
    response = await client.post(
        "/login", form={**form, "csrf_token": csrf_of(html), "next": "//evil.example/x"}
    )
    assert response.headers["Location"] == "/followups"


async def test_session_cookie_is_httponly_and_samesite_lax(client: Client, user: Any) -> None:
    response = await login(client)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # TUNE_BASE_URL is http in these tests


async def test_session_cookie_is_secure_when_the_base_url_is_https(config: Any, user: Any) -> None:
    app = __import__("webapp").create_app(config.with_changes(base_url="https://tune.example"))
    async with app.test_app():
        client = app.test_client()
        response = await login(client)
        assert response.status_code == 303
        assert "Secure" in response.headers["Set-Cookie"]


async def test_sign_out_ends_the_session(signed_in: Client) -> None:
    response = await signed_in.post("/logout", form={"csrf_token": await token(signed_in)})
    assert response.status_code == 303
    assert response.headers["Location"] == "/login"
    assert (await signed_in.get("/campaigns")).status_code == 302


async def test_a_new_password_ends_older_sessions(
    signed_in: Client, tune: Services, user: Any
) -> None:
    from webapp.accounts.users import hash_password

    async with tune.db.write() as session:
        row = await session.get(type(user), user.id)
        row.password_hash = await hash_password("a brand new password")
    assert (await signed_in.get("/campaigns")).status_code == 302
