"""Real-browser tests: Playwright driving Debian's Chromium against a real `tune run`.

Skipped, with the reason, when Chromium or Playwright is missing (`.ci/run`
installs the `chromium` package). The server and page fixtures are in this
folder's conftest (`tests/support/browser.py`). Screenshots go to `test-artifacts/`.
"""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest

from tests.support.browser import API_KEY, campaign_through_api, sync_api
from tests.support.paths import ARTIFACTS
from tests.support.signin import sign_in_page

BROWSER_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0"
CSV = (
    "company,domain,email,first_name,last_name,title,employees,revenue,country\n"
    "Bellagio Resort,bellagio.example,ada@bellagio.example,Ada,King,Chief Executive Officer,"
    "8000,2000000000,United States\n"
    "Lucky Star Casino,luckystar.example,sam@luckystar.example,Sam,Lee,VP Marketing,900,"
    "90000000,United States\n"
    "Corner Shop,corner.example,bob@corner.example,Bob,Small,Clerk,3,50000,France\n"
    "Broken Row,broken.example,not-an-email,,,,,,\n"
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

playwright_api = sync_api()


def test_campaign_import_tiers_and_live_counter(
    server: str, browser_page: tuple[Any, list[str]]
) -> None:
    page, problems = browser_page
    expect = playwright_api.expect
    ARTIFACTS.mkdir(exist_ok=True)
    sign_in_page(page)

    # Create a campaign through the form.
    page.get_by_label("Name").fill("Browser <b>campaign</b>")
    page.get_by_label("Industry").select_option("casino")
    page.get_by_role("button", name="Create campaign").click()
    page.wait_for_url(re.compile(r".*/campaigns/\d+$"))
    campaign_id = int(page.url.rsplit("/", 1)[1])
    expect(page.get_by_role("heading", level=1)).to_have_text("Browser <b>campaign</b>")
    expect(page.get_by_text("No prospects yet — import a CSV.")).to_be_visible()

    # Import a CSV: progress, then the report with the rejected line, then the tiers.
    csv_path = ARTIFACTS / "browser-leads.csv"
    csv_path.write_text(CSV)
    page.get_by_label("CSV file").set_input_files(str(csv_path))
    page.get_by_role("button", name="Import", exact=True).click()
    report = page.locator(".import-report")
    expect(report).to_contain_text("finished", timeout=10_000)
    expect(report.locator('[data-report="created"]')).to_have_text("3")
    expect(report.locator('[data-report="rejected"]')).to_have_text("1")
    expect(report.locator("tbody tr").first).to_contain_text("5")
    for company in ("Bellagio Resort", "Lucky Star Casino", "Corner Shop"):
        expect(page.locator("#tiers").get_by_role("link", name=company)).to_be_visible()
    tier_headings = page.locator("#tiers h3")
    expect(tier_headings).to_have_count(3)
    expect(tier_headings.first).to_contain_text("Tier 1")

    # Emails are written through the API; take one pixel URL.
    with httpx.Client(base_url=server, headers={"X-API-Key": API_KEY}) as api:
        generated = api.post(f"/api/campaigns/{campaign_id}/contents/generate")
        assert generated.status_code == 200, generated.text
        contents = api.get(f"/api/campaigns/{campaign_id}/contents").json()["items"]
    pixel_url = contents[0]["pixel_url"]
    assert "/t/o/" in pixel_url

    # The live stream is open; an open fetched by another client shows without reload.
    expect(page.locator("[data-live]")).to_have_attribute("data-stream", "open", timeout=5000)
    opened = page.locator('[data-counter="opened"]')
    expect(opened).to_have_text("0")
    marker = page.evaluate("() => { window.__sameDocument = true; return true; }")
    assert marker
    pixel = httpx.get(
        pixel_url.replace("http://127.0.0.1", server.rsplit(":", 1)[0]),
        headers={"User-Agent": BROWSER_UA},
    )
    assert pixel.status_code == 200 and pixel.headers["Content-Type"] == "image/gif"
    started = time.monotonic()
    expect(opened).to_have_text("1", timeout=2000)
    assert time.monotonic() - started < 2.0
    assert page.evaluate("() => window.__sameDocument === true"), "the page was reloaded"
    expect(page.locator("#live-activity")).to_contain_text("Opened")
    page.screenshot(path=str(ARTIFACTS / "campaign-page.png"), full_page=True)

    # Search narrows the tiers in place.
    page.get_by_label("Search prospects").fill("lucky")
    expect(page.locator("#tiers").get_by_role("link", name="Lucky Star Casino")).to_be_visible()
    expect(page.locator("#tiers").get_by_role("link", name="Corner Shop")).to_have_count(0)

    # The prospect page: sandboxed preview and the timeline.
    page.locator("#live-activity a").first.click()
    page.wait_for_url(re.compile(r".*/prospects/\d+$"))
    expect(page.locator("iframe.preview").first).to_have_attribute("sandbox", "")
    expect(page.locator("table.timeline")).to_contain_text("Opened")
    page.screenshot(path=str(ARTIFACTS / "prospect-page.png"), full_page=True)

    # A phone-sized screen still shows the campaign page without sideways scrolling.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"/campaigns/{campaign_id}")
    expect(opened).to_have_text("1")
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390 + 1, f"page is {width}px wide on a 390px screen"
    page.screenshot(path=str(ARTIFACTS / "campaign-page-phone.png"), full_page=True)

    assert problems == []


def test_templates_preview_and_keys_page_work_in_the_browser(
    browser_page: tuple[Any, list[str]],
) -> None:
    page, problems = browser_page
    expect = playwright_api.expect
    sign_in_page(page)
    # A blank name is refused inline (the browser reports the 422 status in its console).
    page.get_by_role("button", name="Create campaign").click()
    expect(page.locator("#name-error")).to_have_text("name is required")
    assert [p for p in problems if "422" not in p] == []
    problems.clear()
    page.get_by_label("Name").fill("Templates")
    page.get_by_label("Industry").select_option("casino")
    page.get_by_role("button", name="Create campaign").click()
    page.wait_for_url(re.compile(r".*/campaigns/\d+$"))
    page.get_by_role("link", name="Email templates").click()
    page.wait_for_url("**/templates")
    subject = page.locator("#subject-1")
    subject.fill("Hello {{ contact.first_name }}!")
    expect(page.locator("#preview-1")).to_contain_text("Subject: Hello Jane!")
    page.locator("#html-1").fill("<p>ok</p>\n<p>{{ contact.first_name }</p>")
    expect(page.locator("#preview-1 [role=alert]")).to_contain_text("Line 2")
    page.screenshot(path=str(ARTIFACTS / "templates-page.png"), full_page=True)

    page.get_by_role("link", name="API keys").click()
    page.get_by_label("What is it for?").fill("browser key")
    page.get_by_role("button", name="Create key").click()
    expect(page.locator("#new-key")).to_contain_text("tune_")
    # Revoking asks first, naming the key; dismissed, nothing happens.
    asked: list[str] = []

    def answer(dialog: Any, accept: bool) -> None:
        asked.append(dialog.message)
        (dialog.accept if accept else dialog.dismiss)()

    page.once("dialog", lambda dialog: answer(dialog, accept=False))
    page.get_by_role("button", name=re.compile("Revoke key .*browser key")).click()
    expect(page.get_by_role("button", name=re.compile("Revoke key .*browser key"))).to_be_visible()
    page.once("dialog", lambda dialog: answer(dialog, accept=True))
    page.get_by_role("button", name=re.compile("Revoke key .*browser key")).click()
    expect(page.locator("tbody")).to_contain_text("revoked")
    assert len(asked) == 2 and "browser key" in asked[0] and "tune_" in asked[0]

    # Keyboard: on a freshly loaded page the skip link is the first stop and leads to the
    # content (after the swap above, Tab would go on from where the revoked key's button was).
    page.goto("/keys")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.textContent") == "Skip to content"
    assert problems == []


def test_follow_up_page_shows_a_reply_arriving_through_the_api_live(
    server: str, browser_page: tuple[Any, list[str]]
) -> None:
    page, problems = browser_page
    expect = playwright_api.expect
    ARTIFACTS.mkdir(exist_ok=True)
    sign_in_page(page, to_campaigns=False)  # "Follow up today" is the first page after sign-in
    expect(page.get_by_role("heading", level=1)).to_have_text("Follow up today")
    expect(page.locator("#live-followups")).to_contain_text("Nobody to follow up")
    expect(page.locator("[data-live]")).to_have_attribute("data-stream", "open", timeout=5000)
    page.evaluate("() => { window.__sameDocument = true; }")

    campaign_id, prospects = campaign_through_api(server, "Replies", CSV)
    content = prospects["Lucky Star Casino"]["content"]
    with httpx.Client(base_url=server, headers={"X-API-Key": API_KEY}) as api:
        started = time.monotonic()
        replied = api.post(
            "/api/tracking/email-replied",
            json={"content_id": content["id"], "contact_id": content["contact_id"]},
        )
        assert replied.status_code == 200, replied.text
        item = page.locator(".followup", has_text="Lucky Star Casino")
        expect(item).to_contain_text("Replied", timeout=3000)
        assert time.monotonic() - started < 3.0
        assert page.evaluate("() => window.__sameDocument === true"), "the page was reloaded"
        expect(item.locator(".badge.hot")).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "followups-page.png"), full_page=True)

        # An outcome from the list: off the list, on the timeline, in the stats.
        item.get_by_role("button", name="Meeting booked").click()
        expect(page.locator(".followup", has_text="Lucky Star Casino")).to_have_count(0)
        stats = api.get(f"/api/campaigns/{campaign_id}/stats").json()["total"]
        assert (stats["replied"], stats["meetings"]) == (1, 1)

    # The campaign page has the same list in its panel (empty now), on a phone too.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"/campaigns/{campaign_id}")
    expect(page.locator("#live-followups")).to_contain_text("Nobody to follow up")
    page.goto("/followups")
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390 + 1, f"page is {width}px wide on a 390px screen"
    assert problems == []
