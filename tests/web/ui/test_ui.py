"""The dashboard pages and partials through the Quart test client, on a real database."""

from __future__ import annotations

import asyncio
import io
import re
from typing import Any

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client
from sqlalchemy import select

from tests.support.factories import make_campaign, make_contact, make_prospect, make_user
from tests.support.signin import PASSWORD, csrf_of, login, page, post_form, token
from webapp.accounts.apikeys import create_key
from webapp.core.models import CampaignCounter, Content, EmailTemplateRow
from webapp.outbound.contents import TrackingUrls, generate_contents
from webapp.tracking.events import OpenEvent, ReplyEvent
from webapp.web.pagination import encode_cursor
from webapp.web.services import Services

BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0"}


@pytest.fixture
async def user(tune: Services) -> Any:
    async with tune.db.write() as session:
        return await make_user(session)


@pytest.fixture
async def signed_in(client: Client, user: Any) -> Client:
    response = await login(client)
    assert response.status_code == 303
    return client


async def seed(tune: Services) -> dict[str, Any]:
    """A campaign with three tiers of prospects, written emails and a few events."""
    async with tune.db.write() as session:
        campaign = await make_campaign(session, "Casino push")
        bellagio = await make_prospect(
            session,
            campaign,
            "Bellagio",
            tier=1,
            score=90,
            employees=8200,
            country="United States",
            score_reasons=[{"points": 30, "label": "large casino"}, {"points": -5, "label": "far"}],
        )
        hot = await make_prospect(
            session, campaign, "Hot Springs Resort", tier=1, score=40, hot=True
        )
        second = await make_prospect(session, campaign, "Second Tier Inc", tier=2, score=60)
        ceo = await make_contact(
            session,
            bellagio,
            "ada@bellagio.example",
            first_name="Ada",
            last_name="King",
            title="CEO",
        )
        await make_contact(session, bellagio, "intern@bellagio.example", title="Intern")
        await make_contact(session, hot, "sam@hotsprings.example", first_name="Sam")
        await make_contact(session, second, "lee@second.example", first_name="Lee")
        ids = {
            "campaign": campaign.id,
            "bellagio": bellagio.id,
            "hot": hot.id,
            "second": second.id,
            "ceo": ceo.id,
        }
    urls = TrackingUrls(tune.config.base_url, tune.signer)
    await generate_contents(tune.db, ids["campaign"], urls, "Sam Lee")
    async with tune.db.read() as session:
        content = await session.scalar(select(Content).where(Content.contact_id == ids["ceo"]))
        assert content is not None
        ids["content"] = content.id
    return ids


# --- sign in, sign out, login required ------------------------------------------------


async def test_root_redirects_to_login_then_to_follow_ups(client: Client, user: Any) -> None:
    response = await client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    await login(client)
    response = await client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/followups"


@pytest.mark.parametrize(
    "path",
    [
        "/campaigns",
        "/campaigns/1",
        "/campaigns/1/tiers/1",
        "/campaigns/1/live",
        "/campaigns/1/live/poll",
        "/campaigns/1/templates",
        "/campaigns/1/imports/1",
        "/prospects/1",
        "/keys",
        "/followups",
        "/followups/live",
        "/followups/live/poll",
    ],
)
async def test_every_page_needs_a_signed_in_user(client: Client, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=" + path.replace("/", "%2F")
    htmx = await client.get(path, headers={"HX-Request": "true"})
    assert htmx.status_code == 401
    assert htmx.headers["HX-Redirect"] == "/login"


async def test_sign_in_with_wrong_password_is_refused_with_a_message(
    client: Client, user: Any
) -> None:
    response = await login(client, password="not the password")
    assert response.status_code == 401
    assert "Wrong email or password." in await response.get_data(as_text=True)
    assert (await client.get("/campaigns")).status_code == 302


async def test_sign_in_goes_to_the_page_asked_for_but_never_off_site(
    client: Client, user: Any
) -> None:
    _, html = await page(client, "/login?next=/keys")
    assert 'name="next" value="/keys"' in html
    form = {"email": "rep@example.com", "password": PASSWORD, "csrf_token": csrf_of(html)}
    response = await client.post("/login", form={**form, "next": "/keys"})
    assert response.headers["Location"] == "/keys"
    await client.post("/logout", form={"csrf_token": await token(client)})
    _, html = await page(client, "/login")
    response = await client.post(
        "/login", form={**form, "csrf_token": csrf_of(html), "next": "//evil.example/x"}
    )
    assert response.headers["Location"] == "/followups"


async def test_session_cookie_is_httponly_and_samesite_lax(client: Client, user: Any) -> None:
    response = await login(client)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # TUNE_BASE_URL is http in these tests


async def test_session_cookie_is_secure_when_the_base_url_is_https(config: Any, user: Any) -> None:
    app = __import__("webapp").create_app(config.with_changes(base_url="https://tune.example"))
    async with app.test_app():
        client = app.test_client()
        response = await login(client)
        assert response.status_code == 303
        assert "Secure" in response.headers["Set-Cookie"]


async def test_sign_out_ends_the_session(signed_in: Client) -> None:
    response = await signed_in.post("/logout", form={"csrf_token": await token(signed_in)})
    assert response.status_code == 303
    assert response.headers["Location"] == "/login"
    assert (await signed_in.get("/campaigns")).status_code == 302


async def test_a_new_password_ends_older_sessions(
    signed_in: Client, tune: Services, user: Any
) -> None:
    from webapp.accounts.users import hash_password

    async with tune.db.write() as session:
        row = await session.get(type(user), user.id)
        row.password_hash = await hash_password("a brand new password")
    assert (await signed_in.get("/campaigns")).status_code == 302


# --- campaigns ----------------------------------------------------------------------------


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


# --- campaign page -------------------------------------------------------------------------


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
    assert '<svg class="chart"' in html and 'class="axis"' in html
    assert "time (UTC, per hour)" in html
    assert re.search(r"Opens <strong>1</strong>.*Clicks <strong>0</strong>.*Replies", html, re.S)
    # Tier 1 first; hot prospects before higher scores; best contact is the CEO.
    assert html.index('id="tier-1"') < html.index('id="tier-2"') < html.index('id="tier-3"')
    tier1 = html[html.index('id="tier-1"') : html.index('id="tier-2"')]
    assert tier1.index("Hot Springs Resort") < tier1.index("Bellagio")
    assert "Ada King" in tier1 and "CEO" in tier1 and "+1 more" in tier1
    assert "No tier 3 prospects." in html
    # Latest activity names the prospect and links to it.
    activity = html[html.index('id="live-activity"') :]
    assert f'<a href="/prospects/{ids["bellagio"]}">Bellagio</a>' in activity
    assert "Opened" in activity
    # A reply makes the prospect hot: it moves to the top of its tier.
    await tune.writer.record(ReplyEvent(ids["content"], source="api"))
    _, html = await page(signed_in, f"/campaigns/{ids['campaign']}")
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


# --- prospect page -------------------------------------------------------------------------


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


# --- templates -----------------------------------------------------------------------------


async def test_templates_page_previews_each_tier_for_a_sample_contact(
    signed_in: Client, tune: Services
) -> None:
    ids = await seed(tune)
    status, html = await page(signed_in, f"/campaigns/{ids['campaign']}/templates")
    assert status == 200
    for tier in (1, 2, 3):
        assert f'id="subject-{tier}"' in html and f'id="preview-{tier}"' in html
    assert "Preview for sam@hotsprings.example" in html  # tier 1's top prospect (hot)
    assert "Preview for jane.doe@acme.example" in html  # tier 3 has none: the sample


async def test_template_preview_renders_and_reports_syntax_errors_with_line(
    signed_in: Client, tune: Services
) -> None:
    ids = await seed(tune)
    path = f"/campaigns/{ids['campaign']}/templates/1/preview"
    csrf = await token(signed_in)
    headers = {"HX-Request": "true", "X-CSRF-Token": csrf}
    response = await signed_in.post(
        path,
        form={"subject": "Hi {{ contact.first_name }}", "html": "<p>For {{ prospect.name }}</p>"},
        headers=headers,
    )
    html = await response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Hi Sam" in html and "For Hot Springs Resort" in html
    response = await signed_in.post(
        path,
        form={"subject": "Hi", "html": "<p>ok</p>\n<p>{{ contact.first_name }</p>"},
        headers=headers,
    )
    html = await response.get_data(as_text=True)
    assert "Line 2 of the html:" in html and 'role="alert"' in html


async def test_saving_a_template_keeps_it_or_shows_the_error_inline(
    signed_in: Client, tune: Services
) -> None:
    ids = await seed(tune)
    path = f"/campaigns/{ids['campaign']}/templates/2"
    response = await post_form(
        signed_in, path, {"subject": "Hello {{ contact.first_name }}", "html": "<p>New body</p>"}
    )
    assert response.status_code == 303
    _, html = await page(signed_in, response.headers["Location"].split("#")[0])
    assert "Saved. New emails for tier 2 use this template." in html
    async with tune.db.read() as session:
        row = await session.scalar(
            select(EmailTemplateRow).where(
                EmailTemplateRow.campaign_id == ids["campaign"], EmailTemplateRow.tier == 2
            )
        )
        assert row is not None and row.html == "<p>New body</p>"
    response = await post_form(
        signed_in, path, {"subject": "Hi {{ contact.nickname }}", "html": "<p>x</p>"}
    )
    assert response.status_code == 422
    html = await response.get_data(as_text=True)
    assert "unknown merge field &#39;contact.nickname&#39;" in html
    assert 'value="Hi {{ contact.nickname }}"' in html


# --- API keys ------------------------------------------------------------------------------


async def test_api_keys_create_show_once_list_and_revoke(signed_in: Client, client: Client) -> None:
    status, html = await page(signed_in, "/keys")
    assert status == 200 and "No API keys yet." in html
    response = await post_form(signed_in, "/keys", {"name": "crm sync"})
    html = await response.get_data(as_text=True)
    key = re.search(r'id="new-key">(tune_[^<]+)<', html)
    assert key, "the new key is shown"
    assert (
        await client.get("/api/industries", headers={"X-API-Key": key.group(1)})
    ).status_code == 200
    _, listing = await page(signed_in, "/keys")
    assert key.group(1) not in listing  # shown once only
    assert "crm sync" in listing and key.group(1)[:9] in listing
    key_id = re.search(r'action="/keys/(\d+)/revoke"', listing)
    assert key_id
    response = await post_form(signed_in, f"/keys/{key_id.group(1)}/revoke", {})
    assert response.status_code == 303
    _, listing = await page(signed_in, "/keys")
    assert "revoked" in listing
    assert (
        await client.get("/api/industries", headers={"X-API-Key": key.group(1)})
    ).status_code == 401


async def test_api_key_without_a_name_is_refused_inline(signed_in: Client) -> None:
    response = await post_form(signed_in, "/keys", {"name": " "})
    assert response.status_code == 422
    assert "name must be 1 to 100 characters" in await response.get_data(as_text=True)


async def test_keys_made_by_the_cli_show_on_the_page(signed_in: Client, tune: Services) -> None:
    async with tune.db.write() as session:
        await create_key(session, "from the command line")
    _, html = await page(signed_in, "/keys")
    assert "from the command line" in html


# --- import --------------------------------------------------------------------------------

CSV = (
    "company,domain,email,first_name,last_name,title,employees,country\n"
    "Bellagio,bellagio.example,ada@bellagio.example,Ada,King,CEO,8000,United States\n"
    "Tiny Shop,tiny.example,bob@tiny.example,Bob,Small,Clerk,3,France\n"
    "Broken Co,broken.example,not-an-email,,,,,\n"
)


async def import_file(client: Client, campaign_id: int, body: bytes, name: str) -> Any:
    from werkzeug.datastructures import FileStorage

    return await client.post(
        f"/campaigns/{campaign_id}/import",
        form={"csrf_token": await token(client)},
        files={"file": FileStorage(io.BytesIO(body), filename=name, content_type="text/csv")},
        headers={"HX-Request": "true"},
    )


async def wait_for_report(client: Client, html: str) -> tuple[str, Any]:
    """Follow the progress partial's polling until the report shows."""
    response = None
    for _ in range(100):
        poll = re.search(r'hx-get="(/campaigns/\d+/imports/\d+)"', html)
        if not poll:
            return html, response
        await asyncio.sleep(0.05)
        response = await client.get(poll.group(1), headers={"HX-Request": "true"})
        html = await response.get_data(as_text=True)
    raise AssertionError("the import did not finish")


async def test_csv_import_shows_progress_then_the_report_with_line_numbers(
    signed_in: Client, tune: Services
) -> None:
    async with tune.db.write() as session:
        campaign = await make_campaign(session, "Imports")
    response = await import_file(signed_in, campaign.id, CSV.encode(), "leads.csv")
    assert response.status_code == 202
    html, last = await wait_for_report(signed_in, await response.get_data(as_text=True))
    assert "Import of leads.csv: finished" in html
    assert 'data-report="created">2<' in html
    assert 'data-report="rejected">1<' in html
    assert re.search(r'<td class="num">4</td><td>[^<]*email', html), html
    assert last is not None and last.headers["HX-Trigger"] == "tune:imported"
    _, page_html = await page(signed_in, f"/campaigns/{campaign.id}")
    assert "Bellagio" in page_html and "Tiny Shop" in page_html
    assert "No prospects yet" not in page_html
    # Importing again updates instead of duplicating.
    response = await import_file(signed_in, campaign.id, CSV.encode(), "leads.csv")
    html, _ = await wait_for_report(signed_in, await response.get_data(as_text=True))
    assert 'data-report="created">0<' in html


async def test_a_file_that_is_not_a_csv_gets_a_readable_report(
    signed_in: Client, tune: Services
) -> None:
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
    response = await import_file(signed_in, campaign.id, b"\x89PNG\r\n\x1a\n\x00\x00", "x.png")
    html, _ = await wait_for_report(signed_in, await response.get_data(as_text=True))
    assert "Import of x.png: failed" in html
    assert "Traceback" not in html


async def test_import_without_a_file_asks_for_one(signed_in: Client, tune: Services) -> None:
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
    response = await signed_in.post(
        f"/campaigns/{campaign.id}/import",
        form={"csrf_token": await token(signed_in)},
        headers={"HX-Request": "true"},
    )
    assert "Choose a CSV file to import." in await response.get_data(as_text=True)


# --- look and feel, headers ----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/login", "/campaigns", "/keys"])
async def test_pages_have_strict_headers_and_no_inline_script_or_style(
    client: Client, user: Any, path: str
) -> None:
    if path != "/login":
        await login(client)
    response = await client.get(path)
    html = await response.get_data(as_text=True)
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "style-src 'self';" in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"]
    assert response.headers["Cache-Control"] == "no-store"
    assert re.findall(r"<script(?![^>]*\ssrc=)[^>]*>", html) == []
    assert " style=" not in html and "<style" not in html
    assert '<meta name="viewport"' in html


async def test_static_assets_are_vendored(client: Client) -> None:
    for path in ("/static/vendor/htmx.min.js", "/static/vendor/sse.min.js", "/static/tune.js"):
        response = await client.get(path)
        assert response.status_code == 200, path
    body = await (await client.get("/static/vendor/htmx.min.js")).get_data(as_text=True)
    assert 'version:"2.' in body


async def test_send_tier_button_queues_once_and_shows_progress(
    signed_in: Client, tune: Services
) -> None:
    ids = await seed(tune)
    campaign = ids["campaign"]
    status, html = await page(signed_in, f"/campaigns/{campaign}")
    assert status == 200
    assert "Send tier 1" in html and 'data-send="queued">0<' in html
    assert "No SMTP relay is configured" in html
    csrf = csrf_of(html)
    first = await signed_in.post(
        f"/campaigns/{campaign}/send",
        form={"tier": "1", "csrf_token": csrf},
        headers={"HX-Request": "true"},
    )
    panel = await first.get_data(as_text=True)
    assert first.status_code == 200
    # Tier 1 has three contacts: all queued, and the panel polls while they wait.
    assert 'data-send="queued">3<' in panel
    assert 'hx-trigger="every 3s"' in panel
    assert "Queued 3 emails of tier 1" in panel
    again = await signed_in.post(
        f"/campaigns/{campaign}/send", form={"tier": "1", "csrf_token": csrf}
    )
    assert again.status_code == 303
    async with tune.db.read() as session:
        statuses = (
            await session.scalars(
                select(Content.send_status).where(Content.campaign_id == campaign)
            )
        ).all()
    assert sorted(statuses).count("queued") == 3
    forged = await signed_in.post(f"/campaigns/{campaign}/send", form={"tier": "2"})
    assert forged.status_code == 403
    bad = await signed_in.post(
        f"/campaigns/{campaign}/send", form={"tier": "7", "csrf_token": csrf}
    )
    assert bad.status_code == 422


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
