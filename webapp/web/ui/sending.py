"""The sending panel of a campaign page: "Send tier N", and progress that explains itself.

"Send tier N" opens the send review (`review.py`); its confirm posts here. The
panel shows a bar, sent of total, the expected finish at SEND_RATE and the relay's
state in words; the same progress block is pushed live with the other counters.
"""

from __future__ import annotations

from typing import Any

from quart import g, redirect, render_template, request
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.campaigns import queries as campaigns
from webapp.core.logs import get_logger
from webapp.core.models import Campaign
from webapp.mailboxes import store
from webapp.mailboxes.progress import campaign_progress
from webapp.outbound import progress, review
from webapp.outbound.contents import TrackingUrls
from webapp.outbound.sending import queue
from webapp.prospects.queries import parse_tier
from webapp.web.services import services
from webapp.web.ui import blueprint, is_htmx
from webapp.web.ui.filters import fmt_number

log = get_logger(__name__)


async def send_progress(db_session: AsyncSession, campaign: Campaign) -> progress.Progress:
    """The campaign's send progress as this process sees it (its sender, if it runs one)."""
    tune = services()
    chosen = await store.campaign_mailboxes(db_session, campaign.id)
    return await progress.explain(
        db_session,
        campaign,
        sender=tune.sender,
        smtp_configured=bool(tune.config.smtp_url) or bool(chosen),
        send_rate=tune.config.send_rate,
    )


async def sending_context(db_session: AsyncSession, campaign_id: int) -> dict[str, Any]:
    """What the sending panel shows: emails per send status and the explained progress, the
    campaign's mailboxes with the one holding the queue back, and when it drains."""
    tune = services()
    campaign = await campaigns.get_campaign(db_session, campaign_id)
    explained = await send_progress(db_session, campaign)
    chosen = {mailbox.name for mailbox in await store.campaign_mailboxes(db_session, campaign_id)}
    return {
        "mailbox_progress": await campaign_progress(
            db_session, tune.mailbox_slots(), campaign_id, held=progress.held_until(tune.sender)
        ),
        "all_mailboxes": [mailbox.name for mailbox in await store.list_mailboxes(db_session)],
        "chosen_mailboxes": chosen,
        "send_counts": explained.counts,
        "send_pending": explained.pending,
        "send": explained,
        "send_notice": _queued_notice(),
    }


def _queued_notice() -> str | None:
    """After a confirmed send (post/redirect/get), the page says what was queued."""
    queued = request.args.get("queued", "")
    return f"Queued {fmt_number(int(queued))} emails." if queued.isdigit() else None


async def _sending_panel(campaign_id: int, notice: str | None = None) -> Any:
    async with services().db.read() as db_session:
        campaign = await campaigns.get_campaign(db_session, campaign_id)
        context = await sending_context(db_session, campaign_id)
    context["send_notice"] = notice or context["send_notice"]
    return await render_template("_sending.html", campaign=campaign, **context)


@blueprint.get("/campaigns/<int:campaign_id>/sending")
async def sending_panel(campaign_id: int) -> Any:
    """Send progress; the panel polls itself only while emails are pending."""
    return await _sending_panel(campaign_id)


def _expected(raw: str | None) -> int | None:
    return int(raw) if raw is not None and raw.isdigit() else None


@blueprint.post("/campaigns/<int:campaign_id>/send")
async def campaign_send(campaign_id: int) -> Any:
    """The review's confirm: write missing emails and queue the drafts; pressing twice sends
    once. With `expected` (the count the rep reviewed), a changed count goes back to the
    review instead of sending to people nobody looked at."""
    form = await request.form
    tier = parse_tier(form["tier"]) if form.get("tier") else None
    expected = _expected(form.get("expected"))
    tune = services()
    if expected is not None:
        async with tune.db.read() as db_session:
            counts = await review.review_counts(db_session, campaign_id, tier)
        if counts.recipients and counts.recipients != expected:
            from webapp.web.ui.review import review_page

            notice = (
                f"The number of recipients changed from {fmt_number(expected)} to "
                f"{fmt_number(counts.recipients)} since the review: check it again."
            )
            return await review_page(campaign_id, tier, notice=notice, status=409)
    written, summary = await queue.write_and_queue(
        tune.db,
        campaign_id,
        tier,
        TrackingUrls(tune.config.base_url, tune.signer),
    )
    if tune.sender is not None:
        tune.sender.wake()
    log.info(
        "campaign_queued_in_dashboard",
        campaign_id=campaign_id,
        tier=tier,
        queued=summary.queued,
        user_id=g.user.id,
    )
    which = f"tier {tier}" if tier else "all tiers"
    notice = (
        f"Queued {fmt_number(summary.queued)} emails of {which} ({fmt_number(written)} "
        f"written now, {fmt_number(summary.unchanged)} already queued or sent)."
    )
    if is_htmx():
        return await _sending_panel(campaign_id, notice)
    return redirect(f"/campaigns/{campaign_id}?queued={summary.queued}#sending", 303)
