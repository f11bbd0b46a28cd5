"""The Mailboxes page: add (password never shown again), change, pause and resume, the
campaign's "Send from" choice and the bottleneck in the sending panel."""

from __future__ import annotations

from quart.typing import TestClientProtocol as Client

from tests.support.factories import add_contacts
from tests.support.signin import page, post_form
from webapp.mailboxes import store
from webapp.web.services import Services

SECRET = "Pa55-w0rd%2Fxyz"
URL = f"smtp://ana:{SECRET}@smtp.tune.test:587"


async def add(client: Client, **fields: str) -> object:
    form = {"name": "ana", "from_address": "ana@sales.tune.test", "smtp_url": URL, **fields}
    return await post_form(client, "/mailboxes", form)


async def test_add_stores_the_password_sealed_and_never_shows_it(
    signed_in: Client, tune: Services
) -> None:
    response = await add(signed_in, hourly_cap="20", daily_cap="50", signature="Ana\nTune")
    assert response.status_code == 303 and response.headers["Location"] == "/mailboxes"  # type: ignore[attr-defined]
    status, html = await page(signed_in, "/mailboxes")
    assert status == 200 and 'data-mailbox="ana"' in html
    assert SECRET not in html and "Pa55" not in html
    status, html = await page(signed_in, "/mailboxes/ana")
    assert status == 200 and "smtp://ana:***@smtp.tune.test:587" in html and "Pa55" not in html

    # Saving the edit form as it is keeps the password.
    changed = await post_form(
        signed_in,
        "/mailboxes/ana",
        {
            "name": "ana",
            "from_address": "ana@sales.tune.test",
            "smtp_url": "smtp://ana:***@smtp.tune.test:587",
            "hourly_cap": "30",
            "daily_cap": "50",
        },
    )
    assert changed.status_code == 303
    async with tune.db.read() as session:
        mailbox = await store.get_mailbox(session, "ana")
        assert mailbox.hourly_cap == 30
        assert store.smtp_settings(tune.config, mailbox).password == "Pa55-w0rd/xyz"


async def test_a_refused_form_comes_back_with_the_password_masked(signed_in: Client) -> None:
    response = await add(signed_in, hourly_cap="500", daily_cap="100")
    assert response.status_code == 422  # type: ignore[attr-defined]
    html = await response.get_data(as_text=True)  # type: ignore[attr-defined]
    assert "hourly_cap cannot be above daily_cap" in html
    assert "Pa55" not in html and "smtp://ana:***@smtp.tune.test:587" in html


async def test_pause_shows_the_reason_and_resume_clears_it(signed_in: Client) -> None:
    await add(signed_in)
    assert (await post_form(signed_in, "/mailboxes/ana/pause", {})).status_code == 303
    html = (await page(signed_in, "/mailboxes"))[1]
    assert "paused by rep@example.com" in html and "Resume mailbox ana" in html
    assert (await post_form(signed_in, "/mailboxes/ana/resume", {})).status_code == 303
    html = (await page(signed_in, "/mailboxes"))[1]
    assert "Pause mailbox ana" in html and "is paused since" not in html


async def test_a_campaign_picks_its_mailboxes_and_the_panel_names_the_bottleneck(
    signed_in: Client, tune: Services
) -> None:
    await add(signed_in, hourly_cap="2", daily_cap="5")
    await add(signed_in, name="ben", from_address="ben@sales.tune.test", hourly_cap="50")
    campaign_id = await add_contacts(tune, 12)
    response = await post_form(
        signed_in, f"/campaigns/{campaign_id}/mailboxes", {"mailboxes": "ana"}
    )
    assert response.status_code == 303
    assert (
        await post_form(signed_in, f"/campaigns/{campaign_id}/send", {"tier": "1"})
    ).status_code == 303
    status, html = await page(signed_in, f"/campaigns/{campaign_id}/sending")
    assert status == 200
    assert (
        'data-mailbox="ana"' in html and "bottleneck" in html and 'data-mailbox="ben"' not in html
    )
    assert 'value="ana" checked' in html and 'value="ben" ' in html
    assert "2 d" in html, "12 emails at 5 a day take more than two days"
