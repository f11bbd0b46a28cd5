"""Signing in to the dashboard as a browser would: from the Quart test client, or in Chromium.

The rep's account is `EMAIL` with `PASSWORD`: made by the `user` fixture (test
client) or by `create_user` (`tune users create`, for a real `tune run`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from quart.typing import TestClientProtocol

from tests.support.servers import run_cli

EMAIL = "rep@example.com"
PASSWORD = "correct horse battery"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token a rendered page carries in its forms."""
    match = TOKEN.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


async def page(client: TestClientProtocol, path: str) -> tuple[int, str]:
    response = await client.get(path)
    return response.status_code, await response.get_data(as_text=True)


async def login(client: TestClientProtocol, email: str = EMAIL, password: str = PASSWORD) -> Any:
    """Open the sign-in page, then post the form with its token; returns the response."""
    _, html = await page(client, "/login")
    return await client.post(
        "/login",
        form={"email": email, "password": password, "csrf_token": csrf_of(html), "next": ""},
    )


async def token(client: TestClientProtocol, path: str = "/campaigns") -> str:
    """The session's CSRF token, read from a page as the browser would."""
    status, html = await page(client, path)
    assert status == 200, html
    return csrf_of(html)


async def post_form(
    client: TestClientProtocol, path: str, form: dict[str, str], **kwargs: Any
) -> Any:
    """Post a form with the session's token, like a page's own form would."""
    return await client.post(path, form={**form, "csrf_token": await token(client)}, **kwargs)


def create_user(env: Mapping[str, str], workdir: Path, email: str = EMAIL) -> None:
    """The rep's account, made as an admin would: `tune users create`, password on stdin."""
    created = run_cli(["users", "create", email], env, workdir, stdin=PASSWORD + "\n")
    assert created.returncode == 0, created.stderr


def sign_in_page(page: Any, *, to_campaigns: bool = True) -> None:
    """Sign in on a Playwright page (landing on "Follow up today"), then go to the
    campaigns unless told not to."""
    page.goto("/")
    assert "/login" in page.url
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/followups")
    if to_campaigns:
        page.get_by_role("link", name="Campaigns").click()
        page.wait_for_url("**/campaigns")
