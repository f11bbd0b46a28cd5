"""Where a campaign stands, read from its emails rather than kept by hand.

draft (nothing queued yet) → sending (emails queued or going out) → active (all
sent; tracking, follow-ups coming in) → finished (the last email went out more
than `FINISHED_AFTER_DAYS` ago and nobody is left to follow up with). A rep can
pause a campaign: the only status stored (`campaigns.status`), it holds its
queued emails back until resumed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.campaigns.queries import get_campaign
from webapp.core.models import Campaign, Content, utcnow
from webapp.workspace.followups import follow_ups

FINISHED_AFTER_DAYS = 14
STATUSES = ("draft", "sending", "active", "finished", "paused")
LABELS = {
    "draft": "Draft: nothing sent yet",
    "sending": "Sending",
    "active": "Active: all sent, tracking",
    "finished": "Finished: no follow-ups due",
    "paused": "Paused",
}


async def campaign_statuses(
    session: AsyncSession, campaigns: Sequence[Campaign], *, now: datetime | None = None
) -> dict[int, str]:
    """Each campaign's status, with one query over their emails (and the follow-up list
    only for campaigns old enough to be finished)."""
    now = now or utcnow()
    ids = [campaign.id for campaign in campaigns]
    if not ids:
        return {}
    pending = func.sum(case((Content.send_status.in_(("queued", "sending")), 1), else_=0))
    rows = await session.execute(
        select(Content.campaign_id, pending, func.count(Content.sent_at), func.max(Content.sent_at))
        .where(Content.campaign_id.in_(ids))
        .group_by(Content.campaign_id)
    )
    emails = {row[0]: (int(row[1] or 0), int(row[2] or 0), row[3]) for row in rows}
    statuses: dict[int, str] = {}
    for campaign in campaigns:
        waiting, sent, last_sent = emails.get(campaign.id, (0, 0, None))
        status = status_from(campaign.status, waiting, sent, last_sent, now)
        if status is None:
            status = await finished_or_active(session, campaign.id, now)
        statuses[campaign.id] = status
    return statuses


def status_from(
    stored: str, waiting: int, sent: int, last_sent: datetime | None, now: datetime
) -> str | None:
    """The status from the stored one and the campaign's emails: how many are queued or
    sending, how many were sent and when the last was; None when the last went out over
    `FINISHED_AFTER_DAYS` ago (`finished_or_active` then tells)."""
    if stored == "paused":
        return "paused"
    if waiting:
        return "sending"
    if not sent:
        return "draft"
    if last_sent is not None and now - last_sent > timedelta(days=FINISHED_AFTER_DAYS):
        return None
    return "active"


async def finished_or_active(session: AsyncSession, campaign_id: int, now: datetime) -> str:
    """All sent long ago: finished unless somebody is still to follow up with."""
    due = await follow_ups(session, [campaign_id], now=now, limit=1)
    return "active" if due else "finished"


async def campaign_status(session: AsyncSession, campaign: Campaign) -> str:
    return (await campaign_statuses(session, [campaign]))[campaign.id]


async def pause(session: AsyncSession, campaign_id: int) -> Campaign:
    """Hold the campaign's queued emails back (those already handed to the relay finish)."""
    campaign = await get_campaign(session, campaign_id)
    campaign.status = "paused"
    await session.flush()
    return campaign


async def resume(session: AsyncSession, campaign_id: int) -> Campaign:
    campaign = await get_campaign(session, campaign_id)
    campaign.status = "draft"  # stored "draft" means: read the status from the emails
    await session.flush()
    return campaign
