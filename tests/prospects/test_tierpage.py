"""A tier in the default order by plain SQL (`prospects/tierpage.py`) against the ORM list
(`listing.list_tier`) the dashboard reads: the same prospects, fields, contacts and cursors,
page after page, ties in score and hot prospects included."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.support.factories import make_campaign, make_contact, make_prospect
from webapp.core.errors import NotFound
from webapp.prospects import listing, tierpage
from webapp.web.api.prospects import Prospect
from webapp.web.pagination import PageRequest
from webapp.web.services import Services


async def test_every_page_is_the_orm_lists_page(tune: Services) -> None:
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
        for number in range(23):
            prospect = await make_prospect(
                session,
                campaign,
                f"P{number}",
                score=number % 4,
                hot=number % 5 == 0,
                score_reasons=[{"rule": f"r{number}", "points": number / 3}],
                last_activity_at=datetime(2026, 1, 1, 0, 0, number, tzinfo=UTC)
                if number % 2
                else None,
            )
            for _ in range(number % 3):
                await make_contact(session, prospect, unsubscribed_at=prospect.last_activity_at)
        await make_prospect(session, campaign, "Tier 2", tier=2)
    after = None
    pages = 0
    while True:
        page = PageRequest(limit=5, after=after)
        async with tune.db.read() as session:
            rows, orm_key = await listing.list_tier(
                session, campaign.id, 1, listing.ListQuery(), page
            )
            expected = [Prospect.model_validate(row) for row in rows]
        found, key = await tierpage.tier_page(tune.db, campaign.id, 1, 5, after)
        assert [Prospect.model_validate(row) for row in found] == expected
        assert key == orm_key
        pages += 1
        if key is None:
            break
        assert isinstance(key[0], bool)  # the cursor encodes a JSON boolean, as the ORM's
        after = key
    assert pages == 5


async def test_an_empty_tier_and_a_missing_campaign(tune: Services) -> None:
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
    assert await tierpage.tier_page(tune.db, campaign.id, 3, 50) == ([], None)
    with pytest.raises(NotFound, match="campaign 999 does not exist"):
        await tierpage.tier_page(tune.db, 999, 1, 50)
