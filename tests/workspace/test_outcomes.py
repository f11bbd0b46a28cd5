"""Outcomes a rep records: on the timeline, in the stats, on the follow-up list."""

from __future__ import annotations

from typing import Any

from tests.workspace.test_followups import PERSON, listed, sent
from webapp.sequences import steps
from webapp.sequences.scheduler import enroll
from webapp.tracking.events import ClickEvent, ReplyEvent
from webapp.web.services import Services


async def outcome(client: Any, auth: dict[str, Any], prospect_id: int, **body: Any) -> Any:
    return await client.post(f"/api/prospects/{prospect_id}/outcome", json=body, headers=auth)


async def stats(client: Any, auth: dict[str, Any], campaign_id: int) -> dict[str, Any]:
    response = await client.get(f"/api/campaigns/{campaign_id}/stats", headers=auth)
    body: dict[str, Any] = (await response.get_json())["total"]
    return body


async def test_meeting_booked_counts_once_and_shows_on_the_timeline(
    client: Any, auth: dict[str, Any], tune: Services
) -> None:
    content = await sent(tune)
    await tune.writer.record(ReplyEvent(content.id, source="api"))
    assert [i.reason for i in await listed(tune)] == ["replied"]
    response = await outcome(client, auth, content.prospect_id, outcome="meeting", note="Tue 3pm")
    assert response.status_code == 201
    assert (await response.get_json())["contact_id"] == content.contact_id
    await outcome(client, auth, content.prospect_id, outcome="meeting")
    totals = await stats(client, auth, content.campaign_id)
    assert (totals["replied"], totals["meetings"]) == (1, 1)
    assert await listed(tune) == []  # recorded an outcome: done
    detail = await (
        await client.get(f"/api/prospects/{content.prospect_id}", headers=auth)
    ).get_json()
    meetings = [e for e in detail["events"] if e["kind"] == "meeting"]
    assert [e["note"] for e in meetings] == [None, "Tue 3pm"]
    assert all(e["source"] == "rep" for e in meetings)


async def test_marking_replied_counts_a_reply_and_makes_the_prospect_hot(
    client: Any, auth: dict[str, Any], tune: Services
) -> None:
    content = await sent(tune)
    response = await outcome(client, auth, content.prospect_id, outcome="replied")
    assert response.status_code == 201
    assert (await stats(client, auth, content.campaign_id))["replied"] == 1
    detail = await (
        await client.get(f"/api/prospects/{content.prospect_id}", headers=auth)
    ).get_json()
    assert detail["hot"] is True
    assert [(e["kind"], e["source"]) for e in detail["events"]] == [("reply", "rep")]


async def test_not_interested_keeps_a_prospect_off_except_for_a_new_reply(
    client: Any, auth: dict[str, Any], tune: Services
) -> None:
    content = await sent(tune)
    await outcome(client, auth, content.prospect_id, outcome="not_interested")
    await tune.writer.record(ClickEvent(content.id, source="link", hit=PERSON))
    assert await listed(tune) == []
    await tune.writer.record(ReplyEvent(content.id, source="api"))
    assert [i.reason for i in await listed(tune)] == ["replied"]


async def test_bad_outcomes_are_refused_naming_the_field(
    client: Any, auth: dict[str, Any], tune: Services
) -> None:
    content = await sent(tune)
    unknown = await outcome(client, auth, content.prospect_id, outcome="married")
    assert unknown.status_code == 422
    assert (await unknown.get_json())["error"]["field"] == "outcome"
    empty_note = await outcome(client, auth, content.prospect_id, outcome="note", note="  ")
    assert empty_note.status_code == 422
    assert (await empty_note.get_json())["error"]["field"] == "note"
    missing = await outcome(client, auth, 987654, outcome="meeting")
    assert missing.status_code == 404
    async with tune.db.write() as session:
        from tests.support.factories import make_contact, make_prospect
        from webapp.core.models import Campaign

        campaign = await session.get(Campaign, content.campaign_id)
        never_written = await make_prospect(session, campaign)
        await make_contact(session, never_written)
    unsent = await outcome(client, auth, never_written.id, outcome="replied")
    assert unsent.status_code == 422
    note = await outcome(client, auth, never_written.id, outcome="note", note="Called, voicemail")
    assert note.status_code == 201


async def test_not_interested_and_wrong_person_stop_the_sequence_with_that_reason(
    client: Any, auth: dict[str, Any], tune: Services
) -> None:
    places = {}
    for name in ("not_interested", "wrong_person", "meeting"):
        content = await sent(tune, name=name)
        async with tune.db.write() as session:
            await steps.add_step(session, content.campaign_id, "P3D")
            await enroll(session, content.campaign_id)
        response = await outcome(client, auth, content.prospect_id, outcome=name)
        assert response.status_code == 201
        detail = await (
            await client.get(f"/api/prospects/{content.prospect_id}", headers=auth)
        ).get_json()
        [places[name]] = detail["sequence"]
    assert places["not_interested"]["status"] == "stopped"
    assert places["not_interested"]["stop_reason"] == "not_interested"
    assert places["not_interested"]["stop_reason_text"] == "not interested (recorded by a rep)"
    assert (places["wrong_person"]["status"], places["wrong_person"]["stop_reason"]) == (
        "stopped",
        "wrong_person",
    )
    # A meeting is good news, not a reason to stop here (a reply would stop it).
    assert places["meeting"]["status"] == "active"
    assert places["meeting"]["next_send_at"] is not None
