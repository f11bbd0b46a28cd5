"""Public tracking endpoints: pixel, click redirect, one-click unsubscribe.

Every test runs twice: through Quart's test client (the Quart routes) and
through the ASGI entry point a server calls (where the tracking fast path
answers pixel and link hits), against the same expectations.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from quart import Quart, request
from sqlalchemy import select, text
from werkzeug.utils import redirect

from tests.support.asgiclient import AsgiClient
from tests.support.counts import counters
from tests.support.factories import make_campaign, make_contact, make_prospect
from webapp import create_app
from webapp.core.models import Contact, Event
from webapp.outbound.contents import save_template, templates_of
from webapp.web.hooks import SECURITY_HEADERS
from webapp.web.services import Services
from webapp.web.track import CLICK_HEADERS
from webapp.web.tracklayer import redirect_answer


@pytest.fixture(params=["quart", "asgi"])
def client(request: pytest.FixtureRequest, app: Quart) -> Any:
    return app.test_client() if request.param == "quart" else AsgiClient(app)


CHROME = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
)
GMAIL_PROXY = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)
APPLE_MPP = "Mozilla/5.0"


async def generated(
    client: Any,
    auth: dict[str, str],
    tune: Services,
    *,
    tracking: bool = True,
    html: str | None = None,
) -> dict[str, Any]:
    """A campaign with one contact whose content was generated through the API."""
    async with tune.db.write() as session:
        campaign = await make_campaign(session, tracking_enabled=tracking)
        prospect = await make_prospect(session, campaign, name="Bellagio", tier=1)
        await make_contact(session, prospect, email="ann@bellagio.example", first_name="Ann")
        campaign_id = campaign.id
    if html is not None:
        async with tune.db.write() as session:
            await save_template(session, campaign_id, 1, "Hi {{ contact.first_name }}", html)
    response = await client.post(f"/api/campaigns/{campaign_id}/contents/generate", headers=auth)
    assert response.status_code == 200, await response.get_data()
    listing = await (
        await client.get(f"/api/campaigns/{campaign_id}/contents", headers=auth)
    ).get_json()
    return listing["items"][0]


async def events(tune: Services) -> list[Event]:
    async with tune.db.read() as session:
        return list(await session.scalars(select(Event).order_by(Event.id)))


def path_of(url: str) -> str:
    return url.removeprefix("http://tune.test")


async def test_generated_content_carries_pixel_links_and_unsubscribe(
    client: Any, auth: dict[str, str], tune: Services
) -> None:
    html = (
        '<p>Hi {{ contact.first_name }}, see <a href="https://example.com/offer?a=1#top">'
        'our offer</a> or <a href="mailto:x@y.z">mail</a>.</p>'
    )
    content = await generated(client, auth, tune, html=html)
    assert content["subject"] == "Hi Ann"
    assert content["pixel_url"].startswith("http://tune.test/t/o/") and content[
        "pixel_url"
    ].endswith(".gif")
    assert content["pixel_url"] in content["html"]
    assert content["unsubscribe_url"] in content["html"]
    assert [link["url"] for link in content["links"]] == ["https://example.com/offer?a=1#top"]
    assert content["links"][0]["tracked_url"] in content["html"]
    assert 'href="mailto:x@y.z"' in content["html"]
    assert "https://example.com/offer" not in content["html"]
    assert content["headers"] == {
        "List-Unsubscribe": f"<{content['unsubscribe_url']}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    assert "Hi Ann" in content["text"]
    single = await (await client.get(f"/api/contents/{content['id']}", headers=auth)).get_json()
    assert single == content


async def test_generating_twice_creates_nothing_new(
    client: Any, auth: dict[str, str], tune: Services
) -> None:
    content = await generated(client, auth, tune)
    response = await client.post(
        f"/api/campaigns/{content['campaign_id']}/contents/generate", headers=auth
    )
    assert await response.get_json() == {
        "campaign_id": content["campaign_id"],
        "created": 0,
        "existing": 1,
    }


async def test_pixel_answers_a_gif_and_records_an_open(
    client: Any, auth: dict[str, str], tune: Services
) -> None:
    content = await generated(client, auth, tune)
    response = await client.get(
        path_of(content["pixel_url"]),
        headers={"User-Agent": CHROME},
        scope_base={"client": ("203.0.113.9", 40000)},
    )
    body = await response.get_data()
    assert response.status_code == 200
    assert len(body) == 43 and body.startswith(b"GIF89a")
    assert response.headers["Content-Type"] == "image/gif"
    assert "no-store" in response.headers["Cache-Control"]
    assert "noindex" in response.headers["X-Robots-Tag"]
    stored = await events(tune)
    assert [(event.kind, event.flagged, event.source) for event in stored] == [
        ("open", False, "pixel")
    ]
    # No raw address is stored: a salted hash, and the /24 network for the bot rules.
    assert stored[0].ip_hash is not None and "203.0.113.9" not in stored[0].ip_hash
    assert stored[0].ip_prefix == "203.0.113.0/24"
    assert await counters(tune) == {"open_total": 1, "open_unique": 1}


async def test_machine_opens_are_counted_apart(
    client: Any, auth: dict[str, str], tune: Services
) -> None:
    content = await generated(client, auth, tune)
    pixel = path_of(content["pixel_url"])
    await client.get(
        pixel, headers={"User-Agent": APPLE_MPP}, scope_base={"client": ("17.58.1.2", 1)}
    )
    await client.head(pixel, headers={"User-Agent": CHROME})
    await client.get(pixel, headers={"User-Agent": GMAIL_PROXY})
    await client.get(pixel, headers={"User-Agent": CHROME})
    flags = [(event.flagged, event.flag_reason) for event in await events(tune)]
    # Gmail's proxy fetches when a person opens the email: a human open.
    assert flags == [(True, "apple_mpp"), (True, "prefetch_head"), (False, None), (False, None)]
    assert await counters(tune) == {"open_total": 4, "open_machine": 2, "open_unique": 1}


@pytest.mark.parametrize("token", ["nonsense", "A" * 30, "", "..%2F..%2Fetc%2Fpasswd"])
async def test_bad_pixel_token_still_answers_the_gif_and_records_nothing(
    client: Any, tune: Services, token: str
) -> None:
    response = await client.get(f"/t/o/{token}.gif")
    assert response.status_code in (200, 404)
    if response.status_code == 200:
        assert len(await response.get_data()) == 43
    assert await events(tune) == []


async def test_every_flipped_character_of_a_pixel_token_is_refused(
    client: Any, auth: dict[str, str], tune: Services
) -> None:
    content = await generated(client, auth, tune)
    token = content["pixel_url"].rsplit("/", 1)[1].removesuffix(".gif")
    for index in range(len(token)):
        flipped = token[:index] + ("A" if token[index] != "A" else "B") + token[index + 1 :]
        response = await client.get(f"/t/o/{flipped}.gif")
        assert response.status_code == 200
    assert await events(tune) == []


async def test_pixel_still_answers_when_the_database_fails(
    client: Any, auth: dict[str, str], tune: Services
) -> None:
    content = await generated(client, auth, tune)
    async with tune.db.write() as session:
        await session.execute(text("ALTER TABLE events RENAME TO events_away"))
    try:
        response = await client.get(path_of(content["pixel_url"]))
        assert response.status_code == 200
        assert len(await response.get_data()) == 43
        api = await client.post(
            "/api/tracking/email-opened",
            query_string={"content_id": content["id"], "contact_id": content["contact_id"]},
            headers=auth,
        )
        assert api.status_code == 503
        assert (await api.get_json())["error"]["code"] == "service_unavailable"
        assert tune.writer.alive
    finally:
        async with tune.db.write() as session:
            await session.execute(text("ALTER TABLE events_away RENAME TO events"))
    # Service resumes by itself once the database is back.
    await client.get(path_of(content["pixel_url"]))
    assert len(await events(tune)) == 1


async def test_click_redirects_to_the_stored_url_and_counts_an_open(
    client: Any, auth: dict[str, str], tune: Services
) -> None:
    content = await generated(
        client, auth, tune, html='<a href="https://example.com/a?x=1&amp;y=2">A</a>'
    )
    response = await client.get(
        path_of(content["links"][0]["tracked_url"]), headers={"User-Agent": CHROME}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "https://example.com/a?x=1&y=2"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    kinds = [(event.kind, event.source) for event in await events(tune)]
    assert kinds == [("click", "link"), ("open", "inferred")]
    assert await counters(tune) == {
        "click_total": 1,
        "click_unique": 1,
        "open_total": 1,
        "open_unique": 1,
    }


@pytest.mark.parametrize(
    "path", ["/t/c/nonsense", "/t/c/%2F%2Fevil.com", "/t/c/javascript:alert(1)", "/t/c/"]
)
async def test_tampered_click_tokens_are_404_pages(client: Any, tune: Services, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert "Location" not in response.headers
    assert await events(tune) == []


async def test_click_token_of_a_link_that_does_not_exist_is_404(
    client: Any, auth: dict[str, str], tune: Services
) -> None:
    content = await generated(client, auth, tune, html='<a href="https://example.com/">A</a>')
    forged = tune.signer.click_token(content["id"], 7)
    other = tune.signer.click_token(content["id"] + 1, 0)
    for token in (forged, other):
        response = await client.get(f"/t/c/{token}")
        assert response.status_code == 404
        assert "Location" not in response.headers


async def test_every_flipped_character_of_a_click_token_is_refused(
    client: Any, auth: dict[str, str], tune: Services
) -> None:
    content = await generated(client, auth, tune, html='<a href="https://example.com/">A</a>')
    token = content["links"][0]["tracked_url"].rsplit("/", 1)[1]
    for index in range(len(token)):
        flipped = token[:index] + ("A" if token[index] != "A" else "B") + token[index + 1 :]
        assert (await client.get(f"/t/c/{flipped}")).status_code == 404


async def test_one_click_unsubscribe_without_a_body(
    client: Any, auth: dict[str, str], tune: Services
) -> None:
    content = await generated(client, auth, tune)
    page = await client.get(path_of(content["unsubscribe_url"]))
    assert page.status_code == 200
    assert "ann@bellagio.example" in await page.get_data(as_text=True)
    response = await client.post(path_of(content["unsubscribe_url"]))
    assert response.status_code == 200
    assert "unsubscribed" in (await response.get_data(as_text=True)).lower()
    again = await client.post(
        path_of(content["unsubscribe_url"]),
        data=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert again.status_code == 200
    async with tune.db.read() as session:
        contact = await session.get(Contact, content["contact_id"])
        assert contact is not None and contact.unsubscribed_at is not None
    assert await counters(tune) == {"unsubscribe": 1}


async def test_tracking_off_means_no_pixel_no_rewritten_links_and_no_records(
    client: Any, auth: dict[str, str], tune: Services
) -> None:
    content = await generated(
        client, auth, tune, tracking=False, html='<a href="https://example.com/x">X</a>'
    )
    assert content["pixel_url"] is None
    assert "/t/o/" not in content["html"]
    assert 'href="https://example.com/x"' in content["html"]
    assert content["links"] == []
    assert content["unsubscribe_url"] in content["html"]  # unsubscribing always works
    response = await client.get(f"/t/o/{tune.signer.open_token(content['id'])}.gif")
    assert response.status_code == 200
    assert await events(tune) == []


async def test_stats_have_exactly_the_documented_shape(
    client: Any, auth: dict[str, str], tune: Services
) -> None:
    content = await generated(client, auth, tune)
    await client.get(path_of(content["pixel_url"]), headers={"User-Agent": CHROME})
    await client.get(path_of(content["pixel_url"]), headers={"User-Agent": APPLE_MPP})
    body = await (
        await client.get(f"/api/campaigns/{content['campaign_id']}/stats", headers=auth)
    ).get_json()
    counts = {
        "sent": 0,
        "opened": {"unique": 1, "total": 2, "machine": 1},
        "clicked": {"unique": 0, "total": 0, "bot": 0},
        "replied": 0,
        "meetings": 0,
        "unsubscribed": 0,
        "bounced": 0,
        "auto_replied": 0,
        "complained": 0,
        "rates": {"open": 0.0, "click": 0.0, "reply": 0.0},
    }
    empty = {**counts, "opened": {"unique": 0, "total": 0, "machine": 0}}
    assert body == {
        "campaign_id": content["campaign_id"],
        "total": counts,
        "tiers": {"1": counts, "2": empty, "3": empty},
    }


async def test_stats_of_an_unknown_campaign_is_404(client: Any, auth: dict[str, str]) -> None:
    response = await client.get("/api/campaigns/4040/stats", headers=auth)
    assert response.status_code == 404


async def test_new_campaigns_start_with_a_template_per_tier(
    client: Any, auth: dict[str, str], tune: Services
) -> None:

    campaign_id = (
        await (
            await client.post("/api/campaigns/create?name=T&industry=retail", headers=auth)
        ).get_json()
    )["campaign_id"]
    async with tune.db.read() as session:
        templates = await templates_of(session, campaign_id)
    assert sorted(templates) == [1, 2, 3]
    assert all("{{" in row.html for row in templates.values())


async def test_both_paths_answer_with_the_same_headers(
    app: Quart, auth: dict[str, str], tune: Services
) -> None:
    quart, asgi = app.test_client(), AsgiClient(app)
    content = await generated(
        asgi, auth, tune, html='<a href="https://example.com/a?x=1&amp;y=2">A</a>'
    )
    for path in (path_of(content["pixel_url"]), path_of(content["links"][0]["tracked_url"])):
        answers = [
            await client.get(path, headers={"User-Agent": CHROME}) for client in (quart, asgi)
        ]
        shapes = [
            {name.lower(): value for name, value in answer.headers.items()} for answer in answers
        ]
        for shape in shapes:
            assert len(shape.pop("x-request-id")) == 32
        assert shapes[0] == shapes[1]
        assert [a.status_code for a in answers] == [answers[0].status_code] * 2
        assert [await a.get_data() for a in answers] == [await answers[0].get_data()] * 2
    # Two opens, then two clicks (no open inferred: the pixel was seen).
    assert [event.kind for event in await events(tune)] == ["open", "open", "click", "click"]


async def test_pixel_and_click_hits_skip_quart_through_the_asgi_entry_point(
    app: Quart, auth: dict[str, str], tune: Services
) -> None:
    asgi = AsgiClient(app)
    content = await generated(asgi, auth, tune, html='<a href="https://example.com/">A</a>')
    seen: list[str] = []

    @app.before_request
    async def note() -> None:
        seen.append(request.path)

    await asgi.get(path_of(content["pixel_url"]))
    await asgi.get(path_of(content["links"][0]["tracked_url"]))
    await asgi.get("/t/c/nonsense")
    assert seen == ["/t/c/nonsense"]  # a bad token gets Quart's 404 page


@pytest.mark.parametrize(("mode", "lines"), [("every", 4), ("off", 0), ("sampled", 2)])
async def test_tracking_hits_log_lines_as_configured(
    config: Any, caplog: pytest.LogCaptureFixture, mode: str, lines: int
) -> None:
    app = create_app(config.with_changes(log_tracking_hits=mode, log_tracking_sample=2))
    async with app.test_app():
        tune: Services = app.extensions["tune"]
        pixel = f"/t/o/{tune.signer.open_token(1)}.gif"
        caplog.set_level(logging.INFO)
        for client in (app.test_client(), AsgiClient(app)):
            for _ in range(2):
                assert (await client.get(pixel)).status_code == 200
            assert (await client.get("/api/health")).status_code == 200
    logged = [r.getMessage() for r in caplog.records if "request" in r.getMessage()]
    assert sum("/t/o/<token>.gif" in line for line in logged) == lines
    assert sum("/api/health" in line for line in logged) == 2


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/a?x=1&y=2",
        'https://ex\u00e4mple.com/caf\u00e9?q="x"&r=<y>#top',
        "http://example.com/it's",
    ],
)
def test_the_fast_paths_redirect_is_the_quart_routes_byte_for_byte(url: str) -> None:
    """The fast path builds its 302 without a Response object: the same body and headers."""
    response = redirect(url, code=302)
    expected = {**dict(response.headers.items()), **CLICK_HEADERS}
    for name, value in SECURITY_HEADERS:
        expected.setdefault(name, value)
    body, headers = redirect_answer(url)
    assert body == response.get_data()
    assert headers == [(name.lower().encode(), value.encode()) for name, value in expected.items()]
    with pytest.raises(ValueError, match="newline"):
        redirect_answer(url + "\r\nSet-Cookie: a=b")
