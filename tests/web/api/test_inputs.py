"""Hostile input to the API is a 4xx naming what is wrong, never a 500 or a silent guess:
deep JSON, crafted cursors, ids that are not whole numbers, text the database cannot store."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.support.factories import make_campaign, make_prospect, make_recipient
from webapp.core.models import Campaign, Event
from webapp.web.pagination import encode_cursor
from webapp.web.services import Services


@pytest.mark.parametrize("path", ["/api/campaigns/create", "/api/tracking/email-opened"])
async def test_deeply_nested_json_is_400(client: Any, auth: dict[str, str], path: str) -> None:
    response = await client.post(
        path, data=b"[" * 100_000, headers={**auth, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert (await response.get_json())["error"]["code"] == "bad_request"


CAMPAIGN_CURSORS = [[10**28], ["abc"], [2**31], [True], [1.5], "[" * 5000]
TIER_CURSORS = [["x", "y", "z"], [True, 10**28, 1], [True, 70_000, 1], [1, 2, 3], [False, 1, 2**63]]
CONTENT_CURSORS = [[10**28], ["abc"], [2**63], [None]]


def crafted(key: object) -> str:
    """A cursor as Tune encodes one, of a key Tune never served (a str: that very JSON)."""
    if isinstance(key, str):
        return base64.urlsafe_b64encode(key.encode()).rstrip(b"=").decode()
    assert isinstance(key, list)
    return encode_cursor(key)


async def assert_cursor_refused(client: Any, auth: dict[str, str], path: str, key: object) -> None:
    response = await client.get(path, query_string={"cursor": crafted(key)}, headers=auth)
    assert response.status_code == 422, (path, key, response.status_code)
    body = await response.get_json()
    assert body["error"] == {
        "code": "validation_error",
        "message": "cursor is not valid",
        "field": "cursor",
    }


async def test_crafted_cursors_on_api_lists_are_422(
    client: Any, auth: dict[str, str], tune: Services
) -> None:
    async with tune.db.write() as session:
        content = await make_recipient(session)
        await make_prospect(session, await make_campaign(session), score=5)
    campaign_id = content.campaign_id
    for key in CAMPAIGN_CURSORS:
        await assert_cursor_refused(client, auth, "/api/campaigns", key)
    for key in TIER_CURSORS + CAMPAIGN_CURSORS:
        await assert_cursor_refused(client, auth, f"/api/campaigns/{campaign_id}/prospects/3", key)
    for key in CONTENT_CURSORS:
        await assert_cursor_refused(client, auth, f"/api/campaigns/{campaign_id}/contents", key)


async def test_a_cursor_served_by_a_list_is_taken_back(
    client: Any, auth: dict[str, str], tune: Services
) -> None:
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
        for score in (90, 80, 70):
            await make_prospect(session, campaign, score=score, tier=1)
    path = f"/api/campaigns/{campaign.id}/prospects/1"
    first = await (await client.get(f"{path}?limit=2", headers=auth)).get_json()
    assert [item["score"] for item in first["items"]] == [90, 80]
    rest = await client.get(path, query_string={"cursor": first["next_cursor"]}, headers=auth)
    assert rest.status_code == 200
    assert [item["score"] for item in (await rest.get_json())["items"]] == [70]


@pytest.mark.parametrize(
    ("how", "value"),
    [
        ("json", 1.5),
        ("json", "1_0"),
        ("json", True),
        ("json", "1.5"),
        ("query", "1_0"),
        ("query", "1.5"),
        ("query", " 1"),
        ("query", "١"),
    ],
)
async def test_ids_must_be_plain_whole_numbers(
    client: Any, auth: dict[str, str], tune: Services, how: str, value: Any
) -> None:
    async with tune.db.write() as session:
        content = await make_recipient(session)
    ids = {"content_id": value, "contact_id": content.contact_id}
    if how == "json":
        response = await client.post("/api/tracking/email-opened", json=ids, headers=auth)
    else:
        response = await client.post("/api/tracking/email-opened", query_string=ids, headers=auth)
    assert response.status_code == 422
    body = await response.get_json()
    assert body["error"]["field"] == "content_id"
    assert body["error"]["message"] == "content_id must be a positive whole number"
    async with tune.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Event)) == 0


@pytest.mark.parametrize(
    ("how", "body"),
    [
        ("json", b'{"name": "a\\u0000b", "industry": "casino"}'),
        ("json", b'{"name": "a\\ud800b", "industry": "casino"}'),
        ("json", b'{"name": "Fine", "industry": "casi\\u0000no"}'),
        ("query", b"name=a%00b&industry=casino"),
    ],
)
async def test_text_the_database_cannot_store_is_422_naming_the_field(
    client: Any, auth: dict[str, str], tune: Services, how: str, body: bytes
) -> None:
    if how == "json":
        response = await client.post(
            "/api/campaigns/create",
            data=body,
            headers={**auth, "Content-Type": "application/json"},
        )
    else:
        response = await client.post(f"/api/campaigns/create?{body.decode()}", headers=auth)
    assert response.status_code == 422
    error = (await response.get_json())["error"]
    assert error["code"] == "validation_error"
    assert error["field"] == ("industry" if b"casi\\u0000" in body else "name")
    assert "cannot be stored" in error["message"]
    async with tune.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Campaign)) == 0


async def test_json_bodies_are_still_accepted_beside_the_query_string(
    client: Any, auth: dict[str, str]
) -> None:
    response = await client.post(
        "/api/campaigns/create?industry=casino", json={"name": "From JSON"}, headers=auth
    )
    assert response.status_code == 201
    body = await response.get_json()
    assert body["name"] == "From JSON" and body["industry"] == "casino"
    assert body["campaign_id"] == body["id"]
