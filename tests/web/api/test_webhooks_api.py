"""`/api/webhooks` and the engagement exports through the API, on a real database."""

from __future__ import annotations

import csv
import io
from typing import Any

from quart.typing import TestClientProtocol as Client
from sqlalchemy import select

from tests.support.factories import make_campaign, make_contact, make_content, make_prospect
from webapp.core.models import Link, WebhookDelivery, WebhookEndpoint
from webapp.tracking.events import ClickEvent, OpenEvent
from webapp.web.services import Services


async def test_webhook_lifecycle(client: Client, auth: dict[str, Any], tune: Services) -> None:
    assert (await client.get("/api/webhooks")).status_code == 401
    created = await client.post(
        "/api/webhooks",
        json={"url": "https://crm.example/hook", "events": ["open", "click"]},
        headers=auth,
    )
    assert created.status_code == 201
    body = await created.get_json()
    assert body["secret"].startswith("whsec_") and body["events"] == ["open", "click"]
    assert body["active"] is True and body["include_flagged"] is False
    endpoint_id = body["id"]
    async with tune.db.read() as session:
        row = await session.get(WebhookEndpoint, endpoint_id)
    assert row is not None and body["secret"] not in row.secret_encrypted

    listed = await (await client.get("/api/webhooks", headers=auth)).get_json()
    assert [item["id"] for item in listed["items"]] == [endpoint_id]
    assert "secret" not in listed["items"][0]

    changed = await client.patch(
        f"/api/webhooks/{endpoint_id}",
        json={"events": ["reply"], "active": False},
        headers=auth,
    )
    assert changed.status_code == 200
    assert (await changed.get_json())["events"] == ["reply"]
    assert (await (await client.get(f"/api/webhooks/{endpoint_id}", headers=auth)).get_json())[
        "active"
    ] is False

    rotated = await client.post(f"/api/webhooks/{endpoint_id}/rotate", headers=auth)
    rotated_body = await rotated.get_json()
    assert rotated_body["secret"].startswith("whsec_") and rotated_body["secret"] != body["secret"]
    assert rotated_body["previous_secret_expires_at"] is not None

    deleted = await client.delete(f"/api/webhooks/{endpoint_id}", headers=auth)
    assert deleted.status_code == 204
    gone = await client.get(f"/api/webhooks/{endpoint_id}", headers=auth)
    assert gone.status_code == 404 and (await gone.get_json())["error"]["code"] == "not_found"


async def test_bad_webhooks_are_refused_naming_the_field(
    client: Client, auth: dict[str, Any]
) -> None:
    for payload, field in (
        ({"url": "https://crm.example/hook", "events": ["opened"]}, "events"),
        ({"url": "https://crm.example/hook", "events": []}, "events"),
        ({"url": "javascript:alert(1)", "events": ["open"]}, "url"),
        ({"events": ["open"]}, "url"),
        ({"url": "https://crm.example/hook"}, "events"),
    ):
        answer = await client.post("/api/webhooks", json=payload, headers=auth)
        assert answer.status_code == 422, payload
        assert (await answer.get_json())["error"]["field"] == field, payload


async def test_deliveries_and_resend(client: Client, auth: dict[str, Any], tune: Services) -> None:
    created = await client.post(
        "/api/webhooks",
        json={"url": "https://crm.example/hook", "events": ["open"]},
        headers=auth,
    )
    endpoint_id = (await created.get_json())["id"]
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
        content = await make_content(
            session, await make_contact(session, await make_prospect(session, campaign))
        )
    await tune.writer.record(OpenEvent(content.id, source="api"))
    listed = await (
        await client.get(f"/api/webhooks/{endpoint_id}/deliveries", headers=auth)
    ).get_json()
    (delivery,) = listed["items"]
    assert delivery["status"] == "pending" and delivery["event_type"] == "open"
    path = f"/api/webhooks/{endpoint_id}/deliveries/{delivery['id']}/resend"
    waiting = await client.post(path, headers=auth)
    assert waiting.status_code == 409  # still waiting to go out: nothing to resend
    async with tune.db.write() as session:
        row = await session.get(WebhookDelivery, delivery["id"])
        assert row is not None
        row.status, row.body = "failed", "{}"
    resent = await client.post(path, headers=auth)
    assert resent.status_code == 202
    copy = await resent.get_json()
    assert copy["message_id"] == delivery["message_id"] and copy["status"] == "pending"


async def test_engagement_links_and_events_through_the_api(
    client: Client, auth: dict[str, Any], tune: Services
) -> None:
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
        contents = []
        for name in ("Ann", "@SUM(A1)", "Cy"):
            contact = await make_contact(
                session, await make_prospect(session, campaign), first_name=name
            )
            contents.append(await make_content(session, contact, urls=("https://example.com/x",)))
        links = {
            link.content_id: link.id
            for link in await session.scalars(select(Link).order_by(Link.id))
        }
    for content in contents[:2]:
        await tune.writer.record(ClickEvent(content.id, source="api", link_id=links[content.id]))
    base = f"/api/campaigns/{campaign.id}"
    first = await (await client.get(f"{base}/engagement?limit=2", headers=auth)).get_json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = await (
        await client.get(f"{base}/engagement?limit=2&cursor={first['next_cursor']}", headers=auth)
    ).get_json()
    rows = first["items"] + rest["items"]
    assert rest["next_cursor"] is None and len(rows) == 3
    stats = await (await client.get(f"{base}/stats", headers=auth)).get_json()
    assert sum(row["clicks"]["human"] for row in rows) == stats["total"]["clicked"]["unique"] == 2
    assert sum(row["first_open_at"] is not None for row in rows) == 2
    assert rows[0]["clicks"]["by_link"] == [{"url": "https://example.com/x", "clicks": 1}]

    exported = await client.get(f"{base}/engagement.csv", headers=auth)
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    table = list(csv.DictReader(io.StringIO(await exported.get_data(as_text=True))))
    assert [row["first_name"] for row in table] == ["Ann", "'@SUM(A1)", "Cy"]

    links_body = await (await client.get(f"{base}/links", headers=auth)).get_json()
    assert links_body["items"] == [
        {"url": "https://example.com/x", "clicks": {"human": 2, "bot": 0}, "unique_clickers": 2}
    ]

    events = await (
        await client.get(f"/api/events?campaign_id={campaign.id}&kind=click&limit=1", headers=auth)
    ).get_json()
    assert len(events["items"]) == 1 and events["items"][0]["kind"] == "click"
    more = await (
        await client.get(
            f"/api/events?campaign_id={campaign.id}&kind=click&cursor={events['next_cursor']}",
            headers=auth,
        )
    ).get_json()
    assert len(more["items"]) == 1 and more["next_cursor"] is None
    bad = await client.get("/api/events?since=yesterday", headers=auth)
    assert bad.status_code == 422 and (await bad.get_json())["error"]["field"] == "since"
    missing = await client.get("/api/campaigns/999/engagement.csv", headers=auth)
    assert missing.status_code == 404
