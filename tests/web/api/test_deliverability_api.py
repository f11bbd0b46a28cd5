"""`GET /api/deliverability` against a real knotd on loopback: the report, its errors, limits."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.dns import knot, silent_server  # noqa: F401  (knot: the session's DNS server)
from webapp.core.config import Config

pytestmark = pytest.mark.slow


@pytest.fixture
def config(config: Config, knot: tuple[str, int]) -> Config:  # noqa: F811
    return config.with_changes(dns_nameservers=(knot,), dns_timeout=5.0, rate_limit="6/minute")


async def test_the_report_of_a_good_domain(client: Any, auth: dict[str, str]) -> None:
    response = await client.get(
        "/api/deliverability?domain=good.deliverability.test&dkim_selector=mail", headers=auth
    )
    assert response.status_code == 200
    body = await response.get_json()
    assert body["domain"] == "good.deliverability.test"
    assert body["severity"] == "ok"
    assert body["spf"]["lookups"] == 1
    assert body["dkim"]["key_bits"] == 2048
    assert body["dmarc"]["policy"] == "reject"
    assert all(finding["severity"] == "ok" for finding in body["findings"])


async def test_missing_dmarc_is_explained(client: Any, auth: dict[str, str]) -> None:
    response = await client.get(
        "/api/deliverability?domain=nodmarc.deliverability.test", headers=auth
    )
    body = await response.get_json()
    assert response.status_code == 200
    assert body["severity"] == "problem"
    assert body["dmarc"]["record"] is None
    first = body["findings"][0]
    assert first["severity"] == "problem" and first["check"] == "dmarc"
    assert "Gmail and Yahoo require one for bulk senders" in first["message"]


@pytest.mark.parametrize("domain", ["", "not a domain", "-bad-.com", "a" * 300])
async def test_a_bad_domain_is_a_422_naming_domain(
    client: Any, auth: dict[str, str], domain: str
) -> None:
    response = await client.get(
        "/api/deliverability", query_string={"domain": domain}, headers=auth
    )
    assert response.status_code == 422
    body = await response.get_json()
    assert body["error"]["code"] == "validation_error"
    assert body["error"]["field"] == "domain"


async def test_no_domain_is_a_422(client: Any, auth: dict[str, str]) -> None:
    response = await client.get("/api/deliverability", headers=auth)
    assert response.status_code == 422
    assert (await response.get_json())["error"]["field"] == "domain"


async def test_a_bad_selector_is_a_422(client: Any, auth: dict[str, str]) -> None:
    response = await client.get(
        "/api/deliverability",
        query_string={"domain": "good.deliverability.test", "dkim_selector": "no/pe"},
        headers=auth,
    )
    assert response.status_code == 422
    assert (await response.get_json())["error"]["field"] == "dkim_selector"


async def test_an_unknown_domain_is_a_report_not_an_error(
    client: Any, auth: dict[str, str]
) -> None:
    response = await client.get(
        "/api/deliverability?domain=missing.deliverability.test", headers=auth
    )
    assert response.status_code == 200
    body = await response.get_json()
    assert body["exists"] is False
    assert "does not exist in DNS" in body["findings"][0]["message"]


async def test_needs_a_key(client: Any) -> None:
    response = await client.get("/api/deliverability?domain=good.deliverability.test")
    assert response.status_code == 401


async def test_is_rate_limited_per_key(client: Any, auth: dict[str, str]) -> None:
    statuses = [
        (await client.get("/api/deliverability?domain=good.deliverability.test", headers=auth))
        for _ in range(7)
    ]
    assert [response.status_code for response in statuses] == [200] * 6 + [429]
    assert "Retry-After" in statuses[-1].headers


async def test_a_dns_server_that_does_not_answer_is_a_503_to_retry(
    app: Any, client: Any, auth: dict[str, str]
) -> None:
    tune = app.extensions["tune"]
    with silent_server() as silent:
        tune.config = tune.config.with_changes(dns_nameservers=(silent,), dns_timeout=0.5)
        response = await client.get(
            "/api/deliverability?domain=good.deliverability.test", headers=auth
        )
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    body = await response.get_json()
    assert body["error"]["code"] == "service_unavailable"
    assert "did not answer" in body["error"]["message"]
