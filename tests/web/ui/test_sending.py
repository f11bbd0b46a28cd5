"""The sending panel and the send review: "Send tier N" opens a review with its counts and
the emails as they will be sent; the confirm queues each email once (post/redirect/get)."""

from __future__ import annotations

import re

from quart.typing import TestClientProtocol as Client
from sqlalchemy import select

from tests.support.dashboard import seed
from tests.support.factories import make_contact, make_prospect
from tests.support.signin import csrf_of, page
from webapp.core.models import Campaign, Contact, Content, Suppression, utcnow
from webapp.web.services import Services


async def _left_out(tune: Services, campaign_id: int) -> None:
    """Tier 1 also gets an unsubscribed contact, a suppressed one and a prospect without any."""
    async with tune.db.write() as session:
        campaign = await session.get(Campaign, campaign_id)
        assert campaign is not None
        prospect = await make_prospect(session, campaign, "Left Out Ltd", tier=1, score=70)
        await make_prospect(session, campaign, "Nobody Home", tier=1, score=65)
        gone = await make_contact(session, prospect, "gone@leftout.example")
        gone.unsubscribed_at = utcnow()
        await make_contact(session, prospect, "Bounced@LeftOut.example")
        session.add(
            Suppression(email="bounced@leftout.example", reason="hard_bounce", source="smtp")
        )


async def _statuses(tune: Services, campaign_id: int) -> list[str]:
    async with tune.db.read() as session:
        rows = await session.scalars(
            select(Content.send_status).where(Content.campaign_id == campaign_id)
        )
        return sorted(rows)


async def test_send_tier_opens_a_review_and_the_confirm_queues_once(
    signed_in: Client, tune: Services
) -> None:
    ids = await seed(tune)
    campaign = ids["campaign"]
    await _left_out(tune, campaign)
    status, html = await page(signed_in, f"/campaigns/{campaign}")
    assert status == 200
    assert "Send tier 1…" in html and 'data-send="queued">0<' in html
    assert "No mail server is configured" in html
    csrf = csrf_of(html)

    opened = await signed_in.post(
        f"/campaigns/{campaign}/send/review", form={"tier": "1", "csrf_token": csrf}
    )
    assert opened.status_code == 303
    review_url = opened.headers["Location"]
    assert review_url == f"/campaigns/{campaign}/send/review?tier=1"
    status, review = await page(signed_in, review_url)
    assert status == 200
    # Tier 1: Ada, the intern and Sam get it; one unsubscribed, one suppressed, one prospect
    # without any contact are left out, each with its reason.
    assert 'data-review="recipients">3<' in review
    assert 'data-review="excluded">3<' in review
    for reason in ("unsubscribed", "suppressed", "no_email"):
        assert re.search(rf'data-excluded="{reason}">\s*1 ', review), reason
    assert "Confirm: send to 3 contacts" in review
    # The first emails as the sender builds them: tracked links, pixel, one-click unsubscribe.
    assert review.count('<article class="email-review"') == 3
    assert "/t/o/" in review and "/t/c/" in review and "List-Unsubscribe-Post" in review
    assert "Message-ID: &lt;tune." in review
    # The picker shows any recipient's email.
    async with tune.db.read() as session:
        sam = await session.scalar(select(Contact).where(Contact.email == "sam@hotsprings.example"))
        assert sam is not None
    status, one = await page(signed_in, f"{review_url}&contact={sam.id}")
    assert one.count('<article class="email-review"') == 1
    assert re.search(r"<h3>To [^<]*sam@hotsprings\.example", one)

    status, typed = await page(signed_in, f"{review_url}&email=SAM@hotsprings.example")
    assert status == 200 and typed.count('<article class="email-review"') == 1
    status, unknown = await page(signed_in, f"{review_url}&email=who@nowhere.example")
    assert status == 404 and "No contact of this campaign has the address" in unknown
    # Without a mail server the test send says so, on the review, and nothing is queued.
    no_relay = await signed_in.post(
        f"/campaigns/{campaign}/send/test",
        form={"tier": "1", "contact": str(sam.id), "csrf_token": csrf},
    )
    assert no_relay.status_code == 503
    assert "no mail server is configured" in await no_relay.get_data(as_text=True)

    forged = await signed_in.post(f"/campaigns/{campaign}/send", form={"tier": "1"})
    assert forged.status_code == 403
    changed = await signed_in.post(
        f"/campaigns/{campaign}/send", form={"tier": "1", "expected": "2", "csrf_token": csrf}
    )
    assert changed.status_code == 409
    assert "changed from 2 to 3" in await changed.get_data(as_text=True)
    assert "queued" not in await _statuses(tune, campaign)

    confirm = {"tier": "1", "expected": "3", "csrf_token": csrf}
    first = await signed_in.post(f"/campaigns/{campaign}/send", form=confirm)
    assert first.status_code == 303
    assert first.headers["Location"] == f"/campaigns/{campaign}?queued=3#sending"
    again = await signed_in.post(f"/campaigns/{campaign}/send", form=confirm)
    assert again.status_code == 303 and "queued=0" in again.headers["Location"]
    assert (await _statuses(tune, campaign)).count("queued") == 3
    status, after = await page(signed_in, f"/campaigns/{campaign}?queued=3")
    assert "Queued 3 emails." in after
    assert "Sent 0 of 3" in after and "3 to go" in after
    assert "No mail server is configured" in after  # so no finish time is promised
    bad = await signed_in.post(
        f"/campaigns/{campaign}/send", form={"tier": "7", "csrf_token": csrf}
    )
    assert bad.status_code == 422


async def test_htmx_send_still_swaps_the_panel(signed_in: Client, tune: Services) -> None:
    ids = await seed(tune)
    campaign = ids["campaign"]
    _, html = await page(signed_in, f"/campaigns/{campaign}")
    first = await signed_in.post(
        f"/campaigns/{campaign}/send",
        form={"tier": "1", "csrf_token": csrf_of(html)},
        headers={"HX-Request": "true"},
    )
    panel = await first.get_data(as_text=True)
    assert first.status_code == 200
    assert 'data-send="queued">3<' in panel and 'hx-trigger="every 3s"' in panel
    assert "Queued 3 emails of tier 1" in panel
    assert "Sent 0 of 3" in panel and "3 to go" in panel
