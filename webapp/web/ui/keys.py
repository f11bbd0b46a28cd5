"""API keys in the dashboard: list, create (shown once in clear), revoke."""

from __future__ import annotations

from typing import Any

from quart import g, redirect, render_template, request

from webapp.accounts import apikeys
from webapp.core.errors import ValidationFailed
from webapp.core.logs import get_logger
from webapp.web.services import services
from webapp.web.ui import blueprint

log = get_logger(__name__)


async def _keys_page(
    created: apikeys.CreatedKey | None = None, error: str | None = None, status: int = 200
) -> Any:
    async with services().db.read() as db_session:
        keys = await apikeys.list_keys(db_session)
    html = await render_template("keys.html", keys=keys, created=created, error=error)
    return html, status


@blueprint.get("/keys")
async def keys_page() -> Any:
    return await _keys_page()


@blueprint.post("/keys")
async def key_create() -> Any:
    form = await request.form
    try:
        async with services().db.write() as db_session:
            created = await apikeys.create_key(db_session, form.get("name", ""))
    except ValidationFailed as error:
        return await _keys_page(error=error.message, status=422)
    log.info("api_key_created_in_dashboard", key_id=created.id, user_id=g.user.id)
    return await _keys_page(created=created)


@blueprint.post("/keys/<int:key_id>/revoke")
async def key_revoke(key_id: int) -> Any:
    async with services().db.write() as db_session:
        await apikeys.revoke_key(db_session, key_id)
    log.info("api_key_revoked_in_dashboard", key_id=key_id, user_id=g.user.id)
    return redirect("/keys", 303)
