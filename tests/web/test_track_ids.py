"""An email's ids outlive it: its tracking links and the API's event cursors still name
the ids of an email discarded when its tier's template changed, so another email must
never be given them.

The drafts' links leave Tune before they are sent: the API lists each draft with its
pixel, tracked links and unsubscribe link for senders of their own, and a rep clicks a
previewed link. Saving the template discards the drafts (`discard_drafts`) with their
links and events; the next emails written, of any campaign, are new ones. A link of
a discarded draft clicked before (its answer kept by the tracking fast path, its link
cached) is a 404 page all the same, and its unsubscribe link says the email is gone.

Every test runs through Quart's test client and through the ASGI entry point (where
the tracking fast path answers pixels and links), against the same expectations.
"""

from __future__ import annotations

from typing import Any

import pytest
from quart import Quart
from sqlalchemy import select

from tests.support.asgiclient import AsgiClient
from tests.support.factories import make_campaign, make_contact, make_prospect
from webapp.core.models import Contact, Event
from webapp.outbound.contents import save_template
from webapp.web.services import Services
from webapp.web.track import EMAIL_GONE, NOT_VALID

Client = Any
"""Quart's test client, or `AsgiClient`: the same interface for what the tests use."""


@pytest.fixture(params=["quart", "asgi"])
def client(request: pytest.FixtureRequest, app: Quart) -> Client:
    return app.test_client() if request.param == "quart" else AsgiClient(app)


LINK = '<p>Hi {{ contact.first_name }}, <a href="https://{{ prospect.domain }}/offer">see</a></p>'


async def draft(client: Client, auth: dict[str, str], tune: Services, name: str) -> Any:
    """A new campaign with one contact, `name`, and its draft generated through the API."""
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
        prospect = await make_prospect(session, campaign, domain=f"{name}.example")
        await make_contact(session, prospect, email=f"{name}@{name}.example", first_name=name)
        await save_template(session, campaign.id, 1, "Hi", LINK)
    generate = await client.post(f"/api/campaigns/{campaign.id}/contents/generate", headers=auth)
    assert generate.status_code == 200, await generate.get_data()
    listing = await client.get(f"/api/campaigns/{campaign.id}/contents", headers=auth)
    [item] = (await listing.get_json())["items"]
    return item


async def discard(tune: Services, content: Any) -> None:
    """The rep edits the draft's template: the draft, its links and events are deleted."""
    async with tune.db.write() as session:
        await save_template(session, content["campaign_id"], 1, "Hello", LINK)


def path_of(url: str) -> str:
    return url.removeprefix("http://tune.test")


async def test_a_discarded_emails_links_never_reach_a_later_email(
    client: Client, auth: dict[str, str], tune: Services
) -> None:
    ann = await draft(client, auth, tune, "ann")
    await discard(tune, ann)
    bob = await draft(client, auth, tune, "bob")

    pixel = await client.get(path_of(ann["pixel_url"]))
    assert pixel.status_code == 200 and (await pixel.get_data()).startswith(b"GIF89a")
    clicked = await client.get(path_of(ann["links"][0]["tracked_url"]))
    assert clicked.headers.get("Location") is None and clicked.status_code == 404, clicked.headers
    assert "Link not found" in await clicked.get_data(as_text=True)
    unsubscribe = await client.post(path_of(ann["unsubscribe_url"]))
    assert unsubscribe.status_code == 404, await unsubscribe.get_data(as_text=True)
    assert EMAIL_GONE in await unsubscribe.get_data(as_text=True)

    async with tune.db.read() as session:
        assert list(await session.scalars(select(Event.kind))) == []
        contact = await session.get(Contact, bob["contact_id"])
    assert contact is not None and contact.unsubscribed_at is None
    # Bob's own links still lead to his email.
    again = await client.get(path_of(bob["links"][0]["tracked_url"]))
    assert again.headers["Location"] == "https://bob.example/offer"


async def test_a_discarded_drafts_link_clicked_before_is_404_and_forgotten(
    client: Client, auth: dict[str, str], tune: Services, app: Quart
) -> None:
    """Clicked while a draft (a rep's preview): its link cached, its 302 kept by the fast
    path. Once the draft is discarded the writer finds its email gone: no redirect."""
    ann = await draft(client, auth, tune, "ann")
    link = path_of(ann["links"][0]["tracked_url"])
    previewed = await client.get(link)
    assert previewed.headers["Location"] == "https://ann.example/offer"
    await discard(tune, ann)  # the previewed click goes with the draft
    bad = await client.get("/t/c/nonsense")

    for _ in range(2):
        clicked = await client.get(link)
        assert clicked.status_code == 404, clicked.headers
        assert clicked.headers.get("Location") is None
        assert await clicked.get_data() == await bad.get_data()  # the bad link's page
        assert clicked.headers["Referrer-Policy"] == "no-referrer"
    assert tune.link_cache.get((ann["id"], 0)) is None
    layer: Any = app.asgi_app  # the tracking fast path
    assert layer.answers.get(tune, link.rsplit("/", 1)[1]) is None
    async with tune.db.read() as session:
        assert list(await session.scalars(select(Event.kind))) == []


async def test_unsubscribe_pages_tell_a_gone_email_from_a_bad_link(
    client: Client, auth: dict[str, str], tune: Services
) -> None:
    ann = await draft(client, auth, tune, "ann")
    token = ann["unsubscribe_url"].rsplit("/", 1)[1]
    await discard(tune, ann)
    altered = token[:-1] + ("A" if token[-1] != "A" else "B")
    for method in (client.get, client.post):
        gone = await method(path_of(ann["unsubscribe_url"]))
        assert gone.status_code == 404
        assert EMAIL_GONE in await gone.get_data(as_text=True)
        assert NOT_VALID not in await gone.get_data(as_text=True)
        bad = await method(f"/t/u/{altered}")
        assert bad.status_code == 404
        assert NOT_VALID in await bad.get_data(as_text=True)
        assert EMAIL_GONE not in await bad.get_data(as_text=True)


async def test_events_of_a_discarded_email_leave_no_gap_behind_the_cursor(
    client: Client, auth: dict[str, str], tune: Services
) -> None:
    kept = await draft(client, auth, tune, "kept")
    gone = await draft(client, auth, tune, "gone")

    async def opened(content: Any) -> None:
        answer = await client.post(
            "/api/tracking/email-opened",
            query_string={"content_id": content["id"], "contact_id": content["contact_id"]},
            headers=auth,
        )
        assert answer.status_code == 200, await answer.get_data()

    await opened(kept)
    await opened(gone)
    await opened(gone)
    first = await (await client.get("/api/events?limit=2", headers=auth)).get_json()
    assert [item["content_id"] for item in first["items"]] == [kept["id"], gone["id"]]
    await discard(tune, gone)  # its two opens go with it
    await opened(kept)

    rest = await client.get(f"/api/events?cursor={first['next_cursor']}", headers=auth)
    assert [item["content_id"] for item in (await rest.get_json())["items"]] == [kept["id"]]
