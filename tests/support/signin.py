"""Signing in to the dashboard from the Quart test client, as a browser would."""

from __future__ import annotations

import re
from typing import Any

from quart.typing import TestClientProtocol

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


async def login(
    client: TestClientProtocol, email: str = "rep@example.com", password: str = PASSWORD
) -> Any:
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
