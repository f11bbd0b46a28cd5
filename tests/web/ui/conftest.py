"""Fixtures of the dashboard tests: a user, and a client signed in as that user."""

from __future__ import annotations

from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client

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
