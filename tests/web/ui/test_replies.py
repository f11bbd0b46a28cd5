"""Replies on the prospect page and the campaign's Replies list; the rep corrects a label."""

from __future__ import annotations

from typing import Any

from tests.support.factories import make_user
from tests.support.inbox import MESSAGES, NOW, sent_campaign
from tests.support.signin import login, page, post_form
from webapp.core.models import Reply
from webapp.inbox.message import parse_message
from webapp.inbox.outcomes import handle_inbound
from webapp.web.services import Services


async def received(tune: Services, *names: str) -> Any:
    sent = await sent_campaign(tune.db)
    async with tune.db.write() as session:
        await make_user(session)
        for name in names:
            await handle_inbound(session, parse_message((MESSAGES / name).read_bytes()), now=NOW)
    return sent


async def test_the_prospect_page_shows_the_reply_text_and_its_label(
    client: Any, tune: Services
) -> None:
    sent = await received(tune, "reply_gmail.eml")
    await login(client)
    async with tune.db.read() as session:
        reply = (await session.execute(Reply.__table__.select())).first()
    assert reply is not None
    status, html = await page(client, f"/prospects/{reply.prospect_id}")
    assert status == 200
    assert "Could we set up a call on Thursday afternoon?" in html
    assert "Teams like Acme Foods" not in html  # quoted history stays out
    assert 'data-classification="positive"' in html
    assert sent.campaign_id


async def test_the_rep_corrects_a_label_and_the_replies_list_follows(
    client: Any, tune: Services
) -> None:
    sent = await received(tune, "reply_gmail.eml", "reply_outlook.eml", "reply_apple.eml")
    await login(client)
    status, html = await page(client, f"/campaigns/{sent.campaign_id}/replies")
    assert status == 200
    assert html.count('class="reply"') == 3
    assert "k.weber@brauerei-nord.example" in html and "kein Interesse" in html

    status, negative = await page(client, f"/campaigns/{sent.campaign_id}/replies?label=negative")
    assert negative.count('class="reply"') == 1

    async with tune.db.read() as session:
        apple = (
            await session.execute(Reply.__table__.select().where(Reply.sender.like("m.lopez%")))
        ).first()
    assert apple is not None and apple.classification == "neutral"
    response = await post_form(
        client, f"/replies/{apple.id}/label", {"label": "positive"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    fragment = await response.get_data(as_text=True)
    assert 'data-classification="positive"' in fragment and "set by a rep" in fragment
    _, positive = await page(client, f"/campaigns/{sent.campaign_id}/replies?label=positive")
    assert positive.count('class="reply"') == 2

    refused = await post_form(client, f"/replies/{apple.id}/label", {"label": "furious"})
    assert refused.status_code == 422
    unsigned = await client.post(f"/replies/{apple.id}/label", form={"label": "negative"})
    assert unsigned.status_code == 403
