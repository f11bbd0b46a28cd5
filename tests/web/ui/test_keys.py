"""API keys in the dashboard: create once in clear, list, revoke."""

from __future__ import annotations

import re
from http.cookies import SimpleCookie

from quart import Quart
from quart.typing import TestClientProtocol as Client

from tests.support.signin import page, post_form
from webapp.accounts.apikeys import create_key
from webapp.web.services import Services


async def test_api_keys_create_show_once_list_and_revoke(signed_in: Client, client: Client) -> None:
    status, html = await page(signed_in, "/keys")
    assert status == 200 and "No API keys yet." in html
    response = await post_form(signed_in, "/keys", {"name": "crm sync"})
    # Post/redirect/get: the page after the redirect shows the key, a reload does not.
    assert response.status_code == 303 and response.headers["Location"] == "/keys"
    _, html = await page(signed_in, "/keys")
    key = re.search(r'id="new-key">(tune_[^<]+)<', html)
    assert key, "the new key is shown"
    assert (
        await client.get("/api/industries", headers={"X-API-Key": key.group(1)})
    ).status_code == 200
    _, listing = await page(signed_in, "/keys")
    assert key.group(1) not in listing  # shown once only
    assert "crm sync" in listing and key.group(1)[:9] in listing
    key_id = re.search(r'action="/keys/(\d+)/revoke"', listing)
    assert key_id
    response = await post_form(signed_in, f"/keys/{key_id.group(1)}/revoke", {})
    assert response.status_code == 303
    _, listing = await page(signed_in, "/keys")
    assert "revoked" in listing
    assert (
        await client.get("/api/industries", headers={"X-API-Key": key.group(1)})
    ).status_code == 401


async def test_api_key_without_a_name_is_refused_inline(signed_in: Client) -> None:
    response = await post_form(signed_in, "/keys", {"name": " "})
    assert response.status_code == 422
    assert "name must be 1 to 100 characters" in await response.get_data(as_text=True)


async def test_keys_made_by_the_cli_show_on_the_page(signed_in: Client, tune: Services) -> None:
    async with tune.db.write() as session:
        await create_key(session, "from the command line")
    _, html = await page(signed_in, "/keys")
    assert "from the command line" in html


async def test_keys_list_newest_first_and_say_which_the_dashboard_uses(
    signed_in: Client, tune: Services, app: Quart
) -> None:
    async with tune.db.write() as session:
        await create_key(session, "older key")
        await create_key(session, "newer key")
    _, html = await page(signed_in, "/keys")
    assert html.index("newer key") < html.index("older key")
    assert "it uses none of these keys" in html
    assert "data-key-in-use" not in html
    # The session cookie holds no readable key, only its encrypted form.
    response = await post_form(signed_in, "/keys", {"name": "cookie check"})
    cookie = SimpleCookie(response.headers["Set-Cookie"])
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    stored = serializer.loads(cookie[app.config["SESSION_COOKIE_NAME"]].value)
    assert set(stored["created_key"]) == {"name", "key"}
    assert not stored["created_key"]["key"].startswith("tune_")
    _, html = await page(signed_in, "/keys")
    shown = re.search(r'id="new-key">(tune_[^<]+)<', html)
    assert shown and shown.group(1) not in str(stored)
