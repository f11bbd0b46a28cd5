"""Replies read from the mailbox: the campaign's Replies list and the rep's label correction."""

from __future__ import annotations

from typing import Any

from quart import g, redirect, render_template, request

from webapp.campaigns import queries as campaigns
from webapp.core.logs import get_logger
from webapp.inbox import replies as inbox_replies
from webapp.inbox.reading import CLASSIFICATIONS
from webapp.web.services import services
from webapp.web.ui import blueprint, is_htmx
from webapp.web.ui.auth import safe_next

log = get_logger(__name__)


@blueprint.get("/campaigns/<int:campaign_id>/replies")
async def campaign_replies_page(campaign_id: int) -> Any:
    """The campaign's replies, newest first, optionally of one label."""
    raw = request.args.get("label") or None
    label = inbox_replies.parse_label(raw) if raw else None
    async with services().db.read() as db_session:
        campaign = await campaigns.get_campaign(db_session, campaign_id)
        replies = await inbox_replies.campaign_replies(db_session, campaign_id, label)
    return await render_template(
        "replies.html", campaign=campaign, replies=replies, label=label, labels=CLASSIFICATIONS
    )


@blueprint.post("/replies/<int:reply_id>/label")
async def reply_label(reply_id: int) -> Any:
    """The rep corrects how Tune read a reply (positive, neutral, negative)."""
    form = await request.form
    async with services().db.write() as db_session:
        reply = await inbox_replies.relabel(db_session, reply_id, form.get("label", ""))
        views = await inbox_replies.prospect_replies(db_session, reply.prospect_id)
    log.info("reply_relabelled", reply_id=reply_id, label=reply.label, user_id=g.user.id)
    if is_htmx():
        view = next(item for item in views if item.id == reply_id)
        return await render_template("_reply.html", reply=view, labels=CLASSIFICATIONS)
    return redirect(safe_next(form.get("next")), 303)
