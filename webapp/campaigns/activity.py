"""The campaign chart's data: what happened per hour or day, as counts or as rates.

The window fits the campaign's age: hourly buckets from the hour it was created
(at least `MIN_HOURS` of them, at most `HOURLY_SPAN`), then daily buckets from
its first day (at most `DAILY_SPAN`). Counts come from the aggregate
`activity_buckets`, so a live re-render never counts events. Rates (opened,
clicked and replied as a share of the emails sent so far) come from the emails'
own first-open, first-click and reply times, so machine opens and bot clicks
never count; they are read only when a rep asks for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.core.models import ActivityBucket, Campaign, Content, utcnow

CHART_KINDS = ("open", "click", "reply")
HOURLY_SPAN = timedelta(hours=48)
DAILY_SPAN = timedelta(days=30)
MIN_HOURS = 6
"""A campaign an hour old still gets a few hours of axis, not a single point."""
MIN_DAYS = 3


@dataclass
class ActivitySeries:
    """Values per time bucket for the chart: hourly for young campaigns, daily after."""

    unit: str
    starts: list[datetime]
    values: dict[str, list[Any]] = field(default_factory=dict)
    rates: bool = False
    """Values are shares (0–1) of the emails sent so far, not counts."""


def chart_window(created_at: datetime, now: datetime) -> tuple[str, list[datetime]]:
    """The unit ("hour" or "day") and the bucket starts that fit a campaign's age."""
    end_hour = now.replace(minute=0, second=0, microsecond=0)
    created_hour = created_at.replace(minute=0, second=0, microsecond=0)
    if now - created_at <= HOURLY_SPAN:
        unit, step = "hour", timedelta(hours=1)
        first = min(created_hour, end_hour - step * (MIN_HOURS - 1))
    else:
        unit, step = "day", timedelta(days=1)
        end_hour = end_hour.replace(hour=0)
        first = max(created_hour.replace(hour=0), end_hour - DAILY_SPAN + step)
        first = min(first, end_hour - step * (MIN_DAYS - 1))
    starts: list[datetime] = []
    moment = first
    while moment <= end_hour:
        starts.append(moment)
        moment += step
    return unit, starts


async def activity_series(
    session: AsyncSession, campaign: Campaign, now: datetime | None = None
) -> ActivitySeries:
    """Opens, clicks and replies per bucket, from the aggregate buckets."""
    unit, starts = chart_window(campaign.created_at, now or utcnow())
    index = {start: i for i, start in enumerate(starts)}
    series = ActivitySeries(unit, starts, {kind: [0] * len(starts) for kind in CHART_KINDS})
    rows = await session.execute(
        select(ActivityBucket.bucket, ActivityBucket.kind, ActivityBucket.value).where(
            ActivityBucket.campaign_id == campaign.id,
            ActivityBucket.bucket >= starts[0],
            ActivityBucket.kind.in_(CHART_KINDS),
        )
    )
    for bucket, kind, value in rows:
        key = bucket if unit == "hour" else bucket.replace(hour=0)
        position = index.get(key)
        if position is not None:
            series.values[kind][position] += value
    return series


_RATE_COLUMNS = {
    "sent": Content.sent_at,
    "open": Content.first_opened_at,
    "click": Content.first_clicked_at,
    "reply": Content.replied_at,
}


async def rate_series(
    session: AsyncSession, campaign: Campaign, now: datetime | None = None
) -> ActivitySeries:
    """Opened, clicked and replied as shares of the emails sent by the end of each bucket
    (human firsts only): how the campaign's rates built up over its window."""
    unit, starts = chart_window(campaign.created_at, now or utcnow())
    step = timedelta(hours=1) if unit == "hour" else timedelta(days=1)
    ends = [start + step for start in starts]
    cumulative: dict[str, list[int]] = {}
    for kind, column in _RATE_COLUMNS.items():
        before = await session.scalar(
            select(func.count()).where(
                Content.campaign_id == campaign.id, column.is_not(None), column < starts[0]
            )
        )
        moments = await session.scalars(
            select(column).where(
                Content.campaign_id == campaign.id, column.is_not(None), column >= starts[0]
            )
        )
        per_bucket = [0] * len(starts)
        for moment in moments:
            if moment is None:
                continue
            position = _bucket_of(moment, starts, ends)
            if position is not None:
                per_bucket[position] += 1
        running, total = [], int(before or 0)
        for count in per_bucket:
            total += count
            running.append(total)
        cumulative[kind] = running
    sent = cumulative["sent"]
    values = {
        kind: [(done / sent[i]) if sent[i] else None for i, done in enumerate(cumulative[kind])]
        for kind in CHART_KINDS
    }
    return ActivitySeries(unit, starts, values, rates=True)


def _bucket_of(moment: datetime, starts: list[datetime], ends: list[datetime]) -> int | None:
    if moment < starts[0] or moment >= ends[-1]:
        return None
    step = ends[0] - starts[0]
    return int((moment - starts[0]) // step)
