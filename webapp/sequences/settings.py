"""A campaign's sequence settings: send window, default time zone, account-level stop,
and what variants are judged on."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from webapp.campaigns.queries import get_campaign
from webapp.core.errors import ValidationFailed
from webapp.core.models import Campaign
from webapp.sequences.variants import METRICS
from webapp.sequences.windows import parse_window, parse_zone

FIELDS = (
    "send_days",
    "send_from_hour",
    "send_until_hour",
    "timezone",
    "account_stop",
    "winner_metric",
)


def settings_json(campaign: Campaign) -> dict[str, Any]:
    return {
        "send_days": campaign.send_days,
        "send_from_hour": campaign.send_from_hour,
        "send_until_hour": campaign.send_until_hour,
        "timezone": campaign.timezone,
        "account_stop": campaign.account_stop,
        "winner_metric": campaign.winner_metric,
    }


async def update_settings(
    session: AsyncSession, campaign_id: int, changes: dict[str, Any]
) -> Campaign:
    """Apply the given fields (others keep their value); every field is checked first."""
    campaign = await get_campaign(session, campaign_id)
    unknown = set(changes) - set(FIELDS)
    if unknown:
        name = sorted(unknown)[0]
        raise ValidationFailed(f"{name}: not a sequence setting", field=name)
    merged = {**settings_json(campaign), **changes}
    window = parse_window(merged["send_days"], merged["send_from_hour"], merged["send_until_hour"])
    zone = parse_zone(merged["timezone"])
    if not isinstance(merged["account_stop"], bool):
        raise ValidationFailed("account_stop: true or false", field="account_stop")
    if merged["winner_metric"] not in METRICS:
        raise ValidationFailed("winner_metric: reply or click", field="winner_metric")
    campaign.send_days = window.days
    campaign.send_from_hour, campaign.send_until_hour = window.from_hour, window.until_hour
    campaign.timezone = zone
    campaign.account_stop = merged["account_stop"]
    campaign.winner_metric = merged["winner_metric"]
    await session.flush()
    return campaign
