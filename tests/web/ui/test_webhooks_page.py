"""The Webhooks page: add an endpoint (secret shown once), switch, rotate, resend, delete."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from quart.typing import TestClientProtocol as Client
from sqlalchemy import select

from tests.support.factories import make_recipient
from tests.support.signin import page, post_form, token
from webapp.core.models import WebhookDelivery, WebhookEndpoint, utcnow
from webapp.tracking.events import OpenEvent
from webapp.web.services import Services


async def add(client: Client, **fields: str) -> Any:
    """Post the New endpoint form with two event boxes ticked, as a browser encodes it."""
    form = {"url": "https://crm.example/hook", **fields}
    pairs = [*form.items(), ("events", "open"), ("events", "reply")]
    pairs.append(("csrf_token", await token(client, "/webhooks")))
    return await client.post(
        "/webhooks",
        data=urlencode(pairs),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


async def test_add_shows_the_secret_once_and_keeps_it_encrypted(
    signed_in: Client, tune: Services
) -> None:
    response = await add(signed_in, description="CRM sync")
    assert response.status_code == 303 and response.headers["Location"] == "/webhooks/1"
    status, html = await page(signed_in, "/webhooks/1")
    assert status == 200
    secret = html.split('id="new-secret">')[1].split("<")[0]
    assert secret.startswith("whsec_")
    assert secret not in (await page(signed_in, "/webhooks/1"))[1]  # once
    assert secret not in (await page(signed_in, "/webhooks"))[1]
    async with tune.db.read() as session:
        endpoint = await session.get(WebhookEndpoint, 1)
    assert endpoint is not None and endpoint.events == ["open", "reply"]
    assert secret not in endpoint.secret_encrypted


async def test_a_bad_url_is_refused_with_the_form_kept(signed_in: Client) -> None:
    response = await add(signed_in, url="ftp://crm.example/hook")
    assert response.status_code == 422
    html = await response.get_data(as_text=True)
    assert "url must be an http(s) URL" in html and 'value="ftp://crm.example/hook"' in html


async def test_forms_without_the_csrf_token_are_refused(signed_in: Client) -> None:
    response = await signed_in.post(
        "/webhooks", form={"url": "https://crm.example/hook", "events": "open"}
    )
    assert response.status_code in {400, 403}
    assert (await page(signed_in, "/webhooks"))[1].count("/webhooks/1") == 0


async def test_switch_rotate_resend_and_delete(signed_in: Client, tune: Services) -> None:
    await add(signed_in)
    async with tune.db.write() as session:
        content = await make_recipient(session)
    await tune.writer.record(OpenEvent(content.id, source="api"))
    async with tune.db.write() as session:
        row = await session.scalar(select(WebhookDelivery))
        assert row is not None
        row.status, row.last_status_code, row.body = "delivered", 200, "{}"
        endpoint = await session.get(WebhookEndpoint, 1)
        assert endpoint is not None
        endpoint.active = False
        endpoint.disabled_at = utcnow()
        endpoint.disabled_reason = "failing since yesterday (last: answered 502)"
    listing = (await page(signed_in, "/webhooks"))[1]
    assert "was switched off" in listing and "answered 502" in listing

    switched = await post_form(signed_in, "/webhooks/1/active", {"active": "on"})
    assert switched.status_code == 303
    detail = (await page(signed_in, "/webhooks/1"))[1]
    assert "Switched off" not in detail and "Switch off" in detail
    assert "delivered" in detail and ">200<" in detail

    rotated = await post_form(signed_in, "/webhooks/1/rotate", {})
    assert rotated.status_code == 303
    assert "previous secret keeps signing" in (await page(signed_in, "/webhooks/1"))[1]

    resent = await post_form(signed_in, f"/webhooks/1/deliveries/{row.id}/resend", {})
    assert resent.status_code == 303
    async with tune.db.read() as session:
        rows = list(await session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))
    assert [r.status for r in rows] == ["delivered", "pending"]
    assert rows[0].message_id == rows[1].message_id

    deleted = await post_form(signed_in, "/webhooks/1/delete", {})
    assert deleted.status_code == 303 and deleted.headers["Location"] == "/webhooks"
    assert (await page(signed_in, "/webhooks/1"))[0] == 404
