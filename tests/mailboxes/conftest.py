"""Real SMTP relays (aiosmtpd on loopback ports) standing in for several mailboxes' providers.

Each relay requires a login with its own password, so a test also sees that the
password sealed in the database is the one that reaches the relay.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.mailboxes import Provider, start_provider


@pytest.fixture
def providers() -> Iterator[dict[str, Provider]]:
    """Three relays, `alpha`, `beta` and `gamma`, each with its own password."""
    started = {name: start_provider(name) for name in ("alpha", "beta", "gamma")}
    yield started
    for provider in started.values():
        if provider.running:
            provider.controller.stop()
