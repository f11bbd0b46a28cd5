"""Every `tune` command test runs the real script with its own environment and database."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.servers import tune_env


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return tune_env(database_url, tmp_path)
