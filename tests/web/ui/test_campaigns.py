"""The campaign list, a campaign page with its tiers, and a prospect page."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client
from sqlalchemy import select

from tests.support.dashboard import BROWSER, seed
from tests.support.factories import make_campaign, make_contact, make_content, make_prospect
from tests.support.signin import page, post_form
from webapp.core.models import CampaignCounter, Link, utcnow
from webapp.prospects.scoring.profile import load_profile
from webapp.tracking.events import ClickEvent, OpenEvent, ReplyEvent
from webapp.web.pagination import encode_cursor
from webapp.web.services import Services


async def test_campaign_list_empty_state_says_what_to_do(signed_in: Client) -> None:
    status, html = await page(signed_in, "/campaigns")
    assert status == 200
    assert "No campaigns yet." in html
    assert '<label for="name">Name</label>' in html
    assert '<option value="casino">' in html


async def test_create_campaign_from_the_form(signed_in: Client) -> None:
    response = await post_form(
        signed_in, "/campaigns", {"name": "Spring hotels", "industry": "hospitality"}
    )
    assert response.status_code == 303
    location = response.headers["Location"]
    assert re.fullmatch(r"/campaigns/\d+", location)
    status, html = await page(signed_in, location)
    assert status == 200
    assert "<h1>Spring hotels</h1>" in html
    _, listing = await page(signed_in, "/campaigns")
    assert f'<a href="{location}">Spring hotels</a>' in listing


async def test_campaign_form_shows_errors_next_to_the_fields(
    signed_in: Client,
) -> None:
    response = await post_form(signed_in, "/campaigns", {"name": "  ", "industry": "casino"})
    assert response.status_code == 422
    html = await response.get_data(as_text=True)
    assert 'id="name-error">name is required</p>' in html
    assert 'aria-invalid="true"' in html
    response = await post_form(signed_in, "/campaigns", {"name": "Kept", "industry": "mines"})
    html = await response.get_data(as_text=True)
    assert response.status_code == 422
    assert "unknown industry" in html and 'id="industry-error"' in html
    assert 'value="Kept"' in html  # what was typed is kept


async def test_campaign_names_are_escaped_everywhere(signed_in: Client, tune: Services) -> None:
    evil = "<script>alert(1)</script>"
    async with tune.db.write() as session:
        campaign = await make_campaign(session, evil)
        await make_prospect(session, campaign, '<img src=x onerror="alert(2)">')
    for path in ("/campaigns", f"/campaigns/{campaign.id}"):
        _, html = await page(signed_in, path)
        assert evil not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    _, html = await page(signed_in, f"/campaigns/{campaign.id}")
    assert "<img src=x" not in html


async def test_campaign_list_shows_formatted_figures_newest_first_and_pages(
    signed_in: Client, tune: Services
) -> None:
    async with tune.db.write() as session:
        first = await make_campaign(session, "Oldest")
        for number in range(26):
            await make_campaign(session, f"Campaign {number:02d}")
        session.add_all(
            [
                CampaignCounter(campaign_id=first.id, tier=1, name="sent", value=10000),
                CampaignCounter(campaign_id=first.id, tier=1, name="open_unique", value=1234),
                CampaignCounter(campaign_id=first.id, tier=2, name="reply", value=7),
            ]
        )
    _, html = await page(signed_in, "/campaigns")
    assert html.index("Campaign 25") < html.index("Campaign 24")
    assert "Oldest" not in html and "Campaign 00" not in html
    older = re.search(r'href="(/campaigns\?cursor=[^"]+)" rel="next"', html)
    assert older
    _, html = await page(signed_in, older.group(1).replace("&amp;", "&"))
    assert "Oldest" in html and "Campaign 00" in html and "Campaign 01" not in html
    assert "10,000" in html and "1,234" in html and "12.3%" in html and "0.1%" in html


async def test_campaign_page_without_prospects_says_import_a_csv(
    signed_in: Client, tune: Services
) -> None:
    async with tune.db.write() as session:
        campaign = await make_campaign(session, "Empty")
    status, html = await page(signed_in, f"/campaigns/{campaign.id}")
    assert status == 200
    assert "No prospects yet — import a CSV." in html
    assert "No activity yet." in html
    assert 'enctype="multipart/form-data"' in html


async def test_campaign_page_shows_counters_chart_tiers_and_activity(
    signed_in: Client, tune: Services
) -> None:
    ids = await seed(tune)
    await tune.writer.record(OpenEvent(ids["content"], source="api"))
    status, html = await page(signed_in, f"/campaigns/{ids['campaign']}")
    assert status == 200
    assert 'data-counter="opened">1<' in html
    assert 'data-counter="replied">0<' in html
    assert f'sse-connect="/campaigns/{ids["campaign"]}/live"' in html
    assert 'hx-trigger="every 5s"' in html
    # The chart: inline SVG with axes, ticks and a legend.
    assert '<svg class="chart chart-wide"' in html and 'class="axis"' in html
    assert '<svg class="chart chart-narrow"' in html  # the drawing a phone shows
    assert "time (UTC, per hour)" in html
    assert re.search(r"Opens <strong>1</strong>.*Clicks <strong>0</strong>.*Replies", html, re.S)
    # Tier 1 first; the latest activity on top; best contact is the CEO.
    assert html.index('id="tier-1"') < html.index('id="tier-2"') < html.index('id="tier-3"')
    tier1 = html[html.index('id="tier-1"') : html.index('id="tier-2"')]
    assert tier1.index("Bellagio") < tier1.index("Hot Springs Resort")
    assert "Ada King" in tier1 and "CEO" in tier1 and "+1 more" in tier1
    # Its top score reasons, biggest first, with a real minus sign.
    assert tier1.index("+30 large casino") < tier1.index("\u22125 far")
    # By score: hot prospects before higher scores.
    _, by_score = await page(signed_in, f"/campaigns/{ids['campaign']}?sort=score")
    tier1 = by_score[by_score.index('id="tier-1"') : by_score.index('id="tier-2"')]
    assert tier1.index("Hot Springs Resort") < tier1.index("Bellagio")
    assert "No tier 3 prospects." in html
    # Latest activity names the prospect and links to it.
    activity = html[html.index('id="live-activity"') :]
    assert f'<a href="/prospects/{ids["bellagio"]}">Bellagio</a>' in activity
    assert "Opened" in activity
    # A reply makes the prospect hot: it moves to the top of its tier.
    await tune.writer.record(ReplyEvent(ids["content"], source="api"))
    _, html = await page(signed_in, f"/campaigns/{ids['campaign']}?sort=score")
    assert 'data-counter="replied">1<' in html
    tier1 = html[html.index('id="tier-1"') : html.index('id="tier-2"')]
    assert tier1.index("Bellagio") < tier1.index("Hot Springs Resort")


async def test_prospect_search_by_company_contact_or_email(
    signed_in: Client, tune: Services
) -> None:
    ids = await seed(tune)
    path = f"/campaigns/{ids['campaign']}"
    for query, found, missing in (
        ("bella", "Bellagio", "Hot Springs"),
        ("Sam", "Hot Springs Resort", "Bellagio"),
        ("lee@second", "Second Tier Inc", "Bellagio"),
    ):
        response = await signed_in.get(
            f"{path}?q={query}", headers={"HX-Request": "true", "HX-Target": "tiers"}
        )
        html = await response.get_data(as_text=True)
        assert html.startswith('<div id="tiers"'), "the search answers only the tiers partial"
        assert found in html and missing not in html
    _, html = await page(signed_in, f"{path}?q=nobody-matches")
    assert "No tier 1 prospect matches “nobody-matches”." in html


async def test_filters_and_sort_live_in_the_url_and_counts_match_the_results(
    signed_in: Client, tune: Services
) -> None:
    ids = await seed(tune)
    await tune.writer.record(OpenEvent(ids["content"], source="api"))
    path = f"/campaigns/{ids['campaign']}"
    _, html = await page(signed_in, f"{path}?filter=opened")
    tier1 = html[html.index('id="tier-1"') : html.index('id="tier-2"')]
    assert "Bellagio" in tier1 and "Hot Springs Resort" not in tier1
    # The counts say what is shown, not the tier's size alone.
    assert "1 of 2 prospects match" in tier1
    assert "0 of 1 prospect match" in html
    assert 'data-tier-count="1">1<' in html and 'data-tier-count="2">0<' in html
    assert "No tier 2 prospect matches “Opened, no reply”." in html
    # The form shows what the URL asked for, and the live refresh asks for the same list.
    assert '<option value="opened" selected>' in html
    assert f'hx-get="{path}?filter=opened"' in html
    _, html = await page(signed_in, f"{path}?q=nobody-matches")
    assert "0 of 3 prospects match “nobody-matches”" in html
    assert "0 of 2 prospects match</span>" in html
    assert 'data-tier-count="1">0<' in html
    _, html = await page(signed_in, f"{path}?filter=hot&q=hot&sort=name")
    assert "1 of 3 prospects match “Hot” and “hot”" in html
    assert '<option value="name" selected>' in html
    status, html = await page(signed_in, f"{path}?sort=price")
    assert status == 422 and "sort must be one of" in html


async def test_show_more_keeps_the_filter_and_sort(signed_in: Client, tune: Services) -> None:
    async with tune.db.write() as session:
        campaign = await make_campaign(session, "Big")
        for number in range(30):
            prospect = await make_prospect(session, campaign, f"Company {number:02d}", score=number)
            await make_contact(session, prospect, bounced_at=utcnow() if number % 2 else None)
    _, html = await page(signed_in, f"/campaigns/{campaign.id}?filter=stopped&sort=name")
    assert re.findall(r"Company (\d\d)</a>", html)[:3] == ["01", "03", "05"]
    more = re.search(r'hx-get="(/campaigns/\d+/tiers/1\?[^"]+)"', html)
    assert more is None, "15 bounced prospects fit on one page"
    _, html = await page(signed_in, f"/campaigns/{campaign.id}?sort=name")
    more = re.search(r'hx-get="(/campaigns/\d+/tiers/1\?[^"]+)"', html)
    assert more
    status, rows = await page(signed_in, more.group(1).replace("&amp;", "&"))
    assert status == 200
    assert re.findall(r"Company (\d\d)</a>", rows) == ["25", "26", "27", "28", "29"]


async def test_tier_rows_page_with_a_keyset_cursor(signed_in: Client, tune: Services) -> None:
    async with tune.db.write() as session:
        campaign = await make_campaign(session, "Big")
        for number in range(30):
            await make_prospect(session, campaign, f"Company {number:02d}", score=number)
    _, html = await page(signed_in, f"/campaigns/{campaign.id}")
    assert "Company 29" in html and "Company 05" in html and "Company 04" not in html
    more = re.search(r'hx-get="(/campaigns/\d+/tiers/1\?[^"]+)"', html)
    assert more
    status, rows = await page(signed_in, more.group(1).replace("&amp;", "&"))
    assert status == 200
    names = re.findall(r"Company (\d\d)</a>", rows)
    assert names == ["04", "03", "02", "01", "00"]
    assert "Show more" not in rows


async def test_live_poll_partial_follows_new_events(signed_in: Client, tune: Services) -> None:
    ids = await seed(tune)
    path = f"/campaigns/{ids['campaign']}/live/poll"
    status, html = await page(signed_in, path)
    assert status == 200
    assert '<div id="live-counters" hx-swap-oob="innerHTML">' in html
    assert 'data-counter="opened">0<' in html
    await tune.writer.record(OpenEvent(ids["content"], source="api"))
    for _ in range(20):
        await asyncio.sleep(0.1)
        _, html = await page(signed_in, path)
        if 'data-counter="opened">1<' in html:
            break
    assert 'data-counter="opened">1<' in html
    assert "Bellagio" in html


async def test_unknown_campaign_and_prospect_are_styled_404_pages(
    signed_in: Client,
) -> None:
    for path in ("/campaigns/999", "/prospects/999", "/campaigns/999/templates", "/nope"):
        status, html = await page(signed_in, path)
        assert status == 404
        assert '<link rel="stylesheet" href="/static/tune.css">' in html
        assert "does not exist" in html or "nothing here" in html


async def test_server_errors_are_a_styled_page_without_details(
    app: Quart, signed_in: Client
) -> None:
    async def broken() -> str:
        raise RuntimeError("secret internals")

    app.add_url_rule("/broken-for-test", "broken_for_test", broken)
    status, html = await page(signed_in, "/broken-for-test")
    assert status == 500
    assert "Something went wrong" in html and "secret internals" not in html
    assert '<link rel="stylesheet" href="/static/tune.css">' in html


async def test_prospect_page_details_score_contacts_preview_and_timeline(
    signed_in: Client, client: Client, tune: Services
) -> None:
    ids = await seed(tune)
    signer = tune.signer
    await tune.writer.record(OpenEvent(ids["content"], source="api"))
    # A real click through the public redirect, and a HEAD "open" a scanner makes.
    click = await client.get(f"/t/c/{signer.click_token(ids['content'], 0)}", headers=BROWSER)
    assert click.status_code == 302
    pixel = await client.head(f"/t/o/{signer.open_token(ids['content'])}.gif", headers=BROWSER)
    assert pixel.status_code == 200
    response = await signed_in.get(f"/prospects/{ids['bellagio']}")
    html = await response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<h1>Bellagio" in html and "8,200" in html and "United States" in html
    assert "+30</span> large casino" in html and "-5</span> far" in html
    assert "ada@bellagio.example" in html and "intern@bellagio.example" in html
    # The preview: sandboxed srcdoc iframe, no tracking pixel, original link targets.
    frame = re.search(r"<iframe[^>]*>", html)
    assert frame and " sandbox " in frame.group(0) and "allow-scripts" not in frame.group(0)
    srcdoc = re.search(r'srcdoc="([^"]*)"', html)
    assert srcdoc
    assert "/t/o/" not in srcdoc.group(1) and "/t/c/" not in srcdoc.group(1)
    assert "https://example.com/book-a-call" in srcdoc.group(1)
    # Timeline: click with its URL, the HEAD open flagged as a machine open.
    timeline = html[html.index('id="h-timeline"') :]
    assert 'data-kind="click"' in timeline and "https://example.com/book-a-call" in timeline
    assert "machine open" in timeline
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp


async def test_prospect_page_empty_states(signed_in: Client, tune: Services) -> None:
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
        prospect = await make_prospect(session, campaign, "Lonely Ltd")
    _, html = await page(signed_in, f"/prospects/{prospect.id}")
    assert "No contacts for this company." in html
    assert "No email written yet" in html
    assert "Nothing has happened yet." in html
    # No industry in the data: the page says so and names the campaign's instead of "–".
    assert "not in the imported data; the campaign's is Casinos" in html
    assert "<dd data-revenue>–</dd>" in html


async def test_prospect_page_shows_money_industry_and_the_tier_thresholds(
    signed_in: Client, tune: Services
) -> None:
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
        prospect = await make_prospect(
            session, campaign, "Choice Hotels", revenue=20_700_000_000, industry="Hotels"
        )
    _, html = await page(signed_in, f"/prospects/{prospect.id}")
    assert "<dd data-revenue>$20.7B</dd>" in html
    assert "<dd data-industry>Hotels</dd>" in html
    profile = load_profile("casino")
    assert (
        f"tier 1 from {profile.thresholds.tier1} points, tier 2 from {profile.thresholds.tier2}"
        in html
    )
    _, listing = await page(signed_in, f"/campaigns/{campaign.id}")
    assert '<span class="sub" data-industry>Hotels</span>' in listing


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("/campaigns", [10**28]),
        ("/campaigns", ["abc"]),
        ("/campaigns/{id}/tiers/1", ["x", "y", "z"]),
        ("/campaigns/{id}/tiers/1", [True, 10**28, 1]),
        ("/campaigns/{id}/tiers/1", [True, 70_000, 1]),
    ],
)
async def test_crafted_cursors_on_dashboard_lists_are_a_readable_422(
    signed_in: Client, tune: Services, path: str, key: list[Any]
) -> None:
    async with tune.db.write() as session:
        campaign = await make_campaign(session, "Crafted")
        await make_prospect(session, campaign, "Company A", score=10)
    cursor = encode_cursor(key)
    status, html = await page(signed_in, f"{path.format(id=campaign.id)}?cursor={cursor}")
    assert status == 422
    assert "cursor is not valid" in html


async def test_the_campaign_page_shows_its_top_links(signed_in: Client, tune: Services) -> None:
    async with tune.db.write() as session:
        campaign = await make_campaign(session, "Links")
        contact = await make_contact(session, await make_prospect(session, campaign, "Acme"))
        content = await make_content(session, contact, urls=("https://example.com/pricing",))
        link_id = await session.scalar(select(Link.id).where(Link.content_id == content.id))
    status, html = await page(signed_in, f"/campaigns/{campaign.id}")
    assert status == 200 and "No tracked link has been clicked yet" in html
    await tune.writer.record(ClickEvent(content.id, source="api", link_id=link_id))
    html = (await page(signed_in, f"/campaigns/{campaign.id}"))[1]
    top = html.split('id="h-top-links"')[1].split("</section>")[0]
    assert "https://example.com/pricing" in top and ">1<" in top


async def test_the_chart_can_show_rates_on_request(signed_in: Client, tune: Services) -> None:
    ids = await seed(tune)
    _, html = await page(signed_in, f"/campaigns/{ids['campaign']}")
    assert f'hx-get="/campaigns/{ids["campaign"]}/chart/rates"' in html
    status, chart = await page(signed_in, f"/campaigns/{ids['campaign']}/chart/rates")
    assert status == 200
    assert "(share of emails sent) per hour" in chart
    assert "Opened <strong>–</strong>" in chart  # nothing sent yet: a dash, not 0 %
    status, _ = await page(signed_in, "/campaigns/999/chart/rates")
    assert status == 404
