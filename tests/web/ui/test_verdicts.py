"""A rep marks one open or click human or machine (page and API); the campaign page
shows why its machine opens and bot clicks were flagged."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from tests.support.counts import counters
from tests.support.factories import make_campaign, make_recipient
from tests.support.signin import page, post_form
from webapp.core.models import Event, Link, utcnow
from webapp.tracking.events import ClickEvent, Hit
from webapp.web.services import Services

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0"


async def clicked(tune: Services) -> tuple[int, int, int]:
    """A human click on a sent email; (campaign id, prospect id, event id)."""
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
        content = await make_recipient(session, campaign, urls=("https://example.com/a",),
                                       sent_at=utcnow() - timedelta(hours=2))  # fmt: skip
        link_id = await session.scalar(select(Link.id).where(Link.content_id == content.id))
    person = Hit(user_agent=CHROME, ip="203.0.113.5", ip_hash="p", ip_prefix="203.0.113.0/24")
    await tune.writer.record(ClickEvent(content.id, source="link", link_id=link_id, hit=person))
    async with tune.db.read() as session:
        event_id = await session.scalar(select(Event.id).where(Event.source == "link"))
    assert event_id is not None
    return campaign.id, content.prospect_id, event_id


async def human(tune: Services) -> tuple[int, int]:
    figures = await counters(tune)
    return figures.get("click_unique", 0), figures.get("open_unique", 0)


async def test_a_rep_marks_a_click_machine_then_human_from_the_timeline(
    signed_in: Any, tune: Services
) -> None:
    campaign_id, prospect_id, event_id = await clicked(tune)
    assert await human(tune) == (1, 1)
    _, html = await page(signed_in, f"/prospects/{prospect_id}")
    assert f'action="/events/{event_id}/verdict"' in html and "Mark machine" in html
    answer = await post_form(signed_in, f"/events/{event_id}/verdict",
                             {"human": "false", "next": f"/prospects/{prospect_id}"})  # fmt: skip
    assert answer.status_code in (302, 303)
    assert answer.headers["Location"].endswith(f"/prospects/{prospect_id}")
    assert await human(tune) == (0, 0)  # the click and the open it implied
    _, html = await page(signed_in, f"/prospects/{prospect_id}")
    assert "Mark human" in html and "marked_by_rep" in html
    _, html = await page(signed_in, f"/campaigns/{campaign_id}")
    section = html[html.index('id="h-flag-reasons"') :]
    assert re.search(r"bot clicks</td><th scope=\"row\"><code>marked_by_rep</code></th>"
                     r"<td class=\"num\">1</td>", section)  # fmt: skip
    await post_form(signed_in, f"/events/{event_id}/verdict", {"human": "true", "next": "/"})
    assert await human(tune) == (1, 1)


async def test_a_verdict_needs_the_form_token(signed_in: Any, tune: Services) -> None:
    _, _, event_id = await clicked(tune)
    refused = await signed_in.post(f"/events/{event_id}/verdict", form={"human": "false"})
    assert refused.status_code in (400, 403)
    assert await human(tune) == (1, 1)


async def test_the_api_marks_events_and_lists_flag_reasons(
    client: Any, tune: Services, api_key: str
) -> None:
    campaign_id, _, event_id = await clicked(tune)
    auth = {"X-API-Key": api_key}
    answer = await client.post(f"/api/events/{event_id}/verdict", json={"human": False},
                               headers=auth)  # fmt: skip
    assert answer.status_code == 200
    body = await answer.get_json()
    assert body["human"] is False and body["changes"].startswith("1 clicks reclassified as bot")
    flags = await (await client.get(f"/api/campaigns/{campaign_id}/flags", headers=auth)).get_json()
    assert flags == {
        "campaign_id": campaign_id,
        "items": [{"kind": "click", "reason": "marked_by_rep", "count": 1}],
    }
    missing = await client.post("/api/events/999999/verdict", json={"human": True}, headers=auth)
    assert missing.status_code == 404
    bad = await client.post(f"/api/events/{event_id}/verdict", json={"human": "maybe"},
                            headers=auth)  # fmt: skip
    assert bad.status_code in (400, 422)
    assert "error" in await bad.get_json()
