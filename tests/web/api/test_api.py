"""The JSON API's public contract: paths, shapes, auth, errors, pagination, CORS."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from quart import Quart
from sqlalchemy import func, select

from tests.support.factories import (
    make_campaign,
    make_contact,
    make_content,
    make_prospect,
    make_recipient,
)
from webapp.accounts.apikeys import revoke_key
from webapp.core.models import Campaign, CampaignCounter, Event, utcnow
from webapp.web.services import Services


async def test_health_needs_no_key_and_no_database(client: Any, tune: Services) -> None:
    await tune.db.engine.dispose()
    response = await client.get("/api/health")
    assert response.status_code == 200
    assert await response.get_json() == {"status": "ok"}


async def test_ready_reports_database_and_writer(client: Any) -> None:
    response = await client.get("/api/ready")
    body = await response.get_json()
    assert response.status_code == 200
    assert body["checks"] == {"database": "ok", "migrations": "ok", "event_writer": "ok"}


async def test_ready_is_503_naming_the_failing_check(client: Any, tune: Services) -> None:
    await tune.writer.stop()
    response = await client.get("/api/ready")
    body = await response.get_json()
    assert response.status_code == 503
    assert body["checks"]["event_writer"] == "stopped"
    assert "event_writer" in body["error"]["message"]


async def test_industries_are_seeded(client: Any, auth: dict[str, str]) -> None:
    response = await client.get("/api/industries", headers=auth)
    slugs = {item["slug"] for item in (await response.get_json())["items"]}
    assert {
        "casino",
        "hospitality",
        "retail",
        "saas",
        "healthcare",
        "finance",
        "manufacturing",
        "logistics",
    } <= slugs


async def test_create_campaign_from_query_string(client: Any, auth: dict[str, str]) -> None:
    response = await client.post("/api/campaigns/create?name=Test&industry=casino", headers=auth)
    body = await response.get_json()
    assert response.status_code == 201
    assert body["campaign_id"] == body["id"]
    assert body["name"] == "Test"
    assert body["industry"] == "casino"
    assert body["created_at"]


async def test_create_campaign_from_json_body_and_read_it_back(
    client: Any, auth: dict[str, str]
) -> None:
    response = await client.post(
        "/api/campaigns/create", json={"name": "Vegas Q3", "industry": "hospitality"}, headers=auth
    )
    campaign_id = (await response.get_json())["campaign_id"]
    response = await client.get(f"/api/campaigns/{campaign_id}", headers=auth)
    body = await response.get_json()
    assert response.status_code == 200
    assert body["id"] == campaign_id
    assert body["name"] == "Vegas Q3"
    assert body["industry"] == "hospitality"
    assert body["status"] == "draft"
    assert body["counts"]["prospects"] == 0


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("name=Test&industry=bowling", "industry"),
        ("name=&industry=casino", "name"),
        ("name=%20%20&industry=casino", "name"),
        ("name=" + "x" * 201 + "&industry=casino", "name"),
        ("industry=casino", "name"),
        ("name=Test", "industry"),
    ],
)
async def test_create_campaign_rejects_bad_input_naming_the_field(
    client: Any, auth: dict[str, str], tune: Services, query: str, field: str
) -> None:
    response = await client.post(f"/api/campaigns/create?{query}", headers=auth)
    body = await response.get_json()
    assert response.status_code == 422
    assert body["error"]["code"] == "validation_error"
    assert body["error"]["field"] == field
    async with tune.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Campaign)) == 0


async def test_unknown_campaign_is_json_404(client: Any, auth: dict[str, str]) -> None:
    response = await client.get("/api/campaigns/999", headers=auth)
    assert response.status_code == 404
    assert (await response.get_json())["error"]["code"] == "not_found"


async def test_campaign_list_pages_with_a_cursor_newest_first(
    client: Any, auth: dict[str, str], tune: Services
) -> None:
    async with tune.db.write() as session:
        for number in range(5):
            await make_campaign(session, name=f"C{number}")
    seen: list[str] = []
    cursor = None
    while True:
        url = "/api/campaigns?limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = await (await client.get(url, headers=auth)).get_json()
        seen += [item["name"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == ["C4", "C3", "C2", "C1", "C0"]


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=501", "limit=ten", "cursor=%%%", "cursor=WzEsMl0"]
)
async def test_bad_paging_parameters_are_422(client: Any, auth: dict[str, str], query: str) -> None:
    response = await client.get(f"/api/campaigns?{query}", headers=auth)
    assert response.status_code == 422
    assert (await response.get_json())["error"]["field"] in {"limit", "cursor"}


async def test_prospects_of_a_tier_hot_first_then_score_with_keyset_pages(
    client: Any, auth: dict[str, str], tune: Services
) -> None:
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
        other = await make_campaign(session)
        expected = []
        for name, score, hot in [
            ("Low", 70, False),
            ("Hot", 71, True),
            ("Top", 95, False),
            ("Mid", 80, False),
            ("Tie", 80, False),
        ]:
            prospect = await make_prospect(
                session, campaign, name=name, score=score, hot=hot, tier=1
            )
            await make_contact(session, prospect, title="CEO")
            expected.append(prospect)
        await make_prospect(session, campaign, name="Tier two", tier=2)
        await make_prospect(session, other, name="Other campaign", tier=1)
        campaign_id = campaign.id
    names: list[str] = []
    cursor = None
    for _ in range(5):
        url = f"/api/campaigns/{campaign_id}/prospects/1?limit=2" + (
            f"&cursor={cursor}" if cursor else ""
        )
        body = await (await client.get(url, headers=auth)).get_json()
        names += [item["name"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    # Equal scores fall back to the newest id first.
    assert names == ["Hot", "Top", "Tie", "Mid", "Low"]
    first = (
        await (
            await client.get(f"/api/campaigns/{campaign_id}/prospects/1", headers=auth)
        ).get_json()
    )["items"][0]
    assert first["contacts"][0]["title"] == "CEO"
    assert {"score", "score_reasons", "tier", "hot"} <= first.keys()


async def test_prospect_list_takes_the_dashboards_filter_sort_and_search(
    client: Any, auth: dict[str, str], tune: Services
) -> None:
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
        for name, score in [("beta Hotels", 60), ("Alpha Inn", 70), ("Gamma Resort", 90)]:
            prospect = await make_prospect(session, campaign, name=name, score=score, tier=1)
            contact = await make_contact(session, prospect)
            if name != "Gamma Resort":
                await make_content(session, contact, sent_at=utcnow(), send_status="sent")
        campaign_id = campaign.id
    base = f"/api/campaigns/{campaign_id}/prospects/1"

    async def names(query: str) -> list[str]:
        response = await client.get(f"{base}?{query}", headers=auth)
        assert response.status_code == 200, await response.get_data(as_text=True)
        return [item["name"] for item in (await response.get_json())["items"]]

    assert await names("sort=name") == ["Alpha Inn", "beta Hotels", "Gamma Resort"]
    assert await names("filter=uncontacted") == ["Gamma Resort"]
    assert await names("q=HOTEL&sort=score") == ["beta Hotels"]
    # Paging by name: the cursor carries the sort, and another sort refuses it.
    first = await (await client.get(f"{base}?sort=name&limit=1", headers=auth)).get_json()
    second = await client.get(
        f"{base}?sort=name&limit=1&cursor={first['next_cursor']}", headers=auth
    )
    assert [item["name"] for item in (await second.get_json())["items"]] == ["beta Hotels"]
    wrong = await client.get(f"{base}?sort=score&cursor={first['next_cursor']}", headers=auth)
    assert wrong.status_code == 422
    assert (await wrong.get_json())["error"]["field"] == "cursor"
    for query, field in (("sort=price", "sort"), ("filter=maybe", "filter")):
        response = await client.get(f"{base}?{query}", headers=auth)
        assert response.status_code == 422
        assert (await response.get_json())["error"]["field"] == field


@pytest.mark.parametrize("tier", ["0", "4", "one", "-1"])
async def test_tier_outside_one_to_three_is_422(
    client: Any, auth: dict[str, str], tune: Services, tier: str
) -> None:
    async with tune.db.write() as session:
        campaign_id = (await make_campaign(session)).id
    response = await client.get(f"/api/campaigns/{campaign_id}/prospects/{tier}", headers=auth)
    assert response.status_code == 422
    assert (await response.get_json())["error"]["field"] == "tier"


@pytest.mark.parametrize("kind", ["email-opened", "email-clicked", "email-replied"])
async def test_tracking_api_stores_the_event_and_its_counters(
    client: Any, auth: dict[str, str], tune: Services, kind: str
) -> None:
    async with tune.db.write() as session:
        content = await make_recipient(session)
        ids = {"content_id": content.id, "contact_id": content.contact_id}
    response = await client.post(f"/api/tracking/{kind}", query_string=ids, headers=auth)
    assert response.status_code == 200
    assert await response.get_json() == {"status": "tracked"}
    response = await client.post(f"/api/tracking/{kind}", json=ids, headers=auth)
    assert response.status_code == 200
    async with tune.db.read() as session:
        events = (await session.scalars(select(Event))).all()
        counters = {row.name: row.value for row in await session.scalars(select(CampaignCounter))}
    stored_kind = {"email-opened": "open", "email-clicked": "click", "email-replied": "reply"}[kind]
    assert [event.kind for event in events if event.source == "api"] == [stored_kind, stored_kind]
    if kind == "email-opened":
        assert counters == {"open_total": 2, "open_unique": 1}
    elif kind == "email-clicked":
        # A click proves an open: the open is counted once, as inferred.
        assert counters == {"click_total": 2, "click_unique": 1, "open_total": 1, "open_unique": 1}
    else:
        assert counters == {"reply": 1}


async def test_tracking_api_refuses_a_pair_that_does_not_belong_together(
    client: Any, auth: dict[str, str], tune: Services
) -> None:
    async with tune.db.write() as session:
        first = await make_recipient(session)
        second = await make_recipient(session)
        pair = {"content_id": first.id, "contact_id": second.contact_id}
    for query in (pair, {"content_id": 10**9, "contact_id": 1}):
        response = await client.post("/api/tracking/email-opened", query_string=query, headers=auth)
        assert response.status_code == 404
        assert (await response.get_json())["error"]["code"] == "not_found"
    async with tune.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Event)) == 0
        assert await session.scalar(select(func.count()).select_from(CampaignCounter)) == 0


@pytest.mark.parametrize(
    "query",
    ["contact_id=1", "content_id=1", "content_id=x&contact_id=1", "content_id=-3&contact_id=1"],
)
async def test_tracking_api_validates_its_parameters(
    client: Any, auth: dict[str, str], query: str
) -> None:
    response = await client.post(f"/api/tracking/email-opened?{query}", headers=auth)
    assert response.status_code == 422
    assert (await response.get_json())["error"]["field"] in {"content_id", "contact_id"}


async def test_missing_and_wrong_keys_are_401(client: Any) -> None:
    for headers in (
        {},
        {"X-API-Key": "tune_wrong"},
        {"Authorization": "Bearer nope"},
        {"Authorization": "Basic abc"},
    ):
        response = await client.get("/api/campaigns", headers=headers)
        assert response.status_code == 401
        assert (await response.get_json())["error"]["code"] == "unauthorized"


async def test_bearer_token_is_accepted(client: Any, api_key: str) -> None:
    response = await client.get("/api/campaigns", headers={"Authorization": f"Bearer {api_key}"})
    assert response.status_code == 200


async def test_revoked_key_is_refused_on_the_next_request(
    client: Any, auth: dict[str, str], tune: Services
) -> None:
    assert (await client.get("/api/campaigns", headers=auth)).status_code == 200
    async with tune.db.write() as session:
        await revoke_key(session, 1)
    assert (await client.get("/api/campaigns", headers=auth)).status_code == 401


async def test_the_key_is_never_logged(
    client: Any, api_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await client.get("/api/campaigns", headers={"X-API-Key": api_key})
    await client.get("/api/campaigns", headers={"X-API-Key": api_key + "x"})
    assert "request" in caplog.text
    assert api_key not in caplog.text


async def test_rate_limit_is_per_key_across_routes_with_headers(
    config: Any, tune: Services
) -> None:
    from webapp import create_app

    app = create_app(config.with_changes(rate_limit="5/minute"))
    async with app.test_app():
        services: Services = app.extensions["tune"]
        from webapp.accounts.apikeys import create_key

        async with services.db.write() as session:
            first = (await create_key(session, "a")).key
            second = (await create_key(session, "b")).key
        client = app.test_client()
        paths = ["/api/campaigns", "/api/industries"] * 3
        statuses = [
            (await client.get(path, headers={"X-API-Key": first})).status_code for path in paths
        ]
        assert statuses == [200] * 5 + [429]
        limited = await client.get("/api/industries", headers={"X-API-Key": first})
        body = await limited.get_json()
        assert body["error"]["code"] == "rate_limited"
        assert int(limited.headers["Retry-After"]) > 0
        assert limited.headers["RateLimit-Limit"] == "5"
        assert limited.headers["RateLimit-Remaining"] == "0"
        assert int(limited.headers["RateLimit-Reset"]) > 0
        ok = await client.get("/api/campaigns", headers={"X-API-Key": second})
        assert ok.status_code == 200
        assert ok.headers["RateLimit-Remaining"] == "4"


async def test_130_concurrent_requests_with_one_key_give_exactly_100_successes(
    client: Any, auth: dict[str, str]
) -> None:
    responses = await asyncio.gather(
        *(client.get("/api/industries", headers=auth) for _ in range(130))
    )
    statuses = sorted(response.status_code for response in responses)
    assert statuses.count(200) == 100
    assert statuses.count(429) == 30


async def test_malformed_json_is_400(client: Any, auth: dict[str, str]) -> None:
    response = await client.post(
        "/api/campaigns/create",
        data=b'{"name": ',
        headers={**auth, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert (await response.get_json())["error"]["code"] == "bad_request"


async def test_wrong_content_type_is_415(client: Any, auth: dict[str, str]) -> None:
    response = await client.post(
        "/api/campaigns/create", data=b"name=x", headers={**auth, "Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    assert (await response.get_json())["error"]["code"] == "unsupported_media_type"


async def test_body_over_the_maximum_is_413(config: Any) -> None:
    from webapp import create_app
    from webapp.accounts.apikeys import create_key

    app = create_app(config.with_changes(max_upload_bytes=2048))
    async with app.test_app():
        async with app.extensions["tune"].db.write() as session:
            key = (await create_key(session, "big")).key
        client = app.test_client()
        response = await client.post(
            "/api/campaigns/create",
            data=b"x" * 4096,
            headers={"Content-Type": "application/json", "X-API-Key": key},
        )
        assert response.status_code == 413
        assert (await response.get_json())["error"]["code"] == "payload_too_large"


async def test_unknown_api_route_is_json_404_and_wrong_method_is_405(
    client: Any, auth: dict[str, str]
) -> None:
    response = await client.get("/api/nothing-here", headers=auth)
    assert response.status_code == 404
    assert (await response.get_json())["error"]["code"] == "not_found"
    response = await client.delete("/api/industries", headers=auth)
    assert response.status_code == 405
    assert (await response.get_json())["error"]["code"] == "method_not_allowed"


async def test_unexpected_error_is_a_json_500_without_a_trace(
    config: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from webapp import create_app

    app = create_app(config)

    @app.get("/api/explode")
    async def explode() -> Any:
        raise RuntimeError("secret internals at /srv/tune/db.py line 12")

    async with app.test_app():
        response = await app.test_client().get("/api/explode")
        body = await response.get_json()
    assert response.status_code == 500
    assert body["error"]["code"] == "internal_error"
    assert "secret internals" not in str(body)
    assert "Traceback" not in str(body)
    assert response.headers["X-Request-ID"] in body["error"]["message"]
    assert caplog.text.count("unhandled_error") == 1


async def test_cors_allows_only_configured_origins(config: Any, api_key: str) -> None:
    from webapp import create_app
    from webapp.accounts.apikeys import create_key

    app = create_app(config.with_changes(cors_origins=("https://crm.example.com",)))
    async with app.test_app():
        services: Services = app.extensions["tune"]
        async with services.db.write() as session:
            key = (await create_key(session, "cors")).key
        client = app.test_client()
        allowed = await client.get(
            "/api/campaigns", headers={"X-API-Key": key, "Origin": "https://crm.example.com"}
        )
        assert allowed.headers["Access-Control-Allow-Origin"] == "https://crm.example.com"
        denied = await client.get(
            "/api/campaigns", headers={"X-API-Key": key, "Origin": "https://evil.example"}
        )
        assert "Access-Control-Allow-Origin" not in denied.headers
        preflight = await client.options(
            "/api/campaigns",
            headers={"Origin": "https://crm.example.com", "Access-Control-Request-Method": "GET"},
        )
        assert preflight.status_code == 204
        assert "X-API-Key" in preflight.headers["Access-Control-Allow-Headers"]


async def test_default_config_allows_no_cross_origin_reads(
    client: Any, auth: dict[str, str]
) -> None:
    response = await client.get(
        "/api/campaigns", headers={**auth, "Origin": "https://crm.example.com"}
    )
    assert "Access-Control-Allow-Origin" not in response.headers


async def test_responses_carry_security_headers(client: Any) -> None:
    response = await client.get("/api/health")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Request-ID"]


async def test_campaign_counts_come_from_the_counters(
    client: Any, auth: dict[str, str], tune: Services
) -> None:
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
        first = await make_recipient(session, campaign)
        second = await make_recipient(session, campaign)
        pairs = [(first.id, first.contact_id), (second.id, second.contact_id)]
        campaign_id = campaign.id
    for content_id, contact_id in pairs:
        query = {"content_id": content_id, "contact_id": contact_id}
        await client.post("/api/tracking/email-opened", query_string=query, headers=auth)
        await client.post("/api/tracking/email-opened", query_string=query, headers=auth)
    await client.post(
        "/api/tracking/email-replied",
        query_string={"content_id": pairs[0][0], "contact_id": pairs[0][1]},
        headers=auth,
    )
    body = await (await client.get(f"/api/campaigns/{campaign_id}", headers=auth)).get_json()
    assert body["counts"]["opened"] == 2
    assert body["counts"]["replied"] == 1
    assert body["counts"]["prospects"] == 2
    assert body["counts"]["contents"] == 2


async def test_reply_marks_the_prospect_hot(
    client: Any, auth: dict[str, str], tune: Services, app: Quart
) -> None:
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
        prospect = await make_prospect(session, campaign, tier=2)
        contact = await make_contact(session, prospect)
        content = await make_content(session, contact)
        ids = {"content_id": content.id, "contact_id": contact.id}
        campaign_id = campaign.id
    await client.post("/api/tracking/email-replied", query_string=ids, headers=auth)
    body = await (
        await client.get(f"/api/campaigns/{campaign_id}/prospects/2", headers=auth)
    ).get_json()
    assert body["items"][0]["hot"] is True
    assert body["items"][0]["last_activity_at"] is not None
