"""Fixtures of the real-browser tests: a `tune run` with the rep's account and a Chromium
page on it (a user and a signed-in client are in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import chromium_page, serve_with_user


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
