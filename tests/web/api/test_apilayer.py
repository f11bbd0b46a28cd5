"""The API's fast path (`webapp/web/apilayer.py`) against the Quart routes it stands in for.

Every answer it gives must be the Quart route's: the same status, body bytes and
headers, the same rate-limit count and log line. Tests that take `client` run
through Quart's test client and through the ASGI entry point a server calls.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from quart import Quart
from sqlalchemy import event, func, select

from tests.support.apipaths import alike, both, keys_kept, limited_at_the_sixth, through_layer
from tests.support.asgiclient import AsgiClient
from tests.support.factories import make_campaign, make_recipient
from tests.support.requestlog import logged_and_counted
from tests.support.servers import serve, tune_env
from tests.web.test_ratelimit import SMALL_POOL, create_key
from webapp.accounts.apikeys import create_key as store_key
from webapp.accounts.apikeys import revoke_key
from webapp.campaigns.status import FINISHED_AFTER_DAYS
from webapp.core.models import ApiKey, Event, utcnow
from webapp.web.services import Services


@pytest.fixture(params=["quart", "asgi"])
def client(request: pytest.FixtureRequest, app: Quart) -> Any:
    return app.test_client() if request.param == "quart" else AsgiClient(app)


async def test_stats_read_is_answered_by_the_layer_with_the_quart_routes_bytes(
    app: Quart, tune: Services, auth: dict[str, str]
) -> None:
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
        content = await make_recipient(session, campaign)
        ids = f"content_id={content.id}&contact_id={content.contact_id}"
        campaign_id = campaign.id
    await AsgiClient(app).post(f"/api/tracking/email-opened?{ids}", headers=auth)
    status, body, _ = await alike(app, f"/api/campaigns/{campaign_id}/stats", auth)
    assert status == 200
    assert b'"opened":{"unique":1,"total":1,"machine":0}' in body


async def test_unknown_campaign_is_the_same_json_404(
    app: Quart, tune: Services, auth: dict[str, str]
) -> None:
    quart, asgi = await both(app, "GET", "/api/campaigns/999/stats", auth)
    assert quart == asgi
    assert quart[0] == 404
    for path in ("/api/campaigns/99999999999/stats", "/api/campaigns/007/stats"):
        quart, asgi = await both(app, "GET", path, auth)
        assert quart == asgi


async def test_campaign_read_is_answered_by_the_layer_with_the_quart_routes_bytes(
    app: Quart, tune: Services, auth: dict[str, str]
) -> None:
    async with tune.db.write() as session:
        campaign = await make_campaign(session, "Spring — ünïcode")
        content = await make_recipient(session, campaign, send_status="sent", sent_at=utcnow())
        await make_recipient(session, campaign, send_status="queued")
        ids = f"content_id={content.id}&contact_id={content.contact_id}"
        campaign_id = campaign.id
    await AsgiClient(app).post(f"/api/tracking/email-opened?{ids}", headers=auth)
    status, raw, _ = await alike(app, f"/api/campaigns/{campaign_id}", auth)
    assert status == 200
    body = json.loads(raw)
    assert body["status"] == "sending"
    assert body["counts"] == {
        "prospects": 2,
        "contacts": 2,
        "contents": 2,
        "sent": 0,  # the engagement counters count what the sender recorded
        "opened": 1,
        "clicked": 0,
        "replied": 0,
        "meetings": 0,
        "unsubscribed": 0,
        "bounced": 0,
    }


async def test_a_campaign_sent_weeks_ago_is_finished_on_both_paths(
    app: Quart, tune: Services, auth: dict[str, str]
) -> None:
    """The one status that still asks the follow-up list: answered by the layer all the same."""
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
        old = utcnow() - timedelta(days=FINISHED_AFTER_DAYS + 1)
        await make_recipient(session, campaign, send_status="sent", sent_at=old)
    _, body, _ = await alike(app, f"/api/campaigns/{campaign.id}", auth)
    assert json.loads(body)["status"] == "finished"


async def test_unknown_campaign_read_is_the_same_json_404(
    app: Quart, tune: Services, auth: dict[str, str]
) -> None:
    status, body, _ = await alike(app, "/api/campaigns/999", auth)
    assert status == 404
    assert json.loads(body)["error"]["code"] == "not_found"
    for path in ("/api/campaigns/99999999999", "/api/campaigns/007", "/api/campaigns/1x"):
        await alike(app, path, auth, in_front=False)  # anything unusual is Quart's


async def test_tracked_event_is_answered_by_the_layer_and_stored(
    app: Quart, tune: Services, auth: dict[str, str]
) -> None:
    async with tune.db.write() as session:
        content = await make_recipient(session)
        ids = f"content_id={content.id}&contact_id={content.contact_id}"
    quart, asgi = await both(app, "POST", f"/api/tracking/email-clicked?{ids}", auth)
    assert quart == asgi
    assert quart[:2] == (200, b'{"status":"tracked"}\n')
    response, fell = await through_layer(app, "POST", f"/api/tracking/email-opened?{ids}", auth)
    assert response.status_code == 200
    assert fell == []
    async with tune.db.read() as session:
        assert (
            await session.scalar(select(func.count()).select_from(Event)) == 4
        )  # 2 clicks, 2 opens


async def test_tracked_event_errors_are_the_same_on_both_paths(
    app: Quart, tune: Services, auth: dict[str, str]
) -> None:
    async with tune.db.write() as session:
        first = await make_recipient(session)
        second = await make_recipient(session)
    for query in (
        f"content_id={first.id}&contact_id={second.contact_id}",  # not a pair: 404
        "content_id=x&contact_id=1",  # 422 naming the field
        "content_id=1",
    ):
        quart, asgi = await both(app, "POST", f"/api/tracking/email-opened?{query}", auth)
        assert quart == asgi
        assert quart[0] in (404, 422)
    async with tune.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Event)) == 0


READS = pytest.mark.parametrize("suffix", ["/stats", ""], ids=["stats", "campaign"])


@READS
async def test_rate_limit_counts_each_hit_once_on_either_path(config: Any, suffix: str) -> None:
    responses = await limited_at_the_sixth(config, "/api/campaigns/{campaign}" + suffix)
    assert (await responses[-1].get_json())["error"]["code"] == "rate_limited"
    assert 0 < int(responses[-2].headers["RateLimit-Reset"]) <= 60


async def test_a_revoked_key_is_refused_on_the_next_request(
    client: Any, auth: dict[str, str], tune: Services
) -> None:
    await keys_kept(tune)
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
    path = f"/api/campaigns/{campaign.id}/stats"
    assert (await client.get(path, headers=auth)).status_code == 200
    assert (await client.get(path, headers=auth)).status_code == 200
    async with tune.db.write() as session:
        await revoke_key(session, 1)
    response = await client.get(path, headers=auth)
    assert response.status_code == 401
    assert (await response.get_json())["error"]["code"] == "unauthorized"


@READS
async def test_each_request_logs_one_line_with_its_route_and_key(
    client: Any,
    auth: dict[str, str],
    tune: Services,
    caplog: pytest.LogCaptureFixture,
    suffix: str,
) -> None:
    await keys_kept(tune)
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
    path = f"/api/campaigns/{campaign.id}{suffix}"
    await client.get(path, headers=auth)
    route = f"/api/campaigns/<int:campaign_id>{suffix}"
    line = await logged_and_counted(client, path, auth, route, caplog)
    assert "'key_id': 1" in line or '"key_id": 1' in line
    assert auth["X-API-Key"] not in caplog.text


@READS
async def test_cors_headers_for_allowed_origins_only(config: Any, suffix: str) -> None:
    from webapp import create_app

    app = create_app(config.with_changes(cors_origins=("https://crm.example",)))
    async with app.test_app():
        services: Services = app.extensions["tune"]
        async with services.db.write() as session:
            key = (await store_key(session, "a")).key
            campaign = await make_campaign(session)
        path = f"/api/campaigns/{campaign.id}{suffix}"
        for origin in ("https://crm.example", "https://evil.example"):
            headers = {"X-API-Key": key, "Origin": origin}
            quart, asgi = await both(app, "GET", path, headers)
            assert quart == asgi
            allowed = quart[2].get("access-control-allow-origin")
            assert allowed == (origin if origin == "https://crm.example" else None)


def test_130_concurrent_stats_reads_to_a_real_server_give_100_and_30(
    database_url: str, tmp_path: Path
) -> None:
    """The layer answers most of them (the key is cached after the first), Quart the rest."""
    env = tune_env(database_url, tmp_path, **SMALL_POOL)
    key = create_key(env, tmp_path)
    with serve(env, tmp_path) as base:
        statuses = asyncio.run(reads(base, key))
    assert statuses[0] == 201  # the campaign's creation counts too
    assert statuses.count(200) == 99
    assert statuses.count(429) == 30


async def reads(base: str, key: str) -> list[int]:
    import httpx

    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=200)) as client:
        headers = {"X-API-Key": key}
        created = await client.post(
            f"{base}/api/campaigns/create?name=Spring&industry=casino", headers=headers
        )
        path = f"{base}/api/campaigns/{created.json()['id']}/stats"
        responses = await asyncio.gather(*(client.get(path, headers=headers) for _ in range(129)))
    return [created.status_code] + [response.status_code for response in responses]


async def test_keys_are_read_from_the_headers_as_quart_reads_them(
    app: Quart, tune: Services, api_key: str
) -> None:
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
    path = f"/api/campaigns/{campaign.id}/stats"
    await AsgiClient(app).get(path, headers={"X-API-Key": api_key})  # cached from here on
    for headers, status in (
        ({"Authorization": f"Bearer {api_key}"}, 200),
        ({"X-API-Key": f"  {api_key} "}, 200),
        ({"X-API-Key": " ", "Authorization": f"Bearer {api_key}"}, 401),  # X-API-Key wins
        ({"Authorization": f"Basic {api_key}"}, 401),
    ):
        response = await AsgiClient(app).get(path, headers=headers)
        assert response.status_code == status, headers


async def test_a_keys_last_use_is_written_once_however_many_requests_arrive_together(
    app: Quart, tune: Services
) -> None:
    async with tune.db.write() as session:
        key = (await store_key(session, "busy")).key
    writes: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE API_KEYS"):
            writes.append(statement)

    sync_engine = tune.db.engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", count)
    try:
        client = AsgiClient(app)
        answers = await asyncio.gather(
            *(client.get("/api/industries", headers={"X-API-Key": key}) for _ in range(20))
        )
    finally:
        event.remove(sync_engine, "before_cursor_execute", count)
    assert [a.status_code for a in answers] == [200] * 20
    assert len(writes) == 1  # not one write (and one wait for the write lock) per request
    async with tune.db.read() as session:
        used = await session.scalar(select(ApiKey.last_used_at).where(ApiKey.name == "busy"))
    assert used is not None
