"""API keys in the dashboard: list (newest first), create (shown once in clear), revoke.

Creating follows post/redirect/get: the new key travels to the next page view
encrypted in the session cookie (Fernet under a key derived from TUNE_SECRET_KEY)
and is dropped once shown, so reloading the page neither creates a second key nor
shows the first one again.
"""

from __future__ import annotations

from typing import Any

from quart import g, redirect, render_template, request, session

from webapp.accounts import apikeys
from webapp.core.errors import ValidationFailed
from webapp.core.logs import get_logger
from webapp.web.services import services
from webapp.web.ui import blueprint
from webapp.webhooks.signing import SecretUnreadable, decrypt_secret, encrypt_secret

log = get_logger(__name__)
CREATED_KEY = "created_key"
"""Session entry holding the key just created (encrypted) until the keys page shows it."""


async def _keys_page(error: str | None = None, status: int = 200) -> Any:
    tune = services()
    async with tune.db.read() as db_session:
        keys = await apikeys.list_keys(db_session)
    created = _take_created(tune.config.secret_key)
    bootstrap = tune.config.bootstrap_api_key
    html = await render_template(
        "keys.html",
        keys=keys,
        created=created,
        error=error,
        bootstrap_hash=apikeys.digest(bootstrap) if bootstrap else None,
        request_key_id=g.get("api_key_id"),
    )
    return html, status


def _take_created(app_secret: str) -> dict[str, Any] | None:
    """The key created just before this view, once (None after, or if it cannot be read)."""
    stored = session.pop(CREATED_KEY, None)
    if not isinstance(stored, dict):
        return None
    try:
        return {"name": str(stored["name"]), "key": decrypt_secret(app_secret, stored["key"])}
    except (KeyError, TypeError, ValueError, SecretUnreadable):
        return None


@blueprint.get("/keys")
async def keys_page() -> Any:
    return await _keys_page()


@blueprint.post("/keys")
async def key_create() -> Any:
    form = await request.form
    tune = services()
    try:
        async with tune.db.write() as db_session:
            created = await apikeys.create_key(db_session, form.get("name", ""))
    except ValidationFailed as error:
        return await _keys_page(error=error.message, status=422)
    log.info("api_key_created_in_dashboard", key_id=created.id, user_id=g.user.id)
    session[CREATED_KEY] = {
        "name": created.name,
        "key": encrypt_secret(tune.config.secret_key, created.key),
    }
    return redirect("/keys", 303)


@blueprint.post("/keys/<int:key_id>/revoke")
async def key_revoke(key_id: int) -> Any:
    async with services().db.write() as db_session:
        await apikeys.revoke_key(db_session, key_id)
    log.info("api_key_revoked_in_dashboard", key_id=key_id, user_id=g.user.id)
    return redirect("/keys", 303)
