"""Shapes answered by pydantic's encoder (`PlainShape`) write exactly what Quart would."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from quart import Quart

from webapp import create_app
from webapp.campaigns.stats import counts_json
from webapp.core.config import Config
from webapp.web.api import plain_json
from webapp.web.api.campaigns import Stats
from webapp.web.api.tracking import Tracked

COUNTER_NAMES = (
    "sent",
    "open_unique",
    "open_total",
    "open_machine",
    "click_unique",
    "click_total",
    "click_bot",
    "reply",
    "meeting",
    "unsubscribe",
    "bounce",
    "auto_reply",
    "complaint",
)
counters = st.dictionaries(st.sampled_from(COUNTER_NAMES), st.integers(0, 2**53))


@functools.cache
def tune_app() -> Quart:
    """Tune's app as built (never started): only its JSON provider is used."""
    return create_app(Config(database_url="sqlite+aiosqlite://", secret_key="x" * 32))


def quart_json(app: Quart, value: Any) -> bytes:
    """The body Tune's Quart app writes for the shape converted to plain values."""
    return asyncio.run(app.json.response(value.model_dump()).get_data())


@settings(max_examples=300, deadline=None)
@given(
    campaign_id=st.integers(1, 2**31 - 1),
    total=counters,
    tiers=st.lists(counters, min_size=3, max_size=3),
)
def test_stats_json_is_what_quart_writes(
    campaign_id: int, total: dict[str, int], tiers: list[dict[str, int]]
) -> None:
    app = tune_app()
    stats = Stats.model_validate(
        {
            "campaign_id": campaign_id,
            "total": counts_json(total),
            "tiers": {str(n): counts_json(values) for n, values in enumerate(tiers, 1)},
        }
    )
    assert plain_json(stats) == quart_json(app, stats)
    assert plain_json(Tracked(status="tracked")) == quart_json(app, Tracked(status="tracked"))


async def test_the_stats_route_answers_pydantics_json(
    app: Quart, client: Any, auth: dict[str, str]
) -> None:
    from tests.support.factories import make_campaign

    tune = app.extensions["tune"]
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
    response = await client.get(f"/api/campaigns/{campaign.id}/stats", headers=auth)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    stats = Stats.model_validate(await response.get_json())
    assert stats.campaign_id == campaign.id and stats.total.sent == 0
    assert await response.get_data() == plain_json(stats)
