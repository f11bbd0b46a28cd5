"""The sequence panel, the step template editor and the prospect page's controls,
through the Quart test client on a real database."""

from __future__ import annotations

import re

from quart.typing import TestClientProtocol as Client
from sqlalchemy import select

from tests.support.factories import (
    enrollment_of,
    make_campaign,
    make_contact,
    make_content,
    make_prospect,
)
from tests.support.signin import page, post_form
from webapp.core.models import Campaign, SequenceStep
from webapp.sequences import steps
from webapp.sequences.scheduler import enroll
from webapp.web.services import Services

HTMX = {"HX-Request": "true"}


async def campaign_with_steps(tune: Services, follow_ups: int = 0) -> int:
    async with tune.db.write() as session:
        campaign = await make_campaign(session, "Sequence push")
        await steps.ensure_first_step(session, campaign.id)
        for _ in range(follow_ups):
            await steps.add_step(session, campaign.id, "P2D")
        return campaign.id


async def step_rows(tune: Services, campaign_id: int) -> list[tuple[int, str, bool]]:
    async with tune.db.read() as session:
        rows = await session.scalars(
            select(SequenceStep)
            .where(SequenceStep.campaign_id == campaign_id)
            .order_by(SequenceStep.position)
        )
        return [(s.position, s.delay, s.enabled) for s in rows]


async def test_the_campaign_page_shows_the_steps_as_a_timeline(
    tune: Services, signed_in: Client
) -> None:
    campaign_id = await campaign_with_steps(tune, follow_ups=2)
    status, html = await page(signed_in, f"/campaigns/{campaign_id}")
    assert status == 200
    assert re.findall(r'data-step="(\d+)"', html) == ["1", "2", "3"]
    assert "after P2D" in html and "no reply yet" in html


async def test_adding_editing_moving_disabling_and_deleting_steps(
    tune: Services, signed_in: Client
) -> None:
    campaign_id = await campaign_with_steps(tune)
    base = f"/campaigns/{campaign_id}"
    answer = await post_form(
        signed_in,
        f"{base}/steps",
        {"delay": "P3D", "condition": "no_reply", "as_reply": "true"},
        headers=HTMX,
    )
    assert answer.status_code == 200
    assert "Follow-up added." in await answer.get_data(as_text=True)
    # Without HTMX: post/redirect/get, so reloading the page adds nothing again.
    plain = await post_form(
        signed_in, f"{base}/steps", {"delay": "PT4H", "condition": "opened_no_reply"}
    )
    assert plain.status_code == 303
    assert plain.headers["Location"] == f"{base}#sequence"
    assert await step_rows(tune, campaign_id) == [
        (1, "PT0S", True),
        (2, "P3D", True),
        (3, "PT4H", True),
    ]

    await post_form(signed_in, f"{base}/steps/3/up", {}, headers=HTMX)
    assert [r[1] for r in await step_rows(tune, campaign_id)] == ["PT0S", "PT4H", "P3D"]
    await post_form(
        signed_in, f"{base}/steps/2", {"delay": "P1D", "condition": "no_reply"}, headers=HTMX
    )
    await post_form(signed_in, f"{base}/steps/3/toggle", {}, headers=HTMX)
    assert await step_rows(tune, campaign_id) == [
        (1, "PT0S", True),
        (2, "P1D", True),
        (3, "P3D", False),
    ]
    await post_form(signed_in, f"{base}/steps/2/delete", {}, headers=HTMX)
    assert await step_rows(tune, campaign_id) == [(1, "PT0S", True), (2, "P3D", False)]


async def test_a_bad_delay_is_refused_with_a_readable_message(
    tune: Services, signed_in: Client
) -> None:
    campaign_id = await campaign_with_steps(tune)
    answer = await post_form(
        signed_in, f"/campaigns/{campaign_id}/steps", {"delay": "3 days"}, headers=HTMX
    )
    assert answer.status_code == 200  # HTMX swaps the panel with the refusal in an alert
    alert = re.search(r'role="alert">([^<]*)<', await answer.get_data(as_text=True))
    assert alert and "is not an ISO 8601 duration" in alert.group(1)
    page_answer = await post_form(signed_in, f"/campaigns/{campaign_id}/steps", {"delay": "x"})
    assert page_answer.status_code == 422
    assert "is not an ISO 8601 duration" in await page_answer.get_data(as_text=True)
    assert await step_rows(tune, campaign_id) == [(1, "PT0S", True)]


async def test_a_step_that_sent_cannot_be_deleted_only_disabled(
    tune: Services, signed_in: Client
) -> None:
    campaign_id = await campaign_with_steps(tune, follow_ups=1)
    async with tune.db.write() as session:
        campaign = await session.get(Campaign, campaign_id)
        assert campaign is not None
        contact = await make_contact(session, await make_prospect(session, campaign))
        await make_content(session, contact, step=2, send_status="sent")
    answer = await post_form(signed_in, f"/campaigns/{campaign_id}/steps/2/delete", {})
    assert answer.status_code == 409
    assert "disable it instead" in await answer.get_data(as_text=True)
    assert len(await step_rows(tune, campaign_id)) == 2


async def test_the_step_editor_previews_the_thread_and_names_the_line_of_an_error(
    tune: Services, signed_in: Client
) -> None:
    campaign_id = await campaign_with_steps(tune, follow_ups=1)
    path = f"/campaigns/{campaign_id}/steps/2/templates"
    status, html = await page(signed_in, path)
    assert status == 200
    assert "Step 2 · Subject:" in html and "Step 1 · Subject:" in html
    preview = await post_form(
        signed_in,
        f"{path}/all/preview",
        {"subject": "Nudge", "html": "<p>Ping {{ contact.first_name }}</p>"},
    )
    text = await preview.get_data(as_text=True)
    assert "Ping Jane" in text and "Re: " in text

    broken = await post_form(
        signed_in, f"{path}/2", {"subject": "Nudge", "html": "<p>ok</p>\n{% if %}"}
    )
    assert broken.status_code == 422
    assert "Line 2 of the body" in await broken.get_data(as_text=True)

    saved = await post_form(
        signed_in, f"{path}/all?variant=B", {"subject": "B", "html": "<p>Variant B</p>"}
    )
    assert saved.status_code == 303
    status, html = await page(signed_in, f"{path}?variant=B")
    assert "Variant B" in html and "Add variant C" in html


async def test_the_prospect_page_stops_pauses_and_resumes_its_contacts(
    tune: Services, signed_in: Client
) -> None:
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
        await steps.add_step(session, campaign.id, "P2D")
        prospect = await make_prospect(session, campaign, "Acme")
        contact = await make_contact(session, prospect, "ada@acme.example")
        await make_content(session, contact, send_status="sent", message_id="<1@t.test>")
        await enroll(session, campaign.id)
    path = f"/prospects/{prospect.id}"

    status, html = await page(signed_in, path)
    assert status == 200 and "Stop sequence" in html and "ada@acme.example" in html
    paused = await post_form(
        signed_in, f"{path}/sequence/pause", {"until": "2099-01-01"}, headers=HTMX
    )
    assert "1 contact(s) paused." in await paused.get_data(as_text=True)
    assert (await enrollment_of(tune.db, contact.id)).status == "paused"
    await post_form(signed_in, f"{path}/sequence/resume", {}, headers=HTMX)
    assert (await enrollment_of(tune.db, contact.id)).status == "active"
    stopped = await post_form(signed_in, f"{path}/sequence/stop", {}, headers=HTMX)
    assert "stopped by a rep" in await stopped.get_data(as_text=True)
    late = await post_form(
        signed_in, f"{path}/sequence/pause", {"until": "2001-01-01"}, headers=HTMX
    )
    assert "until must be in the future" in await late.get_data(as_text=True)
    assert (await enrollment_of(tune.db, contact.id)).status == "stopped"
