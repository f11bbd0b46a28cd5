"""The API layer's table of reads (`webapp/web/apireads.py`) against the Quart routes.

The reads added to the table (`GET /api/industries`, the first page of
`GET /api/campaigns`) must answer what the Quart routes answer, byte for byte,
headers included; anything with a query string or an unknown key is Quart's.
Both paths are compared by tests/support/apipaths.py.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from quart import Quart
from sqlalchemy import update

from tests.support.apipaths import alike, limited_at_the_sixth, through_layer
from tests.support.asgiclient import AsgiClient
from tests.support.factories import make_campaign, make_recipient
from webapp.campaigns.status import FINISHED_AFTER_DAYS
from webapp.core.models import Industry, utcnow
from webapp.web.apireads import READS, KeptBodies, ReadTable, campaign
from webapp.web.services import Services


async def test_industries_are_answered_in_front_of_quart_with_its_bytes(
    app: Quart, tune: Services, auth: dict[str, str]
) -> None:
    status, body, headers = await alike(app, "/api/industries", auth)
    assert status == 200
    assert headers["ratelimit-limit"] and headers["content-type"] == "application/json"
    listed = json.loads(body)
    assert listed["next_cursor"] is None
    assert "casino" in [item["slug"] for item in listed["items"]]


async def test_an_industry_added_or_changed_is_answered_at_once(
    app: Quart, tune: Services, auth: dict[str, str]
) -> None:
    await alike(app, "/api/industries", auth)
    async with tune.db.write() as session:
        session.add(
            Industry(slug="cafe", name="Cafés — ünïcode", description="Kaffee", profile="casino")
        )
        await session.execute(
            update(Industry).where(Industry.slug == "casino").values(description="Changed")
        )
    _, body, _ = await alike(app, "/api/industries", auth)
    items = {item["slug"]: item for item in json.loads(body)["items"]}
    assert items["cafe"]["name"] == "Cafés — ünïcode"
    assert b"\\u00e9" in body  # escaped as Quart's JSON provider writes it
    assert items["casino"]["description"] == "Changed"


async def test_campaign_list_is_answered_in_front_of_quart_with_its_bytes(
    app: Quart, tune: Services, auth: dict[str, str]
) -> None:
    long_ago = utcnow() - timedelta(days=FINISHED_AFTER_DAYS + 1)
    async with tune.db.write() as session:
        await make_campaign(session, "Draft — ünïcode")
        sending = await make_campaign(session, "Sending")
        await make_recipient(session, sending, send_status="queued")
        active = await make_campaign(session, "Active", tracking_enabled=False)
        await make_recipient(session, active, send_status="sent", sent_at=utcnow())
        finished = await make_campaign(session, "Finished")
        await make_recipient(session, finished, send_status="sent", sent_at=long_ago)
        paused = await make_campaign(session, "Paused", status="paused")
        await make_recipient(session, paused, send_status="queued")
    status, body, _ = await alike(app, "/api/campaigns", auth)
    assert status == 200
    listed = json.loads(body)
    assert [(item["name"], item["status"]) for item in listed["items"]] == [
        ("Paused", "paused"),
        ("Finished", "finished"),
        ("Active", "active"),
        ("Sending", "sending"),
        ("Draft — ünïcode", "draft"),
    ]
    assert listed["items"][2]["tracking_enabled"] is False
    assert listed["next_cursor"] is None


async def test_empty_and_full_first_pages_are_the_same_on_both_paths(
    app: Quart, tune: Services, auth: dict[str, str]
) -> None:
    _, body, _ = await alike(app, "/api/campaigns", auth)
    assert json.loads(body) == {"items": [], "next_cursor": None}
    async with tune.db.write() as session:
        for number in range(51):
            await make_campaign(session, f"Campaign {number}")
    _, body, _ = await alike(app, "/api/campaigns", auth)
    listed = json.loads(body)
    assert len(listed["items"]) == 50
    assert listed["next_cursor"]  # the second page's cursor, as Quart encodes it
    second = await AsgiClient(app).get(
        f"/api/campaigns?cursor={listed['next_cursor']}", headers=auth
    )
    assert [item["name"] for item in (await second.get_json())["items"]] == ["Campaign 0"]


async def test_a_campaign_without_figures_is_counted_on_both_paths(
    app: Quart, tune: Services, auth: dict[str, str]
) -> None:
    """No figures row (never after migration 0017): the status is counted, as Quart does."""
    from sqlalchemy import text

    async with tune.db.write() as session:
        campaign_row = await make_campaign(session, "Unfigured")
        await make_recipient(session, campaign_row, send_status="queued")
        await session.execute(
            text("DELETE FROM campaign_figures WHERE campaign_id = :id"), {"id": campaign_row.id}
        )
    _, body, _ = await alike(app, "/api/campaigns", auth)
    assert json.loads(body)["items"][0]["status"] == "sending"


@pytest.mark.parametrize(
    "path",
    [
        "/api/campaigns?limit=1",
        "/api/campaigns?cursor=",
        "/api/industries?x=1",
        "/api/campaigns/1?x=1",
        "/api/campaigns/1/stats?x=1",
        "/api/campaigns/",
        "/api/industries/",
        "/api/campaigns/1/",
    ],
)
async def test_query_strings_and_odd_paths_fall_through_to_quart(
    app: Quart, tune: Services, auth: dict[str, str], path: str
) -> None:
    async with tune.db.write() as session:
        await make_campaign(session)
    await alike(app, path, auth, in_front=False)


@pytest.mark.parametrize("path", ["/api/industries", "/api/campaigns", "/api/campaigns/1"])
async def test_an_unknown_key_falls_through_to_quarts_401(app: Quart, path: str) -> None:
    headers = {"X-API-Key": "tune_" + "x" * 40}
    response, fell = await through_layer(app, "GET", path, headers)
    assert fell == [path]
    assert response.status_code == 401
    assert (await response.get_json())["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("path", ["/api/industries", "/api/campaigns"])
async def test_rate_limit_counts_each_list_read_once(config: Any, path: str) -> None:
    await limited_at_the_sixth(config, path)


async def test_the_table_names_only_routes_quart_has(app: Quart) -> None:
    table = ReadTable(app)
    assert sum(len(routes) for routes in table.routes.values()) == len(READS)
    found = table.match("GET", "/api/campaigns/12/stats")
    assert found is not None and found[0].rule.endswith("/stats") and found[1] == (12,)
    assert table.match("GET", "/api/campaigns/2147483648") is None  # over Quart's bound
    assert table.match("POST", "/api/campaigns") is None
    with pytest.raises(LookupError, match="no Quart route"):
        ReadTable(app, {("GET", "/api/campaigns/<int:campaign_id>/nothing"): campaign})


async def test_a_pause_shows_in_the_next_list_read(
    app: Quart, tune: Services, auth: dict[str, str]
) -> None:
    """Every list answer comes from a query sent after the request: no stale page."""
    async with tune.db.write() as session:
        campaign_row = await make_campaign(session, "Spring")
        await make_recipient(session, campaign_row, send_status="queued")
    _, body, _ = await alike(app, "/api/campaigns", auth)
    assert json.loads(body)["items"][0]["status"] == "sending"
    paused = await AsgiClient(app).post(f"/api/campaigns/{campaign_row.id}/pause", headers=auth)
    assert paused.status_code == 200
    _, body, _ = await alike(app, "/api/campaigns", auth)
    assert json.loads(body)["items"][0]["status"] == "paused"


def test_kept_pages_answer_only_equal_rows_and_stay_within_their_budget() -> None:
    pages = KeptBodies(budget=100)
    pages.keep(("contents", 1), [(1, "a")], b"x" * 40)
    assert pages.get(("contents", 1), [(1, "a")]) == b"x" * 40
    assert pages.get(("contents", 1), [(1, "b")]) is None
    assert pages.get(("contents", 2), [(1, "a")]) is None
    pages.keep(("contents", 1), [(1, "b")], b"y" * 40)  # written again: replaces the old
    pages.keep(("tier", 1, 1), [(2,)], b"z" * 50)
    assert pages.size == 90 and pages.get(("contents", 1), [(1, "b")]) == b"y" * 40
    pages.keep(("tier", 1, 2), [(3,)], b"w" * 20)  # over the budget: the oldest forgotten
    assert pages.size == 70 and pages.get(("contents", 1), [(1, "b")]) is None
    assert pages.get(("tier", 1, 1), [(2,)]) == b"z" * 50
    pages.keep(("tier", 1, 3), [(4,)], b"v" * 101)  # larger than the budget: not kept
    assert pages.size == 70 and pages.get(("tier", 1, 3), [(4,)]) is None
    pages.keep(("tier", 1, 3), [(4,)], b"v" * 100)  # the whole budget: everything else goes
    assert pages.size == 100 and list(pages.kept) == [("tier", 1, 3)]
