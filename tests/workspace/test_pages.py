"""The follow-up page, the campaign panel and the outcome forms, through the dashboard."""

from __future__ import annotations

from quart.typing import TestClientProtocol as Client

from tests.support.signin import page, post_form
from tests.workspace.test_followups import PERSON, sent
from webapp.tracking.events import ClickEvent, ReplyEvent
from webapp.web.services import Services


async def test_follow_up_page_and_campaign_panel_list_who_to_call(
    signed_in: Client, tune: Services
) -> None:
    replied = await sent(tune, name="Replied Co")
    await tune.writer.record(ReplyEvent(replied.id, source="api"))
    status, html = await page(signed_in, "/followups")
    assert status == 200
    assert "Replied Co" in html and "1 reply" in html and "Ada Byron" in html
    status, html = await page(signed_in, f"/campaigns/{replied.campaign_id}")
    assert 'id="live-followups"' in html and "Replied Co" in html
    poll = await signed_in.get(f"/campaigns/{replied.campaign_id}/live/poll")
    assert "Replied Co" in await poll.get_data(as_text=True)
    live = await signed_in.get("/followups/live/poll")
    assert "Replied Co" in await live.get_data(as_text=True)


async def test_forms_redirect_after_post_and_htmx_gets_the_list(
    signed_in: Client, tune: Services
) -> None:
    first = await sent(tune, name="First Co")
    second = await sent(tune, name="Second Co")
    await tune.writer.record(ClickEvent(first.id, source="link", hit=PERSON))
    await tune.writer.record(ClickEvent(second.id, source="link", hit=PERSON))
    done = await post_form(
        signed_in, f"/followups/{first.prospect_id}/done", {"next": "/followups"}
    )
    assert done.status_code == 303 and done.headers["Location"] == "/followups"
    _, html = await page(signed_in, "/followups")
    assert "First Co" not in html and "Second Co" in html
    outcome = await post_form(
        signed_in,
        f"/prospects/{second.prospect_id}/outcome",
        {"outcome": "wrong_person", "scope": str(second.campaign_id)},
        headers={"HX-Request": "true"},
    )
    assert outcome.status_code == 200
    assert "Nobody to follow up" in await outcome.get_data(as_text=True)
    off_site = await post_form(
        signed_in, f"/followups/{first.prospect_id}/snooze", {"days": "3", "next": "//evil.example"}
    )
    assert off_site.headers["Location"] == "/followups"
    refused = await post_form(signed_in, f"/followups/{first.prospect_id}/snooze", {"days": "0"})
    assert refused.status_code == 422
    without_token = await signed_in.post(
        f"/followups/{first.prospect_id}/done", form={"next": "/followups"}
    )
    assert without_token.status_code in {400, 403}


async def test_prospect_page_records_a_note_on_the_timeline(
    signed_in: Client, tune: Services
) -> None:
    content = await sent(tune)
    _, html = await page(signed_in, f"/prospects/{content.prospect_id}")
    assert "Meeting booked" in html and "Not interested" in html
    response = await post_form(
        signed_in,
        f"/prospects/{content.prospect_id}/outcome",
        {
            "outcome": "note",
            "note": "Asked for <pricing>",
            "next": f"/prospects/{content.prospect_id}",
        },
    )
    assert response.status_code == 303
    _, html = await page(signed_in, f"/prospects/{content.prospect_id}")
    assert "Asked for &lt;pricing&gt;" in html
    assert 'data-kind="note"' in html


async def test_pages_need_a_signed_in_user(client: Client, tune: Services) -> None:
    for path in ("/followups", "/followups/live/poll"):
        assert (await client.get(path)).status_code == 302
    response = await client.post("/followups/1/done")
    assert response.status_code in {302, 303}


async def test_campaign_page_shows_its_status_and_pauses(signed_in: Client, tune: Services) -> None:
    content = await sent(tune)
    path = f"/campaigns/{content.campaign_id}"
    _, html = await page(signed_in, path)
    assert 'data-status="active"' in html and "Pause sending" in html
    paused = await post_form(signed_in, f"{path}/pause", {})
    assert paused.status_code == 303 and paused.headers["Location"] == path
    _, html = await page(signed_in, path)
    assert 'data-status="paused"' in html and "Resume sending" in html
    _, listing = await page(signed_in, "/campaigns")
    assert 'data-status="paused"' in listing
    await post_form(signed_in, f"{path}/resume", {})
    _, html = await page(signed_in, path)
    assert 'data-status="active"' in html
