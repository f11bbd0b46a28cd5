"""`/api/mailboxes` and `/api/campaigns/{id}/mailboxes`: shapes, errors, masking, pausing."""

from __future__ import annotations

from typing import Any

from quart.typing import TestClientProtocol

from tests.support.factories import add_contacts
from webapp.web.services import Services

NEW = {
    "name": "ana",
    "from_address": "ana@sales.tune.test",
    "smtp_url": "smtp://ana:s3cret%40x@smtp.tune.test:587",
}


async def test_create_with_only_the_required_fields_gets_the_defaults(
    client: TestClientProtocol, auth: dict[str, Any]
) -> None:
    answer = await client.post("/api/mailboxes", json=NEW, headers=auth)
    assert answer.status_code == 201
    body = await answer.get_json()
    assert body["smtp_url"] == "smtp://ana:***@smtp.tune.test:587"
    assert (body["daily_cap"], body["hourly_cap"], body["min_gap_seconds"]) == (400, 100, 0)
    assert body["remaining"] == 100 and body["paused"] is False and body["imap_url"] is None
    listed = await (await client.get("/api/mailboxes", headers=auth)).get_json()
    assert [item["name"] for item in listed["items"]] == ["ana"]
    assert "s3cret" not in str(listed)


async def test_bad_input_names_the_field(client: TestClientProtocol, auth: dict[str, Any]) -> None:
    cases = [
        ({**NEW, "smtp_url": "http://smtp.tune.test"}, "smtp_url"),
        ({**NEW, "from_address": "not an address"}, "from_address"),
        ({**NEW, "name": "has space"}, "name"),
        ({**NEW, "hourly_cap": 0}, "hourly_cap"),
        ({**NEW, "imap_url": "imaps://imap.tune.test"}, "imap_url"),
        ({"name": "x", "from_address": "x@tune.test"}, "smtp_url"),
    ]
    for body, field in cases:
        answer = await client.post("/api/mailboxes", json=body, headers=auth)
        assert answer.status_code == 422, body
        error = (await answer.get_json())["error"]
        assert error["field"] == field, error
        assert "s3cret" not in error["message"]
    assert (await client.post("/api/mailboxes", json=NEW, headers=auth)).status_code == 201
    again = await client.post("/api/mailboxes", json=NEW, headers=auth)
    assert again.status_code == 409


async def test_patch_pause_resume_and_delete(
    client: TestClientProtocol, auth: dict[str, Any]
) -> None:
    await client.post("/api/mailboxes", json=NEW, headers=auth)
    changed = await client.patch(
        "/api/mailboxes/ana",
        json={"warmup_start": 20, "warmup_step": 10, "daily_cap": 300, "paused": True},
        headers=auth,
    )
    body = await changed.get_json()
    assert changed.status_code == 200, body
    assert body["daily_cap_today"] == 20 and body["paused"] is True
    assert body["paused_reason"] == "paused by a rep"
    resumed = await client.patch("/api/mailboxes/ana", json={"paused": False}, headers=auth)
    assert (await resumed.get_json())["paused"] is False
    assert (await client.delete("/api/mailboxes/ana", headers=auth)).status_code == 204
    assert (await client.get("/api/mailboxes/ana", headers=auth)).status_code == 404


async def test_campaign_mailboxes_are_set_by_name(
    client: TestClientProtocol, auth: dict[str, Any], tune: Services
) -> None:
    await client.post("/api/mailboxes", json=NEW, headers=auth)
    campaign_id = await add_contacts(tune, 2)
    path = f"/api/campaigns/{campaign_id}/mailboxes"
    answer = await client.put(path, json={"mailboxes": ["ana"]}, headers=auth)
    assert (await answer.get_json()) == {"campaign_id": campaign_id, "mailboxes": ["ana"]}
    unknown = await client.put(path, json={"mailboxes": ["zed"]}, headers=auth)
    assert unknown.status_code == 422
    assert (await unknown.get_json())["error"]["field"] == "mailboxes"
    assert (await (await client.get(path, headers=auth)).get_json())["mailboxes"] == ["ana"]
    missing = await client.put("/api/campaigns/999/mailboxes", json={"mailboxes": []}, headers=auth)
    assert missing.status_code == 404
