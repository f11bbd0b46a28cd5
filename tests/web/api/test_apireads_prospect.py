"""`GET /api/prospects/<id>` answered by the API layer (`webapp/web/apireads.py`) against
the Quart route: the same bytes, headers, metric and log line for a busy prospect, a bare
one and a missing one; odd ids and query strings are Quart's; and a polled prospect shows
each change of itself, its contacts, emails, events, outcomes, replies and sequence
positions on the next request, though the layer keeps the answer written from equal rows.
Both paths are compared by tests/support/apipaths.py."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from quart import Quart
from sqlalchemy import select

from tests.support.apipaths import alike, keys_kept
from tests.support.asgiclient import AsgiClient
from tests.support.factories import make_campaign, make_contact, make_content, make_prospect
from tests.support.prospectdetail import AT, busy_prospect, orm_detail
from tests.support.requestlog import logged_and_counted
from webapp.core.models import Contact, Content, Enrollment, Event, Prospect, ProspectOutcome, Reply
from webapp.sequences import control
from webapp.web.services import Services

RULE = "/api/prospects/<int:prospect_id>"


async def test_a_prospect_is_answered_in_front_of_quart_with_its_bytes(
    app: Quart, tune: Services, auth: dict[str, str]
) -> None:
    built = await busy_prospect(tune)
    status, body, headers = await alike(app, f"/api/prospects/{built.prospect_id}", auth)
    assert status == 200 and headers["content-type"] == "application/json"
    assert b"\\u00fc" in body  # escaped as Quart's JSON provider writes it
    expected = await orm_detail(tune, built.prospect_id)
    assert json.loads(body) == expected.model_dump(mode="json")
    assert len(json.loads(body)["sequence"]) == 8


async def test_a_bare_prospect_a_missing_one_and_odd_ids(
    app: Quart, tune: Services, auth: dict[str, str]
) -> None:
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
        prospect = await make_prospect(session, campaign, "Leer — ünïcode", domain=None)
    _, body, _ = await alike(app, f"/api/prospects/{prospect.id}", auth)
    found = json.loads(body)
    assert found["name"] == "Leer — ünïcode"
    assert [found[part] for part in ("contacts", "contents", "events", "replies", "sequence")] == [
        [],
        [],
        [],
        [],
        [],
    ]
    status, body, _ = await alike(app, "/api/prospects/999", auth)
    assert status == 404
    assert json.loads(body)["error"]["message"] == "prospect 999 does not exist"
    for path in (
        f"/api/prospects/0{prospect.id}",
        "/api/prospects/0",
        "/api/prospects/99999999999999999999",
        f"/api/prospects/{prospect.id}?x=1",
    ):
        await alike(app, path, auth, in_front=False)


@pytest.mark.parametrize("caller", ["quart", "asgi"])
async def test_the_read_logs_one_line_and_counts_under_its_quart_rule(
    app: Quart,
    tune: Services,
    auth: dict[str, str],
    caplog: pytest.LogCaptureFixture,
    caller: str,
) -> None:
    built = await busy_prospect(tune)
    path = f"/api/prospects/{built.prospect_id}"
    client = app.test_client() if caller == "quart" else AsgiClient(app)
    await keys_kept(tune)
    await client.get(path, headers=auth)
    await logged_and_counted(client, path, auth, RULE, caplog)


async def test_a_polled_prospect_shows_each_change_at_once(
    app: Quart, tune: Services, auth: dict[str, str]
) -> None:
    built = await busy_prospect(tune, account_stop=False)
    path = f"/api/prospects/{built.prospect_id}"
    first = built.contact_ids[0]
    polls = 0

    async def poll() -> dict[str, Any]:
        nonlocal polls
        polls += 1
        _, body, _ = await alike(app, path, auth)
        found: dict[str, Any] = json.loads(body)
        assert found == (await orm_detail(tune, built.prospect_id)).model_dump(mode="json")
        return found

    before = await poll()
    assert await poll() == before  # kept, and still equal
    async with tune.db.write() as session:
        row = await session.get(Prospect, built.prospect_id)
        assert row is not None
        row.score = 12
    assert (await poll())["score"] == 12
    async with tune.db.write() as session:
        person = await session.get(Contact, first)
        assert person is not None
        person.title = "Geschäftsführerin"
    assert (await poll())["contacts"][0]["title"] == "Geschäftsführerin"
    async with tune.db.write() as session:
        email = await session.get(Content, built.content_ids[1])
        assert email is not None
        email.subject, email.send_status = "Neu ✓", "sent"
    assert (await poll())["contents"][1]["subject"] == "Neu ✓"
    async with tune.db.write() as session:
        session.add(
            Event(
                kind="open",
                campaign_id=built.campaign_id,
                content_id=built.content_ids[0],
                contact_id=first,
                prospect_id=built.prospect_id,
                tier=1,
                occurred_at=AT + timedelta(days=5),
            )
        )
    assert (await poll())["events"][0]["occurred_at"] == (AT + timedelta(days=5)).isoformat()
    async with tune.db.write() as session:
        session.add(
            ProspectOutcome(
                campaign_id=built.campaign_id,
                prospect_id=built.prospect_id,
                outcome="note",
                note="Später",
                created_at=AT + timedelta(days=6),
            )
        )
    assert (await poll())["events"][0]["note"] == "Später"
    async with tune.db.write() as session:
        reply = await session.scalar(
            select(Reply).where(Reply.prospect_id == built.prospect_id).limit(1)
        )
        assert reply is not None
        reply.label = "neutral"
    assert "neutral" in [reply["classification"] for reply in (await poll())["replies"]]
    async with tune.db.write() as session:
        await control.stop_prospect(session, built.prospect_id)
    assert (await poll())["sequence"][0]["stop_reason"] == "stopped_by_rep"
    async with tune.db.write() as session:
        enrollment = await session.scalar(select(Enrollment).where(Enrollment.contact_id == first))
        assert enrollment is not None
        enrollment.stop_reason = "not_interested"
    assert "not_interested" in [place["stop_reason"] for place in (await poll())["sequence"]]
    async with tune.db.write() as session:
        prospect = await session.get(Prospect, built.prospect_id)
        assert prospect is not None
        newcomer = await make_contact(session, prospect, "neu@zoë.example")
        await make_content(session, newcomer, subject="Hallo")
    found = await poll()
    assert found["contacts"][-1]["email"] == "neu@zoë.example"
    assert found["sequence"][-1]["status"] == "not_enrolled"
    assert polls == 11
