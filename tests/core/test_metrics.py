"""`/metrics`: Prometheus text with every documented metric, pool gauges that follow
the real pool, pool wait and timeouts, route templates, and who may scrape."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from quart import Quart
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.support.factories import make_recipient
from webapp import create_app
from webapp.accounts.apikeys import create_key
from webapp.core.config import Config
from webapp.web.services import Services

LOOPBACK = {"client": ("127.0.0.1", 50000)}

DOCUMENTED = [
    "tune_db_pool_size",
    "tune_db_pool_checked_out",
    "tune_db_pool_overflow",
    "tune_db_pool_checked_in",
    "tune_db_pool_max",
    "tune_db_pool_wait_seconds",
    "tune_db_pool_timeouts",
    "tune_http_requests",
    "tune_http_request_duration_seconds",
    "tune_events",
    "tune_campaigns_created",
    "tune_prospects_analysed",
    "tune_emails_sent",
    "tune_sequence_steps",
    "tune_event_writer_queue_depth",
    "tune_event_writer_batch_size",
    "tune_event_writer_commit_seconds",
    "tune_rate_limited",
    "tune_smtp_circuit_state",
    "tune_build_info",
]


class Scrape:
    """One parsed scrape: sample values by name and labels."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.families = {family.name: family for family in text_string_to_metric_families(text)}

    def value(self, name: str, **labels: str) -> float:
        for family in self.families.values():
            for sample in family.samples:
                if sample.name == name and all(
                    sample.labels.get(k) == v for k, v in labels.items()
                ):
                    return float(sample.value)
        raise KeyError(f"{name}{labels} not in the scrape")

    def label_values(self, name: str, label: str) -> set[str]:
        return {
            sample.labels[label]
            for family in self.families.values()
            for sample in family.samples
            if sample.name == name and label in sample.labels
        }


async def scrape(app: Quart, **kwargs: Any) -> Scrape:
    response = await app.test_client().get("/metrics", scope_base=LOOPBACK, **kwargs)
    assert response.status_code == 200, await response.get_data(as_text=True)
    assert response.content_type.startswith("text/plain")
    return Scrape(await response.get_data(as_text=True))


@pytest.fixture
async def small_pool_app(config: Config) -> AsyncIterator[Quart]:
    """A pool of 2 connections and no overflow, so a test can exhaust it."""
    application = create_app(config.with_changes(db_pool_size=2, db_max_overflow=0))
    async with application.test_app():
        yield application


async def hold(tune: Services, count: int) -> list[AsyncConnection]:
    connections = [tune.db.engine.connect() for _ in range(count)]
    for connection in connections:
        await connection.start()
    return connections


async def test_metrics_parse_and_contain_every_documented_metric(app: Quart) -> None:
    result = await scrape(app)
    # HTTP series appear once a request has been counted: the scrape counts itself.
    result = await scrape(app)
    missing = [name for name in DOCUMENTED if name not in result.families]
    assert missing == []
    assert result.families["tune_db_pool_timeouts"].type == "counter"
    assert result.families["tune_db_pool_wait_seconds"].type == "histogram"
    assert result.families["tune_db_pool_checked_out"].type == "gauge"
    assert result.value("tune_build_info", version="0.1.0") == 1
    assert result.value("tune_events_total", kind="bounce", flagged="true") >= 0
    assert result.value("tune_prospects_analysed_total", tier="3") >= 0


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
async def test_promtool_accepts_the_exposition(app: Quart, auth: dict[str, str]) -> None:
    client = app.test_client()
    await client.get("/api/campaigns/1", headers=auth)
    text = (await scrape(app)).text
    checked = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


async def test_pool_gauges_follow_connections_held(app: Quart, tune: Services) -> None:
    before = await scrape(app)
    assert before.value("tune_db_pool_size") == 5
    assert before.value("tune_db_pool_max") == 15
    assert before.value("tune_db_pool_checked_out") == 0

    held = await hold(tune, 7)
    during = await scrape(app)
    assert during.value("tune_db_pool_checked_out") == 7
    assert during.value("tune_db_pool_worker_checked_out") == 7
    assert during.value("tune_db_pool_overflow") == 2  # 7 open on a pool of 5

    for connection in held:
        await connection.close()
    after = await scrape(app)
    assert after.value("tune_db_pool_checked_out") == 0
    assert after.value("tune_db_pool_checked_in") == 5  # the two overflow ones were closed
    assert after.value("tune_db_pool_overflow") == 0


async def test_a_request_waiting_for_a_connection_is_timed(small_pool_app: Quart) -> None:
    tune: Services = small_pool_app.extensions["tune"]
    async with tune.db.write() as session:
        key = (await create_key(session, "wait")).key
    before = await scrape(small_pool_app)
    held = await hold(tune, 2)
    request = asyncio.create_task(
        small_pool_app.test_client().get("/api/industries", headers={"X-API-Key": key})
    )
    # The request needs a moment to reach the pool; 0.6 s leaves it waiting at least 0.4 s.
    await asyncio.sleep(0.6)
    assert not request.done()  # it is waiting for a connection
    await held[0].close()
    response = await request
    await held[1].close()
    assert response.status_code == 200

    after = await scrape(small_pool_app)
    slow = after.value("tune_db_pool_wait_seconds_count") - after.value(
        "tune_db_pool_wait_seconds_bucket", le="0.25"
    )
    slow_before = before.value("tune_db_pool_wait_seconds_count") - before.value(
        "tune_db_pool_wait_seconds_bucket", le="0.25"
    )
    assert slow - slow_before == 1  # exactly the one request that waited
    waited = after.value("tune_db_pool_wait_seconds_sum") - before.value(
        "tune_db_pool_wait_seconds_sum"
    )
    assert waited >= 0.4


async def test_pool_timeouts_are_counted_and_answered_503(config: Config) -> None:
    application = create_app(
        config.with_changes(db_pool_size=1, db_max_overflow=0, db_pool_timeout=0.2)
    )
    async with application.test_app():
        tune: Services = application.extensions["tune"]
        async with tune.db.write() as session:
            key = (await create_key(session, "timeout")).key
        before = await scrape(application)
        held = await hold(tune, 1)
        response = await application.test_client().get(
            "/api/industries", headers={"X-API-Key": key}
        )
        for connection in held:
            await connection.close()
        assert response.status_code == 503
        assert (await response.get_json())["error"]["code"] == "service_unavailable"
        after = await scrape(application)
    timeouts = after.value("tune_db_pool_timeouts_total") - before.value(
        "tune_db_pool_timeouts_total"
    )
    assert timeouts == 1


async def test_route_labels_are_templates_not_paths(app: Quart, auth: dict[str, str]) -> None:
    client = app.test_client()
    assert (await client.get("/api/campaigns/98765", headers=auth)).status_code == 404
    assert (await client.get("/no/such/page/98765")).status_code == 404
    result = await scrape(app)
    routes = result.label_values("tune_http_requests_total", "route")
    assert "/api/campaigns/<int:campaign_id>" in routes
    assert "unmatched" in routes
    assert not [route for route in routes if "98765" in route]
    assert (
        result.value(
            "tune_http_requests_total",
            method="GET",
            route="/api/campaigns/<int:campaign_id>",
            status="404",
        )
        >= 1
    )
    assert "/api/campaigns/<int:campaign_id>" in result.label_values(
        "tune_http_request_duration_seconds_count", "route"
    )


async def test_business_and_writer_metrics_move(app: Quart, tune: Services, auth: Any) -> None:
    async with tune.db.write() as session:
        content = await make_recipient(session)
    before = await scrape(app)
    client = app.test_client()
    created = await client.post(
        "/api/campaigns/create?name=Hotels&industry=hospitality", headers=auth
    )
    assert created.status_code == 201
    tracked = await client.post(
        "/api/tracking/email-opened",
        headers=auth,
        json={"content_id": content.id, "contact_id": content.contact_id},
    )
    assert tracked.status_code == 200
    after = await scrape(app)

    def delta(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    assert delta("tune_campaigns_created_total") == 1
    assert delta("tune_events_total", kind="open", flagged="false") == 1
    assert delta("tune_event_writer_batch_size_count") == 1
    assert delta("tune_event_writer_commit_seconds_count") == 1


# Who may scrape -------------------------------------------------------------


async def status_from(app: Quart, client_ip: str, headers: dict[str, str] | None = None) -> int:
    response = await app.test_client().get(
        "/metrics", headers=headers or {}, scope_base={"client": (client_ip, 40000)}
    )
    return response.status_code


@pytest.fixture
async def proxied_app(config: Config) -> AsyncIterator[Quart]:
    application = create_app(config.with_changes(trusted_proxies=("127.0.0.1",)))
    async with application.test_app():
        yield application


async def test_metrics_answer_loopback_and_private_networks_only(app: Quart) -> None:
    assert await status_from(app, "127.0.0.1") == 200
    assert await status_from(app, "10.20.30.40") == 200
    assert await status_from(app, "192.168.1.7") == 200
    assert await status_from(app, "::1") == 200
    assert await status_from(app, "203.0.113.9") == 403
    assert await status_from(app, "2001:db8::1") == 403
    # Without TRUSTED_PROXIES, X-Forwarded-For cannot make a public client look private.
    assert await status_from(app, "203.0.113.9", {"X-Forwarded-For": "10.0.0.1"}) == 403
    response = await app.test_client().get("/metrics", scope_base={"client": ("198.51.100.2", 1)})
    assert (await response.get_json())["error"]["code"] == "forbidden"


async def test_behind_a_trusted_proxy_the_forwarded_client_decides(proxied_app: Quart) -> None:
    public = {"X-Forwarded-For": "203.0.113.9"}
    private = {"X-Forwarded-For": "10.1.2.3"}
    assert await status_from(proxied_app, "127.0.0.1", public) == 403
    assert await status_from(proxied_app, "127.0.0.1", private) == 200
    # A spoofed private hop before the real public client changes nothing.
    spoofed = {"X-Forwarded-For": "10.9.9.9, 203.0.113.9"}
    assert await status_from(proxied_app, "127.0.0.1", spoofed) == 403


async def test_metrics_token_guards_the_endpoint_when_set(config: Config) -> None:
    application = create_app(config.with_changes(metrics_token="scrape-token-0123456789"))
    async with application.test_app():
        assert await status_from(application, "127.0.0.1") == 401
        wrong = {"Authorization": "Bearer not-the-token"}
        assert await status_from(application, "127.0.0.1", wrong) == 401
        right = {"Authorization": "Bearer scrape-token-0123456789"}
        assert await status_from(application, "203.0.113.9", right) == 200


async def test_metrics_are_not_rate_limited(config: Config) -> None:
    application = create_app(config.with_changes(rate_limit="2/minute"))
    async with application.test_app():
        statuses = [await status_from(application, "127.0.0.1") for _ in range(6)]
    assert statuses == [200] * 6
