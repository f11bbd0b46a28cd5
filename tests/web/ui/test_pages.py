"""What every dashboard page shares: strict headers, no inline script or style."""

from __future__ import annotations

import re
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client

from tests.support.signin import login


@pytest.mark.parametrize("path", ["/login", "/campaigns", "/keys"])
async def test_pages_have_strict_headers_and_no_inline_script_or_style(
    client: Client, user: Any, path: str
) -> None:
    if path != "/login":
        await login(client)
    response = await client.get(path)
    html = await response.get_data(as_text=True)
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "style-src 'self';" in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"]
    assert response.headers["Cache-Control"] == "no-store"
    assert re.findall(r"<script(?![^>]*\ssrc=)[^>]*>", html) == []
    assert " style=" not in html and "<style" not in html
    assert '<meta name="viewport"' in html


async def test_static_assets_are_vendored(client: Client) -> None:
    for path in ("/static/vendor/htmx.min.js", "/static/vendor/sse.min.js", "/static/tune.js"):
        response = await client.get(path)
        assert response.status_code == 200, path
    body = await (await client.get("/static/vendor/htmx.min.js")).get_data(as_text=True)
    assert 'version:"2.' in body
