"""The Webhooks page: endpoints, their recent deliveries, and what a rep can do to them.

Every form posts, then redirects (post/redirect/get). A new or rotated secret
travels to the page that shows it in the signed session cookie and is removed
from it by that page: it is shown once and never rendered again.
"""

from __future__ import annotations

from typing import Any

from quart import g, redirect, render_template, request, session

from webapp.core.errors import ValidationFailed
from webapp.core.logs import get_logger
from webapp.web.services import services
from webapp.web.ui import blueprint
from webapp.webhooks import deliveries, endpoints

log = get_logger(__name__)
SHOWN_SECRET = "webhook_secret"  # noqa: S105 (a session key, not a secret)


async def _list_page(error: str | None = None, form: Any = None, status: int = 200) -> Any:
    async with services().db.read() as db_session:
        found = await endpoints.list_endpoints(db_session)
        waiting = await deliveries.waiting_counts(db_session)
    html = await render_template(
        "webhooks.html",
        endpoints=found,
        waiting=waiting,
        event_types=endpoints.EVENT_TYPES,
        shown=session.pop(SHOWN_SECRET, None),
        error=error,
        form=form or {},
        chosen=form.getlist("events") if form else ["reply"],
    )
    return html, status


@blueprint.get("/webhooks")
async def webhooks_page() -> Any:
    return await _list_page()


@blueprint.post("/webhooks")
async def webhook_create() -> Any:
    form = await request.form
    tune = services()
    try:
        async with tune.db.write() as db_session:
            created = await endpoints.create_endpoint(
                db_session,
                app_secret=tune.config.secret_key,
                url=form.get("url", ""),
                events=form.getlist("events"),
                description=form.get("description", ""),
                include_flagged=form.get("include_flagged") == "on",
                production=tune.config.is_production,
                allow_private=tune.config.allow_private_webhooks,
            )
    except ValidationFailed as error:
        return await _list_page(error=error.message, form=form, status=422)
    log.info("webhook_created_in_dashboard", endpoint_id=created.endpoint.id, user_id=g.user.id)
    session[SHOWN_SECRET] = {"id": created.endpoint.id, "secret": created.secret}
    return redirect(f"/webhooks/{created.endpoint.id}", 303)


@blueprint.get("/webhooks/<int:endpoint_id>")
async def webhook_page(endpoint_id: int) -> Any:
    async with services().db.read() as db_session:
        endpoint = await endpoints.get_endpoint(db_session, endpoint_id)
        recent = await deliveries.recent_deliveries(db_session, endpoint_id)
    shown = session.pop(SHOWN_SECRET, None)
    if shown and shown.get("id") != endpoint_id:
        shown = None
    return await render_template("webhook.html", endpoint=endpoint, deliveries=recent, shown=shown)


@blueprint.post("/webhooks/<int:endpoint_id>/active")
async def webhook_switch(endpoint_id: int) -> Any:
    """Switch on (clearing a failure notice) or off."""
    form = await request.form
    async with services().db.write() as db_session:
        await endpoints.update_endpoint(db_session, endpoint_id, active=form.get("active") == "on")
    return redirect(f"/webhooks/{endpoint_id}", 303)


@blueprint.post("/webhooks/<int:endpoint_id>/rotate")
async def webhook_rotate(endpoint_id: int) -> Any:
    tune = services()
    async with tune.db.write() as db_session:
        secret = await endpoints.rotate_secret(
            db_session, endpoint_id, app_secret=tune.config.secret_key
        )
    log.info("webhook_secret_rotated_in_dashboard", endpoint_id=endpoint_id, user_id=g.user.id)
    session[SHOWN_SECRET] = {"id": endpoint_id, "secret": secret, "rotated": True}
    return redirect(f"/webhooks/{endpoint_id}", 303)


@blueprint.post("/webhooks/<int:endpoint_id>/delete")
async def webhook_delete(endpoint_id: int) -> Any:
    async with services().db.write() as db_session:
        await endpoints.delete_endpoint(db_session, endpoint_id)
    log.info("webhook_deleted_in_dashboard", endpoint_id=endpoint_id, user_id=g.user.id)
    return redirect("/webhooks", 303)


@blueprint.post("/webhooks/<int:endpoint_id>/deliveries/<int:delivery_id>/resend")
async def webhook_resend(endpoint_id: int, delivery_id: int) -> Any:
    tune = services()
    async with tune.db.write() as db_session:
        await deliveries.resend(db_session, endpoint_id, delivery_id)
    if tune.dispatcher is not None:
        tune.dispatcher.wake()
    return redirect(f"/webhooks/{endpoint_id}", 303)
