"""CSRF: every state-changing dashboard request needs the session's token."""

from __future__ import annotations

from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client
from sqlalchemy import func, select

from tests.support.factories import make_campaign, make_recipient, make_user
from tests.support.signin import PASSWORD, csrf_of, login, token
from webapp.core.models import ApiKey, Campaign, Contact
from webapp.web.services import Services

FORMS: dict[str, dict[str, str]] = {
    "/campaigns": {"name": "Sneaky", "industry": "casino"},
    "/campaigns/{cid}/templates/1": {"subject": "Hi", "html": "<p>x</p>"},
    "/campaigns/{cid}/templates/1/preview": {"subject": "Hi", "html": "<p>x</p>"},
    "/campaigns/{cid}/import": {},
    "/keys": {"name": "sneaky"},
    "/keys/{kid}/revoke": {},
    "/logout": {},
}


@pytest.fixture
async def ids(tune: Services) -> dict[str, int]:
    async with tune.db.write() as session:
        await make_user(session)
        campaign = await make_campaign(session)
        key = ApiKey(name="existing", prefix="tune_abcd", key_hash="0" * 64)
        session.add(key)
        await session.flush()
        return {"cid": campaign.id, "kid": key.id}


@pytest.mark.parametrize("path", list(FORMS))
async def test_state_changes_without_the_token_are_refused(
    client: Client, ids: dict[str, int], path: str
) -> None:
    await login(client)
    url = path.format(**ids)
    for headers, extra in (({}, {}), ({"X-CSRF-Token": "forged"}, {}), ({}, {"csrf_token": "x"})):
        response = await client.post(url, form={**FORMS[path], **extra}, headers=headers)
        assert response.status_code == 403, (url, headers, extra)
        assert "reload the page" in await response.get_data(as_text=True)
    # Still signed in, and nothing changed.
    assert (await client.get("/campaigns")).status_code == 200


async def test_htmx_requests_carry_the_token_in_a_header(
    client: Client, ids: dict[str, int]
) -> None:
    await login(client)
    html = await (await client.get("/campaigns")).get_data(as_text=True)
    csrf = csrf_of(html)
    assert f'hx-headers=\'{{"X-CSRF-Token": "{csrf}"}}\'' in html
    response = await client.post(
        f"/campaigns/{ids['cid']}/templates/1/preview",
        form={"subject": "Hi", "html": "<p>x</p>"},
        headers={"HX-Request": "true", "X-CSRF-Token": csrf},
    )
    assert response.status_code == 200


async def test_nothing_is_written_by_a_refused_request(
    client: Client, tune: Services, ids: dict[str, int]
) -> None:
    await login(client)
    await client.post("/campaigns", form=FORMS["/campaigns"])
    await client.post(f"/keys/{ids['kid']}/revoke", form={})
    async with tune.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Campaign)) == 1
        key = await session.get(ApiKey, ids["kid"])
        assert key is not None and key.revoked_at is None


async def test_the_sign_in_form_needs_its_token_too(client: Client, ids: dict[str, int]) -> None:
    response = await client.post("/login", form={"email": "rep@example.com", "password": PASSWORD})
    assert response.status_code == 403
    assert (await client.get("/campaigns")).status_code == 302


async def test_the_token_changes_at_sign_in(client: Client, ids: dict[str, int]) -> None:
    before = csrf_of(await (await client.get("/login")).get_data(as_text=True))
    await login(client)
    assert await token(client) != before


async def test_api_and_public_tracking_are_not_subject_to_csrf(
    client: Client, tune: Services, auth: dict[str, Any]
) -> None:
    response = await client.post(
        "/api/campaigns/create", json={"name": "Via API", "industry": "casino"}, headers=auth
    )
    assert response.status_code == 201
    async with tune.db.write() as session:
        content = await make_recipient(session)
    unsubscribe = await client.post(f"/t/u/{tune.signer.unsubscribe_token(content.id)}")
    assert unsubscribe.status_code == 200
    async with tune.db.read() as session:
        contact = await session.get(Contact, content.contact_id)
        assert contact is not None and contact.unsubscribed_at is not None
