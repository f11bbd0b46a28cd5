"""The deliverability page and its partial, against a real knotd on loopback."""

from __future__ import annotations

import pytest
from quart.typing import TestClientProtocol as Client

from tests.support.dns import knot, silent_server  # noqa: F401  (knot: the session's DNS server)
from tests.support.signin import page
from webapp.core.config import Config
from webapp.web.services import Services

pytestmark = pytest.mark.slow


@pytest.fixture
def config(config: Config, knot: tuple[str, int]) -> Config:  # noqa: F811
    return config.with_changes(dns_nameservers=(knot,), dns_timeout=5.0)


async def test_the_page_is_in_the_navigation_and_empty_at_first(signed_in: Client) -> None:
    status, html = await page(signed_in, "/followups")
    assert 'href="/deliverability"' in html
    status, html = await page(signed_in, "/deliverability")
    assert status == 200
    assert 'name="domain"' in html and 'name="dkim_selector"' in html
    assert 'class="finding' not in html


async def test_a_report_explains_each_finding(signed_in: Client) -> None:
    status, html = await page(
        signed_in, "/deliverability?domain=nodmarc.deliverability.test&dkim_selector=mail"
    )
    assert status == 200
    assert "fix before sending" in html
    assert "No DMARC record at _dmarc.nodmarc.deliverability.test" in html
    assert "Gmail and Yahoo require one for bulk senders" in html
    assert 'value="nodmarc.deliverability.test"' in html  # the form keeps what was typed


async def test_htmx_gets_only_the_partial(signed_in: Client) -> None:
    response = await signed_in.get(
        "/deliverability?domain=good.deliverability.test&dkim_selector=mail",
        headers={"HX-Request": "true"},
    )
    html = await response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="deliverability-report"')
    assert "ready to send" in html and "RSA 2048 bits" in html
    assert "<html" not in html


async def test_htmx_gets_errors_inside_the_partial(signed_in: Client) -> None:
    """HTMX swaps only 2xx answers, so the partial carries the error with a 200."""
    response = await signed_in.get(
        "/deliverability?domain=not+a+domain", headers={"HX-Request": "true"}
    )
    html = await response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="deliverability-report"')
    assert 'role="alert"' in html and "is not a domain name" in html


async def test_a_bad_domain_is_shown_inline(signed_in: Client) -> None:
    status, html = await page(signed_in, "/deliverability?domain=%3Cscript%3E")
    assert status == 422
    assert 'role="alert"' in html and "is not a domain name" in html
    assert "<script>" not in html  # escaped
    assert 'aria-invalid="true"' in html


async def test_dns_not_answering_is_a_readable_503(signed_in: Client, tune: Services) -> None:
    with silent_server() as silent:
        tune.config = tune.config.with_changes(dns_nameservers=(silent,), dns_timeout=0.5)
        response = await signed_in.get("/deliverability?domain=good.deliverability.test")
    html = await response.get_data(as_text=True)
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert "did not answer within 0.5 s" in html


async def test_needs_a_signed_in_user(client: Client) -> None:
    response = await client.get("/deliverability?domain=good.deliverability.test")
    assert response.status_code in (302, 303)
