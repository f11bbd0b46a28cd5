"""The Deliverability page in Chromium: type a domain, the report swaps in (HTMX, strict CSP)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import serve_with_user, sync_api
from tests.support.dns import knot  # noqa: F401  (the session's DNS server)
from tests.support.signin import sign_in_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]

playwright_api = sync_api()


@pytest.fixture
def server(tmp_path: Path, knot: tuple[str, int]) -> Iterator[str]:  # noqa: F811
    """`tune run` with the rep's account, asking the session's DNS server."""
    address, port = knot
    with serve_with_user(tmp_path, DNS_NAMESERVERS=f"{address}:{port}") as base:
        yield base


def test_checking_a_domain_in_the_browser(browser_page: tuple[Any, list[str]]) -> None:
    page, problems = browser_page
    expect = playwright_api.expect
    sign_in_page(page, to_campaigns=False)
    page.get_by_role("link", name="Deliverability").click()
    page.wait_for_url("**/deliverability")
    page.get_by_role("textbox", name="Domain").fill("nodmarc.deliverability.test")
    page.get_by_role("textbox", name="DKIM selector").fill("mail")
    page.get_by_role("button", name="Check").click()
    report = page.locator("#deliverability-report")
    expect(report).to_contain_text("fix before sending")
    expect(report).to_contain_text("Gmail and Yahoo require one for bulk senders")
    page.wait_for_url("**/deliverability?domain=nodmarc.deliverability.test&dkim_selector=mail")
    page.get_by_role("textbox", name="Domain").fill("not a domain")
    page.get_by_role("button", name="Check").click()
    expect(page.get_by_role("alert")).to_contain_text("is not a domain name")
    assert problems == []
