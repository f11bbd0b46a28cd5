"""The sending panel: "Send tier N" queues each email once and shows the progress."""

from __future__ import annotations

from quart.typing import TestClientProtocol as Client
from sqlalchemy import select

from tests.support.dashboard import seed
from tests.support.signin import csrf_of, page
from webapp.core.models import Content
from webapp.web.services import Services


async def test_send_tier_button_queues_once_and_shows_progress(
    signed_in: Client, tune: Services
) -> None:
    ids = await seed(tune)
    campaign = ids["campaign"]
    status, html = await page(signed_in, f"/campaigns/{campaign}")
    assert status == 200
    assert "Send tier 1" in html and 'data-send="queued">0<' in html
    assert "No SMTP relay is configured" in html
    csrf = csrf_of(html)
    first = await signed_in.post(
        f"/campaigns/{campaign}/send",
        form={"tier": "1", "csrf_token": csrf},
        headers={"HX-Request": "true"},
    )
    panel = await first.get_data(as_text=True)
    assert first.status_code == 200
    # Tier 1 has three contacts: all queued, and the panel polls while they wait.
    assert 'data-send="queued">3<' in panel
    assert 'hx-trigger="every 3s"' in panel
    assert "Queued 3 emails of tier 1" in panel
    again = await signed_in.post(
        f"/campaigns/{campaign}/send", form={"tier": "1", "csrf_token": csrf}
    )
    assert again.status_code == 303
    async with tune.db.read() as session:
        statuses = (
            await session.scalars(
                select(Content.send_status).where(Content.campaign_id == campaign)
            )
        ).all()
    assert sorted(statuses).count("queued") == 3
    forged = await signed_in.post(f"/campaigns/{campaign}/send", form={"tier": "2"})
    assert forged.status_code == 403
    bad = await signed_in.post(
        f"/campaigns/{campaign}/send", form={"tier": "7", "csrf_token": csrf}
    )
    assert bad.status_code == 422
