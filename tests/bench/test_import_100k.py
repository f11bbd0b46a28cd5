"""`python -m bench.import_100k --database-url` on a database that already holds prospects: it
refuses, so its figures never mix with other data (a test run's, say), and leaves it as it is."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from bench import import_100k
from tests.support.factories import make_campaign, make_prospect
from webapp.core.models import Prospect
from webapp.web.services import Services


async def test_the_import_benchmark_refuses_a_database_that_holds_prospects(
    tune: Services, database_url: str
) -> None:
    assert not await import_100k.holds_prospects(database_url)
    async with tune.db.write() as session:
        await make_prospect(session, await make_campaign(session, industry="casino"), "Kept")

    with pytest.raises(SystemExit, match="already holds prospects"):
        await asyncio.to_thread(import_100k.run, 10, database_url)

    async with tune.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Prospect)) == 1
