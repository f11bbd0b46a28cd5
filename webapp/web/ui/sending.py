"""The sending panel of a campaign page: "Send tier N" and the progress of the queue."""

from __future__ import annotations

from typing import Any

from quart import g, redirect, render_template, request
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.campaigns import queries as campaigns
from webapp.core.logs import get_logger
from webapp.mailboxes import store
from webapp.mailboxes.progress import campaign_progress
from webapp.outbound.contents import TrackingUrls, sender_name_of
from webapp.outbound.sending import queue
from webapp.prospects.queries import parse_tier
from webapp.web.services import services
from webapp.web.ui import blueprint, is_htmx
from webapp.web.ui.filters import fmt_number

log = get_logger(__name__)


async def sending_context(db_session: AsyncSession, campaign_id: int) -> dict[str, Any]:
    """What the sending panel shows: emails per send status, the relay's state, the
    campaign's mailboxes with the one holding the queue back, and when it drains."""
    tune = services()
    counts = await queue.send_progress(db_session, campaign_id)
    chosen = {mailbox.name for mailbox in await store.campaign_mailboxes(db_session, campaign_id)}
    return {
        "mailbox_progress": await campaign_progress(db_session, tune.mailbox_slots(), campaign_id),
        "all_mailboxes": [mailbox.name for mailbox in await store.list_mailboxes(db_session)],
        "chosen_mailboxes": chosen,
        "send_counts": counts,
        "send_pending": queue.pending(counts),
        "circuit": tune.sender.circuit if tune.sender else None,
        "smtp_configured": bool(tune.config.smtp_url) or bool(chosen),
    }


async def _sending_panel(campaign_id: int, notice: str | None = None) -> Any:
    async with services().db.read() as db_session:
        campaign = await campaigns.get_campaign(db_session, campaign_id)
        context = await sending_context(db_session, campaign_id)
    return await render_template("_sending.html", campaign=campaign, send_notice=notice, **context)


@blueprint.get("/campaigns/<int:campaign_id>/sending")
async def sending_panel(campaign_id: int) -> Any:
    """Send progress; the panel polls itself only while emails are pending."""
    return await _sending_panel(campaign_id)


@blueprint.post("/campaigns/<int:campaign_id>/send")
async def campaign_send(campaign_id: int) -> Any:
    """ "Send tier N": write missing emails and queue the drafts; pressing twice sends once."""
    form = await request.form
    tier = parse_tier(form["tier"]) if form.get("tier") else None
    tune = services()
    written, summary = await queue.write_and_queue(
        tune.db,
        campaign_id,
        tier,
        TrackingUrls(tune.config.base_url, tune.signer),
        sender_name_of(tune.config.smtp_from),
    )
    if tune.sender is not None:
        tune.sender.wake()
    log.info("campaign_queued_in_dashboard", campaign_id=campaign_id, tier=tier, user_id=g.user.id)
    which = f"tier {tier}" if tier else "all tiers"
    notice = (
        f"Queued {fmt_number(summary.queued)} emails of {which} ({fmt_number(written)} "
        f"written now, {fmt_number(summary.unchanged)} already queued or sent)."
    )
    if is_htmx():
        return await _sending_panel(campaign_id, notice)
    return redirect(f"/campaigns/{campaign_id}#sending", 303)
