"""The workspace tests read the list right after recording hits: no settle delay here.

The delay itself (a click acts on people only once settled) has its own test in
test_followups.py.
"""

from __future__ import annotations

import pytest

from webapp.core.config import Config


@pytest.fixture
def config(config: Config) -> Config:
    return config.with_changes(click_settle_seconds=0.0)
