"""Fixtures of the dashboard tests: a user, and a client signed in as that user; for the
real-browser tests, a `tune run` with the rep's account and a Chromium page on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client

from tests.support.browser import chromium_page, serve_with_user
from tests.support.factories import make_user
from tests.support.signin import login
from webapp.web.services import Services


@pytest.fixture
async def user(tune: Services) -> Any:
    async with tune.db.write() as session:
        return await make_user(session)


@pytest.fixture
async def signed_in(client: Client, user: Any) -> Client:
    response = await login(client)
    assert response.status_code == 303
    return client


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """`tune run` with the rep's account and the browser tests' API key; its base URL."""
    with serve_with_user(tmp_path) as base:
        yield base


@pytest.fixture
def browser_page(server: str) -> Iterator[tuple[Any, list[str]]]:
    """A Chromium page on `server`, and the console errors and page errors it reports."""
    with chromium_page(server, viewport={"width": 1280, "height": 900}) as opened:
        yield opened
