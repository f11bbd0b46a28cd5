"""The campaign chart's window and its rates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.support.factories import make_campaign, make_contact, make_content, make_prospect
from webapp.campaigns.activity import chart_window, rate_series
from webapp.web.services import Services

NOW = datetime(2026, 11, 20, 15, 40, tzinfo=UTC)


def test_a_new_campaign_is_charted_by_the_hour_from_its_creation() -> None:
    unit, starts = chart_window(NOW - timedelta(hours=10, minutes=5), NOW)
    assert unit == "hour"
    assert starts[0] == datetime(2026, 11, 20, 5, tzinfo=UTC)
    assert starts[-1] == datetime(2026, 11, 20, 15, tzinfo=UTC) and len(starts) == 11
    # An hour-old campaign still gets a few hours of axis.
    unit, starts = chart_window(NOW - timedelta(minutes=20), NOW)
    assert unit == "hour" and len(starts) == 6 and starts[-1].hour == 15


def test_an_older_campaign_is_charted_by_the_day_up_to_thirty_days() -> None:
    unit, starts = chart_window(NOW - timedelta(days=5), NOW)
    assert unit == "day"
    assert starts[0] == datetime(2026, 11, 15, tzinfo=UTC)
    assert starts[-1] == datetime(2026, 11, 20, tzinfo=UTC)
    unit, starts = chart_window(NOW - timedelta(days=90), NOW)
    assert unit == "day" and len(starts) == 30


async def test_rates_are_human_firsts_over_the_emails_sent_so_far(tune: Services) -> None:
    hour = timedelta(hours=1)
    async with tune.db.write() as session:
        campaign = await make_campaign(session, created_at=NOW - 5 * hour)
        start = NOW.replace(minute=0) - 4 * hour
        for number in range(4):
            prospect = await make_prospect(session, campaign)
            contact = await make_contact(session, prospect)
            await make_content(
                session,
                contact,
                sent_at=start,
                send_status="sent",
                first_opened_at=start + hour if number < 2 else None,
                first_clicked_at=start + 2 * hour if number == 0 else None,
                replied_at=start + 3 * hour if number == 0 else None,
            )
        campaign_id = campaign.id
    async with tune.db.read() as session:
        campaign = await session.get(type(campaign), campaign_id)
        assert campaign is not None
        series = await rate_series(session, campaign, NOW)
    assert series.unit == "hour" and series.rates
    at = series.starts.index(start)
    assert series.values["open"][at : at + 4] == [0.0, 0.5, 0.5, 0.5]
    assert series.values["click"][at : at + 4] == [0.0, 0.0, 0.25, 0.25]
    assert series.values["reply"][at + 3] == 0.25
    assert series.values["open"][0] is None  # nothing sent yet: no rate, not 0 %
