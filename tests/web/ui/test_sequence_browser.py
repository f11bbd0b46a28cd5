"""The sequence panel and the step template editor in a real browser (Playwright, Chromium)
against a real `tune run`: HTMX swaps under the strict CSP, no console errors."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.support.browser import sync_api
from tests.support.paths import ARTIFACTS
from tests.support.signin import sign_in_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]

playwright_api = sync_api()


def test_adding_a_follow_up_and_previewing_its_thread(
    server: str,
    browser_page: tuple[Any, list[str]],
) -> None:
    page, problems = browser_page
    expect = playwright_api.expect
    ARTIFACTS.mkdir(exist_ok=True)
    sign_in_page(page)
    page.get_by_label("Name").fill("Sequence campaign")
    page.get_by_label("Industry").select_option("casino")
    page.get_by_role("button", name="Create campaign").click()
    page.wait_for_url(re.compile(r".*/campaigns/\d+$"))
    url = page.url

    page.get_by_label("Follow up after").fill("P2D")
    page.get_by_label("Send if").last.select_option("opened_no_reply")
    page.get_by_role("button", name="Add a follow-up").click()
    expect(page.get_by_text("Follow-up added.")).to_be_visible()
    assert page.url == url, "the panel is swapped in place"
    expect(page.locator('[data-step="2"] h3')).to_contain_text("after P2D · opened, no reply")

    page.get_by_label("Follow up after").fill("soon")
    page.get_by_role("button", name="Add a follow-up").click()
    expect(page.get_by_role("alert")).to_contain_text("is not an ISO 8601 duration")

    page.locator('[data-step="2"]').get_by_role("link", name="templates").click()
    page.wait_for_url(re.compile(r".*/steps/2/templates$"))
    page.locator("#html-all").fill("<p>Still keen, {{ contact.first_name }}?</p>")
    preview = page.locator("#preview-all")
    expect(preview).to_contain_text("Step 2 · Subject: Re: ")
    expect(preview).to_contain_text("Step 1 · Subject:")
    page.get_by_role("button", name="Save all-tier template").click()
    expect(page.get_by_text("Saved. New step 2 emails use this template.")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "step-templates.png"), full_page=True)
    assert [p for p in problems if "422" not in p] == []
