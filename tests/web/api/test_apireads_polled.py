"""The API layer's reads of emails, flag reasons and tier lists (`webapp/web/apireads.py`)
against the Quart routes: `GET /api/contents/<id>`, the first page of
`GET /api/campaigns/<id>/contents`, `GET /api/campaigns/<id>/flags` and the first page of
`GET /api/campaigns/<id>/prospects/<tier>`.

Each answer must be the Quart route's, byte for byte and header for header, for an
email with and without tracking, links, a send time, nulls, nothing found and
nothing to list; anything with a query string, an odd id or tier is Quart's. Both paths are
compared by tests/support/apipaths.py.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from quart import Quart
from sqlalchemy import select

from tests.support.apipaths import alike, keys_kept, through_layer
from tests.support.asgiclient import AsgiClient
from tests.support.factories import make_campaign, make_contact, make_content, make_prospect
from tests.support.requestlog import logged_and_counted
from webapp.core.models import Campaign, Contact, Content, Event, Link, Prospect
from webapp.web.services import Services


async def written(
    tune: Services, *, tracking: bool = True, count: int = 1, urls: tuple[str, ...] = ()
) -> tuple[Campaign, list[Content]]:
    """A campaign with `count` emails to one prospect's contacts."""
    async with tune.db.write() as session:
        campaign = await make_campaign(session, "Spring", tracking_enabled=tracking)
        prospect = await make_prospect(session, campaign, "Zoë & Co — ünïcode")
        contents = []
        for number in range(count):
            contact = await make_contact(session, prospect, f"p{number}@zoe.example")
            contents.append(
                await make_content(
                    session,
                    contact,
                    urls=urls,
                    subject=f'Grüße {number} "quoted" <b>',
                    html='<p>Hëllo <a href="https://x.example/?a=1&b=2">x</a></p>',
                    text="Hëllo\nthere",
                )
            )
    return campaign, contents


async def test_an_email_is_answered_in_front_of_quart_with_its_bytes(
    app: Quart, tune: Services, auth: dict[str, str]
) -> None:
    _, (content,) = await written(tune, urls=("https://b.example/", "https://a.example/?q=ü"))
    status, body, headers = await alike(app, f"/api/contents/{content.id}", auth)
    assert status == 200 and headers["content-type"] == "application/json"
    email = json.loads(body)
    assert email["subject"] == 'Grüße 0 "quoted" <b>'
    assert [link["url"] for link in email["links"]] == [
        "https://b.example/",
        "https://a.example/?q=ü",
    ]
    assert email["pixel_url"].startswith("http://tune.test/t/o/")
    assert email["sent_at"] is None and email["send_status"] == "draft"


async def test_a_sent_email_without_tracking_is_the_same_on_both_paths(
    app: Quart, tune: Services, auth: dict[str, str]
) -> None:
    _, (content,) = await written(tune, tracking=False)
    sent_at = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)
    async with tune.db.write() as session:
        row = await session.get(Content, content.id)
        assert row is not None
        row.send_status, row.sent_at = "sent", sent_at
    _, body, _ = await alike(app, f"/api/contents/{content.id}", auth)
    email = json.loads(body)
    assert email["pixel_url"] is None and email["links"] == []
    assert email["sent_at"] == "2026-03-01T09:30:15.123456+00:00"


async def test_an_unknown_email_is_the_same_404_and_odd_ids_are_quarts(
    app: Quart, tune: Services, auth: dict[str, str]
) -> None:
    status, body, _ = await alike(app, "/api/contents/999", auth)
    assert status == 404
    assert json.loads(body)["error"]["message"] == "content 999 does not exist"
    for path in (
        "/api/contents/007",
        "/api/contents/0",
        "/api/contents/99999999999999999999",
        "/api/contents/1?x=1",
        "/api/contents/",
    ):
        await alike(app, path, auth, in_front=False)


async def test_a_campaigns_emails_are_answered_in_front_of_quart_with_their_bytes(
    app: Quart, tune: Services, auth: dict[str, str]
) -> None:
    campaign, contents = await written(tune, count=3, urls=("https://a.example/",))
    status, body, _ = await alike(app, f"/api/campaigns/{campaign.id}/contents", auth)
    assert status == 200
    listed = json.loads(body)
    assert [item["id"] for item in listed["items"]] == [content.id for content in contents]
    assert all(len(item["links"]) == 1 for item in listed["items"])
    assert listed["next_cursor"] is None


async def test_empty_missing_and_full_pages_of_emails_are_the_same_on_both_paths(
    app: Quart, tune: Services, auth: dict[str, str]
) -> None:
    async with tune.db.write() as session:
        empty = await make_campaign(session, "Empty")
    _, body, _ = await alike(app, f"/api/campaigns/{empty.id}/contents", auth)
    assert json.loads(body) == {"items": [], "next_cursor": None}
    status, body, _ = await alike(app, "/api/campaigns/999/contents", auth)
    assert status == 404
    assert json.loads(body)["error"]["message"] == "campaign 999 does not exist"
    campaign, contents = await written(tune, count=51, urls=("https://a.example/",))
    path = f"/api/campaigns/{campaign.id}/contents"
    _, body, _ = await alike(app, path, auth)
    listed = json.loads(body)
    assert [item["id"] for item in listed["items"]] == [content.id for content in contents[:50]]
    assert listed["next_cursor"]  # as Quart encodes it: the second page follows
    second = f"{path}?cursor={listed['next_cursor']}"
    _, body, _ = await alike(app, second, auth, in_front=False)
    assert [item["id"] for item in json.loads(body)["items"]] == [contents[50].id]
    _, body, _ = await alike(app, f"{path}?limit=2", auth, in_front=False)
    assert len(json.loads(body)["items"]) == 2


async def test_flag_reasons_are_answered_in_front_of_quart_with_their_bytes(
    app: Quart, tune: Services, auth: dict[str, str]
) -> None:
    campaign, (content,) = await written(tune)
    path = f"/api/campaigns/{campaign.id}/flags"
    _, body, _ = await alike(app, path, auth)
    assert json.loads(body) == {"campaign_id": campaign.id, "items": []}
    events = [
        ("open", True, "apple_mpp"),
        ("open", True, "apple_mpp"),
        ("click", True, "honeypot"),
        ("click", True, "honeypot"),
        ("open", True, None),
        ("click", True, "bürst"),
        ("open", False, None),
        ("reply", True, "odd"),
    ]
    async with tune.db.write() as session:
        for kind, flagged, reason in events:
            session.add(
                Event(
                    kind=kind,
                    campaign_id=campaign.id,
                    content_id=content.id,
                    contact_id=content.contact_id,
                    prospect_id=content.prospect_id,
                    tier=content.tier,
                    flagged=flagged,
                    flag_reason=reason,
                )
            )
    _, body, _ = await alike(app, path, auth)
    assert json.loads(body)["items"] == [
        {"kind": "click", "reason": "honeypot", "count": 2},
        {"kind": "open", "reason": "apple_mpp", "count": 2},
        {"kind": "click", "reason": "bürst", "count": 1},
        {"kind": "open", "reason": "unknown", "count": 1},
    ]
    status, body, _ = await alike(app, "/api/campaigns/999/flags", auth)
    assert status == 404
    await alike(app, f"{path}?x=1", auth, in_front=False)


NEW_READS = [
    ("/api/contents/{content}", "/api/contents/<int:content_id>"),
    ("/api/campaigns/{campaign}/contents", "/api/campaigns/<int:campaign_id>/contents"),
    ("/api/campaigns/{campaign}/flags", "/api/campaigns/<int:campaign_id>/flags"),
    ("/api/campaigns/{campaign}/prospects/1", "/api/campaigns/<int:campaign_id>/prospects/<tier>"),
]


@pytest.mark.parametrize(("path", "rule"), NEW_READS)
@pytest.mark.parametrize("caller", ["quart", "asgi"])
async def test_each_read_logs_one_line_and_counts_under_its_quart_rule(
    app: Quart,
    tune: Services,
    auth: dict[str, str],
    caplog: pytest.LogCaptureFixture,
    path: str,
    rule: str,
    caller: str,
) -> None:
    campaign, (content,) = await written(tune)
    path = path.format(content=content.id, campaign=campaign.id)
    client = app.test_client() if caller == "quart" else AsgiClient(app)
    await keys_kept(tune)
    await client.get(path, headers=auth)
    await logged_and_counted(client, path, auth, rule, caplog)


@pytest.mark.parametrize(
    "path", ["/api/contents/1", "/api/campaigns/1/contents", "/api/campaigns/1/flags"]
)
async def test_an_unknown_key_is_quarts_401(app: Quart, path: str) -> None:
    response, fell = await through_layer(app, "GET", path, {"X-API-Key": "tune_" + "x" * 40})
    assert fell == [path]
    assert response.status_code == 401


async def test_a_tier_is_answered_in_front_of_quart_with_its_bytes(
    app: Quart, tune: Services, auth: dict[str, str]
) -> None:
    activity = datetime(2026, 3, 1, 9, 30, 15, 5, tzinfo=UTC)
    reasons = [{"rule": "größe", "points": 12.5, "detail": None}, {"rule": "b", "points": -3}]
    async with tune.db.write() as session:
        campaign = await make_campaign(session, "Tiers")
        low = await make_prospect(session, campaign, "Low", score=10)
        hot = await make_prospect(
            session, campaign, "Hot — ünïcode", score=5, hot=True, score_reasons=reasons
        )
        high = await make_prospect(
            session,
            campaign,
            "High",
            score=90,
            domain=None,
            employees=120,
            revenue=3_000_000_000,
            country="Österreich",
            industry="Casino",
            last_activity_at=activity,
        )
        tied = await make_prospect(session, campaign, "Tied", score=90)
        await make_prospect(session, campaign, "Other tier", tier=2)
        await make_contact(session, high, "b@high.example", first_name="Zoë", title="CEO")
        await make_contact(session, high, "a@high.example", unsubscribed_at=activity)
        await make_contact(session, hot, "x@hot.example", seniority="senior", last_name="O'Neil")
    status, body, _ = await alike(app, f"/api/campaigns/{campaign.id}/prospects/1", auth)
    assert status == 200
    listed = json.loads(body)
    assert [item["id"] for item in listed["items"]] == [hot.id, tied.id, high.id, low.id]
    assert listed["next_cursor"] is None
    first, _, third, fourth = listed["items"]
    assert first["score_reasons"] == reasons
    assert [contact["email"] for contact in third["contacts"]] == [
        "b@high.example",
        "a@high.example",
    ]
    assert [contact["unsubscribed"] for contact in third["contacts"]] == [False, True]
    assert third["last_activity_at"] == "2026-03-01T09:30:15.000005+00:00"
    assert third["domain"] is None and third["revenue"] == 3_000_000_000
    assert fourth["contacts"] == [] and fourth["last_activity_at"] is None


async def test_empty_missing_and_full_tiers_are_the_same_on_both_paths(
    app: Quart, tune: Services, auth: dict[str, str]
) -> None:
    async with tune.db.write() as session:
        campaign = await make_campaign(session, "Tiers")
        for number in range(52):
            prospect = await make_prospect(session, campaign, f"P{number}", score=number % 7)
            await make_contact(session, prospect)
    path = f"/api/campaigns/{campaign.id}/prospects"
    _, body, _ = await alike(app, f"{path}/3", auth)
    assert json.loads(body) == {"items": [], "next_cursor": None}
    status, body, _ = await alike(app, "/api/campaigns/999/prospects/1", auth)
    assert status == 404
    assert json.loads(body)["error"]["message"] == "campaign 999 does not exist"
    _, body, _ = await alike(app, f"{path}/1", auth)
    first = json.loads(body)
    assert len(first["items"]) == 50 and first["next_cursor"]
    _, body, _ = await alike(app, f"{path}/1?cursor={first['next_cursor']}", auth, in_front=False)
    second = json.loads(body)
    assert len(second["items"]) == 2 and second["next_cursor"] is None
    seen = [item["id"] for item in first["items"] + second["items"]]
    assert len(set(seen)) == 52
    _, body, _ = await alike(app, f"{path}/1?sort=name&limit=1", auth, in_front=False)
    assert json.loads(body)["items"][0]["name"] == "P0"


@pytest.mark.parametrize("tier", ["4", "0", "01", "x", "%201", "1.0", "-1", "１"])
async def test_an_odd_tier_is_quarts_answer(
    app: Quart, tune: Services, auth: dict[str, str], tier: str
) -> None:
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
    path = f"/api/campaigns/{campaign.id}/prospects/{tier}"
    status, _, _ = await alike(app, path, auth, in_front=False)
    assert status == (200 if tier in ("%201", "01", "１") else 422)  # int(" 1") is 1


async def test_a_polled_page_of_emails_shows_each_change_at_once(
    app: Quart, tune: Services, auth: dict[str, str]
) -> None:
    """The layer keeps a page's bytes with its rows (`ReadTable.kept`): a change to an
    email, its link or its campaign is answered on the next poll, as Quart answers it."""
    campaign, contents = await written(tune, count=3, urls=("https://a.example/",))
    path = f"/api/campaigns/{campaign.id}/contents"
    _, before, _ = await alike(app, path, auth)
    assert (await alike(app, path, auth))[1] == before
    async with tune.db.write() as session:
        row = await session.get(Content, contents[1].id)
        assert row is not None
        row.subject, row.send_status = "Changed", "sent"
        row.sent_at = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    _, body, _ = await alike(app, path, auth)
    item = json.loads(body)["items"][1]
    assert item["subject"] == "Changed" and item["sent_at"] == "2026-03-01T09:30:00+00:00"
    async with tune.db.write() as session:
        link = (await session.scalars(select(Link).where(Link.content_id == contents[0].id))).one()
        link.url = "https://b.example/"
    _, body, _ = await alike(app, path, auth)
    assert json.loads(body)["items"][0]["links"][0]["url"] == "https://b.example/"
    async with tune.db.write() as session:
        kept = await session.get(Campaign, campaign.id)
        assert kept is not None
        kept.tracking_enabled = False
    _, body, _ = await alike(app, path, auth)
    assert [item["pixel_url"] for item in json.loads(body)["items"]] == [None, None, None]


async def test_a_polled_tier_shows_each_change_at_once(
    app: Quart, tune: Services, auth: dict[str, str]
) -> None:
    async with tune.db.write() as session:
        campaign = await make_campaign(session, "Tiers")
        first = await make_prospect(session, campaign, "First", score=50)
        second = await make_prospect(session, campaign, "Second", score=40)
        contact = await make_contact(session, second, "s@second.example")
    path = f"/api/campaigns/{campaign.id}/prospects/1"
    _, before, _ = await alike(app, path, auth)
    assert (await alike(app, path, auth))[1] == before
    async with tune.db.write() as session:
        row = await session.get(Prospect, second.id)
        assert row is not None
        row.score = 60
    _, body, _ = await alike(app, path, auth)
    assert [item["id"] for item in json.loads(body)["items"]] == [second.id, first.id]
    async with tune.db.write() as session:
        person = await session.get(Contact, contact.id)
        assert person is not None
        person.unsubscribed_at = datetime(2026, 3, 1, tzinfo=UTC)
    _, body, _ = await alike(app, path, auth)
    assert json.loads(body)["items"][0]["contacts"][0]["unsubscribed"] is True
