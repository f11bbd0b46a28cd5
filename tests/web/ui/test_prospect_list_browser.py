"""The rep's prospect list and the trust details in a real browser (Debian's Chromium).

A reply arriving through the API moves the prospect to the top of its open tier list
with its Hot badge, without a reload; filters and sorts live in the URL; reloading
after a form sends nothing again; no page scrolls sideways on a phone or a laptop.
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

pytestmark = [pytest.mark.browser, pytest.mark.slow]

playwright_api = sync_api()

# Four casinos of about the same size: one tier between them.
CSV = (
    "company,domain,email,first_name,last_name,title,employees,revenue,country,industry\n"
    "Alpha Casino,alpha.example,ann@alpha.example,Ann,Lee,CEO,8000,2000000000,US,Casino\n"
    "Bravo Casino,bravo.example,bob@bravo.example,Bob,Ray,CEO,7000,1900000000,US,Casino\n"
    "Choice Hotels,choice.example,cat@choice.example,Cat,Poe,CEO,6000,1800000000,US,Hotels\n"
    "Delta Casino,delta.example,dan@delta.example,Dan,Fox,CEO,5000,1700000000,US,Casino\n"
)


def test_a_reply_moves_the_prospect_to_the_top_of_the_open_list_and_filters_live_in_the_url(
    server: str, browser_page: tuple[Any, list[str]]
) -> None:
    page, problems = browser_page
    expect = playwright_api.expect
    ARTIFACTS.mkdir(exist_ok=True)
    campaign_id, prospects = campaign_through_api(server, "Live list", CSV)
    tiers = {item["tier"] for item in prospects.values()}
    assert len(tiers) == 1, f"the four should share a tier: {prospects}"
    tier = tiers.pop()
    sign_in_page(page)
    page.goto(f"/campaigns/{campaign_id}")
    rows = page.locator(f"#tier-{tier} tbody tr[data-prospect]")
    expect(rows).to_have_count(4)
    # Nobody has done anything yet: by score, so the lowest score is last.
    last = rows.nth(3).locator("th a").inner_text()
    assert prospects[last]["score"] == min(item["score"] for item in prospects.values())
    expect(page.locator("[data-live]")).to_have_attribute("data-stream", "open", timeout=5000)
    page.evaluate("() => { window.__sameDocument = true; }")

    started = time.monotonic()
    with httpx.Client(base_url=server, headers={"X-API-Key": API_KEY}) as api:
        content = prospects[last]["content"]
        replied = api.post(
            "/api/tracking/email-replied",
            json={"content_id": content["id"], "contact_id": content["contact_id"]},
        )
        assert replied.status_code == 200, replied.text
    top = rows.first
    expect(top.locator("th a")).to_have_text(last, timeout=4000)
    assert time.monotonic() - started < 4.0
    expect(top.locator(".badge.hot")).to_be_visible()
    # Its last activity is a time the page script made relative and local.
    activity = top.locator("time[data-relative]")
    expect(activity).to_have_text(re.compile(r"just now|now|sec|min"))
    assert activity.get_attribute("title")
    assert page.evaluate("() => window.__sameDocument === true"), "the page was reloaded"
    expect(top.locator(".top-reasons li").first).to_contain_text("+")
    expect(page.locator(f"#tier-{tier} tbody").get_by_text("Hotels", exact=True)).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "prospect-list-live.png"), full_page=True)

    # Filters and sorts go into the URL, which reloads to the same list.
    page.get_by_label("Show").select_option("replied")
    page.wait_for_url(re.compile(r".*filter=replied.*"))
    expect(rows).to_have_count(1)
    expect(page.locator(f"#tier-{tier} h3")).to_contain_text("1 of 4 prospects match")
    page.get_by_label("Sort by").select_option("name")
    page.wait_for_url(re.compile(r".*sort=name.*"))
    page.reload()
    expect(page.get_by_label("Show")).to_have_value("replied")
    expect(page.get_by_label("Sort by")).to_have_value("name")
    expect(rows).to_have_count(1)
    page.get_by_label("Show").select_option("")
    expect(rows).to_have_count(4)
    names = [rows.nth(i).locator("th a").inner_text() for i in range(4)]
    assert names == ["Alpha Casino", "Bravo Casino", "Choice Hotels", "Delta Casino"]
    # Search counts agree with what is listed.
    page.get_by_label("Search prospects").fill("casino")
    expect(rows).to_have_count(3)
    expect(page.locator(f"#tier-{tier} h3")).to_contain_text("3 of 4 prospects match")
    assert problems == []


def test_reloading_after_creating_a_key_or_saving_a_template_sends_nothing_again(
    server: str, browser_page: tuple[Any, list[str]]
) -> None:
    page, problems = browser_page
    expect = playwright_api.expect
    posts: list[str] = []
    page.on(
        "request", lambda request: posts.append(request.url) if request.method == "POST" else None
    )
    sign_in_page(page)
    page.get_by_role("link", name="API keys").click()
    page.get_by_label("What is it for?").fill("reload check")
    page.get_by_role("button", name="Create key").click()
    expect(page.locator("#new-key")).to_contain_text("tune_")
    assert page.url.endswith("/keys")
    posts.clear()
    page.reload()
    assert posts == [], f"the reload posted again: {posts}"
    expect(page.locator("#new-key")).to_have_count(0)  # shown once
    expect(page.locator("tbody tr", has_text="reload check")).to_have_count(1)

    with httpx.Client(base_url=server, headers={"X-API-Key": API_KEY}) as api:
        campaign_id = api.post(
            "/api/campaigns/create", json={"name": "Templates", "industry": "casino"}
        ).json()["id"]
    page.goto(f"/campaigns/{campaign_id}/templates")
    page.locator("#subject-1").fill("Hello {{ prospect.name|possessive }} team")
    page.get_by_role("button", name="Save tier 1 template").click()
    page.wait_for_url(re.compile(r".*/templates\?saved=1.*"))
    expect(page.get_by_role("status").first).to_contain_text("Saved")
    posts.clear()
    page.reload()
    assert posts == [], f"the reload posted again: {posts}"
    expect(page.locator("#subject-1")).to_have_value("Hello {{ prospect.name|possessive }} team")
    assert problems == []


@pytest.mark.parametrize(("width", "height"), [(390, 844), (1280, 800)])
def test_no_page_scrolls_sideways_on_a_phone_or_a_laptop(
    server: str, browser_page: tuple[Any, list[str]], width: int, height: int
) -> None:
    page, problems = browser_page
    ARTIFACTS.mkdir(exist_ok=True)
    campaign_id, prospects = campaign_through_api(server, "Live list", CSV)
    with httpx.Client(base_url=server, headers={"X-API-Key": API_KEY}) as api:
        content = prospects["Choice Hotels"]["content"]
        api.post(
            "/api/tracking/email-replied",
            json={"content_id": content["id"], "contact_id": content["contact_id"]},
        )
        endpoint = api.post(
            "/api/webhooks", json={"url": "https://example.com/hook", "events": ["reply"]}
        )
    prospect_id = prospects["Choice Hotels"]["id"]
    sign_in_page(page, to_campaigns=False)
    page.set_viewport_size({"width": width, "height": height})
    paths = [
        "/followups",
        "/campaigns",
        f"/campaigns/{campaign_id}",
        f"/campaigns/{campaign_id}?filter=replied&sort=name",
        f"/prospects/{prospect_id}",
        f"/campaigns/{campaign_id}/templates",
        f"/campaigns/{campaign_id}/replies",
        f"/campaigns/{campaign_id}/send/review?tier=1",
        "/keys",
        "/webhooks",
        "/mailboxes",
    ]
    if endpoint.status_code == 201:
        paths.append(f"/webhooks/{endpoint.json()['id']}")
    wide: list[str] = []
    for path in paths:
        page.goto(path)
        page.wait_for_load_state("networkidle")
        scroll = page.evaluate("() => document.documentElement.scrollWidth")
        name = re.sub(r"[^a-z0-9]+", "-", path.strip("/").lower()) or "home"
        page.screenshot(path=str(ARTIFACTS / f"width-{width}-{name}.png"), full_page=True)
        if scroll > width + 1:
            wide.append(f"{path}: {scroll}px")
    assert wide == [], f"pages wider than the {width}px screen: {wide}"
    # The chart's axis text is readable: at least 10 px tall as drawn.
    page.goto(f"/campaigns/{campaign_id}")
    heights = page.evaluate(
        """() => [...document.querySelectorAll('svg.chart text.tick')]
            .filter((t) => t.getClientRects().length)
            .map((t) => t.getBoundingClientRect().height)"""
    )
    assert heights and min(heights) >= 10, heights
    assert problems == []
