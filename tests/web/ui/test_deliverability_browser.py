"""The Deliverability page in Chromium: type a domain, the report swaps in (HTMX, strict CSP)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.dns import knot  # noqa: F401  (the session's DNS server)
from tests.support.servers import run_cli, serve, tune_env
from tests.web.ui.test_browser import (
    CHROMIUM,
    EMAIL,
    LAUNCH_ARGS,
    PASSWORD,
    playwright_api,
    sign_in,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def dns_server_page(tmp_path: Path, knot: tuple[str, int]) -> Iterator[tuple[Any, list[str]]]:  # noqa: F811
    address, port = knot
    env = tune_env(
        f"sqlite+aiosqlite:///{tmp_path / 'tune.db'}",
        tmp_path,
        DNS_NAMESERVERS=f"{address}:{port}",
    )
    assert run_cli(["db", "upgrade"], env, tmp_path).returncode == 0
    created = run_cli(["users", "create", EMAIL], env, tmp_path, stdin=PASSWORD + "\n")
    assert created.returncode == 0, created.stderr
    with serve(env, tmp_path) as base, playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        context = browser.new_context(base_url=base)
        page = context.new_page()
        problems: list[str] = []
        page.on(
            "console",
            lambda message: (
                problems.append(f"console {message.type}: {message.text}")
                if message.type in ("error", "warning")
                else None
            ),
        )
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        try:
            yield page, problems
        finally:
            context.close()
            browser.close()


def test_checking_a_domain_in_the_browser(dns_server_page: tuple[Any, list[str]]) -> None:
    page, problems = dns_server_page
    expect = playwright_api.expect
    sign_in(page, to_campaigns=False)
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
