"""The rep's workspace in the dashboard: the "Follow up today" page (the first page after
sign-in), its live updates, and the done / snooze / outcome actions used there, in the
campaign page's follow-up panel and on the prospect page."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

from quart import Quart, current_app, g, redirect, render_template, request
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.campaigns import queries as campaigns
from webapp.core.logs import get_logger
from webapp.tracking.live import LiveHub, all_counters_sum
from webapp.tracking.reclassify import mark_event
from webapp.web.services import services
from webapp.web.ui import blueprint, is_htmx
from webapp.web.ui.auth import safe_next
from webapp.web.ui.live import followup_fields, live_stream, running_hub
from webapp.workspace import followups, outcomes

log = get_logger(__name__)

WORKSPACE_HUB = "tune_workspace_live"
ALL = 0
"""The hub key of the list over every campaign."""


def install(app: Quart) -> None:
    """The live hub of the follow-up page, woken by every committed event."""

    @app.while_serving
    async def workspace_updates() -> AsyncGenerator[None, None]:
        hub = LiveHub(
            services().db, render=lambda _key: render_live(app), versions=all_counters_sum
        )
        async with running_hub(app, WORKSPACE_HUB, hub, lambda _campaign_ids: [ALL]):
            yield


async def followups_context(
    session: AsyncSession, campaign_id: int | None = None
) -> dict[str, Any]:
    """What a follow-up list shows: the page's (every campaign) or a campaign's panel."""
    ids = None if campaign_id is None else [campaign_id]
    items, total = await followups.follow_up_panel(session, ids)
    return followup_fields(items, campaign_id, total)


async def render_live(app: Quart) -> str:
    tune: Any = app.extensions["tune"]
    async with tune.db.read() as session:
        context = await followups_context(session)
    async with app.app_context():
        return await render_template("_followups_live.html", **context)


def workspace_hub() -> LiveHub:
    live: LiveHub = current_app.extensions[WORKSPACE_HUB]
    return live


@blueprint.get("/followups")
async def followups_page() -> Any:
    async with services().db.read() as session:
        context = await followups_context(session)
    return await render_template("followups.html", **context)


@blueprint.get("/followups/live")
async def followups_live() -> Any:
    """Server-Sent Events: the list, pushed when any campaign's counters move."""
    return live_stream(workspace_hub(), ALL)


@blueprint.get("/followups/live/poll")
async def followups_poll() -> Any:
    """The same fragments for browsers without a live stream (polled every 5 s)."""
    return (await workspace_hub().snapshot(ALL)).html


async def _scope(form: Any) -> int | None:
    raw = form.get("scope", "")
    return int(raw) if raw.isascii() and raw.isdigit() else None


async def _answer(form: Any, fallback: str) -> Any:
    """HTMX: the list the action came from, fresh; otherwise back where the rep was (PRG)."""
    if not is_htmx():
        return redirect(safe_next(form.get("next") or fallback), 303)
    scope = await _scope(form)
    async with services().db.read() as session:
        if scope is not None:
            await campaigns.get_campaign(session, scope)
        context = await followups_context(session, scope)
    return await render_template("_followups.html", **context)


@blueprint.post("/followups/<int:prospect_id>/done")
async def followup_done(prospect_id: int) -> Any:
    form = await request.form
    async with services().db.write() as session:
        await followups.mark_done(session, prospect_id)
    return await _answer(form, "/followups")


@blueprint.post("/followups/<int:prospect_id>/snooze")
async def followup_snooze(prospect_id: int) -> Any:
    form = await request.form
    days = followups.parse_snooze_days(form.get("days"))
    async with services().db.write() as session:
        await followups.snooze(session, prospect_id, days)
    return await _answer(form, "/followups")


@blueprint.post("/prospects/<int:prospect_id>/outcome")
async def prospect_outcome(prospect_id: int) -> Any:
    form = await request.form
    async with services().db.write() as session:
        await outcomes.record_outcome(
            session, prospect_id, form.get("outcome"), form.get("note"), user_id=g.user.id
        )
    return await _answer(form, f"/prospects/{prospect_id}")


@blueprint.post("/events/<int:event_id>/verdict")
async def event_verdict(event_id: int) -> Any:
    """A rep marks one open or click human or machine; the campaign's figures follow."""
    form = await request.form
    async with services().db.write() as session:
        changes = await mark_event(session, event_id, human=form.get("human") == "true")
    human = form.get("human") == "true"
    log.info("event_marked", event_id=event_id, human=human, user_id=g.user.id,
             changes=changes.summary())  # fmt: skip
    return await _answer(form, "/followups")
