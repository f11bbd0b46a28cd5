"""The sequence API: steps and their templates, sequence settings, and a prospect's
stop, pause and resume, with the API's keys and error shape."""

from __future__ import annotations

from typing import Any

from tests.support.factories import make_campaign, make_contact, make_content, make_prospect
from webapp.sequences import steps
from webapp.sequences.scheduler import enroll
from webapp.web.services import Services


async def new_campaign(client: Any, auth: dict[str, str]) -> int:
    response = await client.post(
        "/api/campaigns/create", json={"name": "Follow-ups", "industry": "casino"}, headers=auth
    )
    assert response.status_code == 201, await response.get_data(as_text=True)
    return int((await response.get_json())["id"])


async def test_a_new_campaign_is_a_one_step_sequence(client: Any, auth: dict[str, str]) -> None:
    campaign_id = await new_campaign(client, auth)
    response = await client.get(f"/api/campaigns/{campaign_id}/steps", headers=auth)
    assert response.status_code == 200
    [first] = (await response.get_json())["items"]
    assert first["step"] == 1 and first["delay"] is None and first["condition"] is None
    assert first["stats"]["sent"] == 0 and [v["variant"] for v in first["variants"]] == ["A"]


async def test_steps_are_added_changed_moved_and_deleted(client: Any, auth: dict[str, str]) -> None:
    campaign_id = await new_campaign(client, auth)
    base = f"/api/campaigns/{campaign_id}/steps"
    added = await client.post(base, json={"delay": "P3D", "condition": "no_reply"}, headers=auth)
    assert added.status_code == 201
    body = await added.get_json()
    assert (body["step"], body["delay"], body["delay_seconds"]) == (2, "P3D", 259_200)
    assert body["as_reply"] is True and body["enabled"] is True
    await client.post(base, json={"delay": "PT5S", "condition": "opened_no_reply"}, headers=auth)

    moved = await client.patch(f"{base}/3", json={"position": 2}, headers=auth)
    assert moved.status_code == 200 and (await moved.get_json())["delay"] == "PT5S"
    disabled = await client.patch(f"{base}/3", json={"enabled": False}, headers=auth)
    assert (await disabled.get_json())["enabled"] is False
    deleted = await client.delete(f"{base}/2", headers=auth)
    assert deleted.status_code == 200
    listed = await deleted.get_json()  # the steps that remain
    assert [(s["step"], s["delay"], s["enabled"]) for s in listed["items"]] == [
        (1, None, True),
        (2, "P3D", False),
    ]


async def test_bad_steps_are_refused_naming_the_field(client: Any, auth: dict[str, str]) -> None:
    campaign_id = await new_campaign(client, auth)
    base = f"/api/campaigns/{campaign_id}/steps"
    cases = [
        ({"delay": "three days"}, "delay"),
        ({"delay": "P1M"}, "delay"),
        ({"delay": "P1D", "condition": "opened"}, "condition"),
        ({}, "delay"),
    ]
    for body, field in cases:
        response = await client.post(base, json=body, headers=auth)
        assert response.status_code == 422, body
        error = (await response.get_json())["error"]
        assert error["code"] == "validation_error" and error["field"] == field, error
    first = await client.patch(f"{base}/1", json={"delay": "P1D"}, headers=auth)
    assert first.status_code == 422
    missing = await client.patch(f"{base}/9", json={"enabled": False}, headers=auth)
    assert missing.status_code == 404
    # Past a step number's 16 bits: still 404, never a database overflow.
    huge = await client.delete(f"{base}/9223372036854775806", headers=auth)
    assert huge.status_code == 404
    assert (await client.get("/api/campaigns/999999/steps", headers=auth)).status_code == 404
    assert (await client.get(base)).status_code == 401


async def test_a_step_that_sent_cannot_be_deleted(
    tune: Services, client: Any, auth: dict[str, str]
) -> None:
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
        await steps.add_step(session, campaign.id, "P1D")
        contact = await make_contact(session, await make_prospect(session, campaign))
        await make_content(session, contact, step=2, send_status="sent")
    response = await client.delete(f"/api/campaigns/{campaign.id}/steps/2", headers=auth)
    assert response.status_code == 409
    assert "disable it instead" in (await response.get_json())["error"]["message"]


async def test_step_templates_are_checked_like_the_dashboard_and_add_variants(
    client: Any, auth: dict[str, str]
) -> None:
    campaign_id = await new_campaign(client, auth)
    await client.post(f"/api/campaigns/{campaign_id}/steps", json={"delay": "P2D"}, headers=auth)
    path = f"/api/campaigns/{campaign_id}/steps/2/templates"
    saved = await client.put(
        f"{path}/all",
        json={"subject": "Nudge", "html": "<p>Hi {{ contact.first_name }}</p>"},
        headers=auth,
    )
    assert saved.status_code == 200
    assert (await saved.get_json())["tier"] == "all"
    broken = await client.put(
        f"{path}/2", json={"subject": "Nudge", "html": "<p>ok</p>\n{% if %}"}, headers=auth
    )
    assert broken.status_code == 422
    error = (await broken.get_json())["error"]
    assert error["field"] == "html" and "line 2" in error["message"]
    unknown = await client.put(
        f"{path}/1", json={"subject": "{{ contact.shoe_size }}", "html": "<p>x</p>"}, headers=auth
    )
    assert unknown.status_code == 422
    variant = await client.put(
        f"{path}/all", json={"subject": "B", "html": "<p>B</p>", "variant": "B"}, headers=auth
    )
    assert (await variant.get_json())["variant"] == "B"
    listed = await (
        await client.get(f"/api/campaigns/{campaign_id}/steps", headers=auth)
    ).get_json()
    step_two = listed["items"][1]
    assert [v["variant"] for v in step_two["variants"]] == ["A", "B"]
    assert step_two["ab_test"] == {
        "metric": "reply",
        "probability_best": {"A": 0.5, "B": 0.5},
        "winner": None,
    }


async def test_sequence_settings_are_validated(client: Any, auth: dict[str, str]) -> None:
    campaign_id = await new_campaign(client, auth)
    path = f"/api/campaigns/{campaign_id}/sequence"
    assert (await (await client.get(path, headers=auth)).get_json()) == {
        "send_days": "1234567",
        "send_from_hour": 0,
        "send_until_hour": 24,
        "timezone": "UTC",
        "account_stop": True,
        "winner_metric": "reply",
    }
    changed = await client.patch(
        path,
        json={
            "send_days": "12345",
            "send_from_hour": 9,
            "send_until_hour": 17,
            "timezone": "Europe/Paris",
        },
        headers=auth,
    )
    assert changed.status_code == 200
    assert (await changed.get_json())["timezone"] == "Europe/Paris"
    for body, field in (
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"send_days": "89"}, "send_days"),
        ({"send_from_hour": 18}, "send_until_hour"),
        ({"winner_metric": "open"}, "winner_metric"),
    ):
        refused = await client.patch(path, json=body, headers=auth)
        assert refused.status_code == 422, body
        assert (await refused.get_json())["error"]["field"] == field


async def test_a_rep_stops_pauses_and_resumes_a_prospect(
    tune: Services, client: Any, auth: dict[str, str]
) -> None:
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
        await steps.add_step(session, campaign.id, "P2D")
        prospect = await make_prospect(session, campaign)
        contact = await make_contact(session, prospect, "ann@acme.example")
        await make_content(session, contact, send_status="sent", message_id="<a@t.test>")
        await enroll(session, campaign.id)
    base = f"/api/prospects/{prospect.id}/sequence"

    paused = await client.post(f"{base}/pause", json={"until": "2099-03-01"}, headers=auth)
    assert paused.status_code == 200
    body = await paused.get_json()
    assert body["changed"] == 1
    [place] = body["contacts"]
    assert place["status"] == "paused" and place["paused_until"].startswith("2099-03-01")
    past = await client.post(f"{base}/pause", json={"until": "2001-01-01"}, headers=auth)
    assert past.status_code == 422 and (await past.get_json())["error"]["field"] == "until"

    resumed = await (await client.post(f"{base}/resume", headers=auth)).get_json()
    assert resumed["contacts"][0]["status"] == "active"
    stopped = await (await client.post(f"{base}/stop", headers=auth)).get_json()
    assert stopped["contacts"][0]["stop_reason"] == "stopped_by_rep"

    detail = await (await client.get(f"/api/prospects/{prospect.id}", headers=auth)).get_json()
    [place] = detail["sequence"]
    assert (place["email"], place["status"], place["stop_reason_text"]) == (
        "ann@acme.example",
        "stopped",
        "stopped by a rep",
    )
    assert detail["contents"][0]["step"] == 1
    assert (
        await client.post("/api/prospects/999999/sequence/stop", headers=auth)
    ).status_code == 404
