"""Fixtures of the core tests: an empty database of either kind for each migration test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.databases import BACKENDS, empty_database


@pytest.fixture(params=BACKENDS)
async def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty SQLite file, then an empty PostgreSQL database named after the test module."""
    name = "tune_" + request.module.__name__.rsplit(".", 1)[-1]
    async with empty_database(request.param, tmp_path, name) as url:
        yield url
