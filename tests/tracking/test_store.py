"""Storing events: what is written, what is counted once, what is forgotten."""

from __future__ import annotations

from sqlalchemy import select

from tests.support.counts import counters, event_count
from tests.support.factories import make_campaign, make_recipient
from webapp.core.models import Contact, Event
from webapp.tracking.events import (
    ClickEvent,
    Hit,
    OpenEvent,
    Outcome,
    Target,
    TrackedEvent,
    UnsubscribeEvent,
)
from webapp.tracking.store import anonymise_events
from webapp.tracking.writer import EventWriter
from webapp.web.services import Services


async def test_unknown_content_records_nothing(tune: Services) -> None:
    assert await tune.writer.record(OpenEvent(424242)) is Outcome.UNKNOWN_TARGET
    assert await event_count(tune) == 0


async def test_tracking_off_campaign_records_no_pixel_hits(tune: Services) -> None:
    async with tune.db.write() as session:
        campaign = await make_campaign(session, tracking_enabled=False)
        content_id = (await make_recipient(session, campaign)).id
    assert await tune.writer.record(OpenEvent(content_id)) is Outcome.TRACKING_OFF
    assert await event_count(tune) == 0


async def test_flagged_hits_count_in_totals_but_not_as_unique(tune: Services) -> None:
    def bots(event: TrackedEvent, target: Target) -> str | None:
        return "scanner" if "bot" in (event.hit.user_agent or "") else None

    writer = EventWriter(tune.db, classify=bots)
    writer.start()
    async with tune.db.write() as session:
        content_id = (await make_recipient(session)).id
    await writer.record(OpenEvent(content_id, hit=Hit(user_agent="linkbot/1.0")))
    await writer.record(ClickEvent(content_id, hit=Hit(user_agent="linkbot/1.0")))
    assert await counters(tune) == {
        "open_total": 1,
        "open_machine": 1,
        "click_total": 1,
        "click_bot": 1,
    }
    await writer.record(ClickEvent(content_id, hit=Hit(user_agent="Mozilla/5.0")))
    assert await counters(tune) == {
        "open_total": 2,
        "open_machine": 1,
        "open_unique": 1,
        "click_total": 2,
        "click_bot": 1,
        "click_unique": 1,
    }
    await writer.stop()
    async with tune.db.read() as session:
        flagged = (await session.scalars(select(Event.flag_reason).where(Event.flagged))).all()
    assert flagged == ["scanner", "scanner"]


async def test_unsubscribe_is_counted_once_per_contact(tune: Services) -> None:
    async with tune.db.write() as session:
        content = await make_recipient(session)
        content_id, contact_id = content.id, content.contact_id
    for _ in range(3):
        await tune.writer.record(UnsubscribeEvent(content_id, source="unsubscribe"))
    assert await counters(tune) == {"unsubscribe": 1}
    async with tune.db.read() as session:
        contact = await session.get(Contact, contact_id)
        assert contact is not None and contact.unsubscribed_at is not None


async def test_anonymise_forgets_request_details_of_old_events_only(tune: Services) -> None:
    from datetime import timedelta

    from webapp.core.models import utcnow

    async with tune.db.write() as session:
        content_id = (await make_recipient(session)).id
    hit = Hit(user_agent="Mozilla/5.0 (X11)", ip_hash="ab" * 16, ip_prefix="203.0.113.0/24")
    old = utcnow() - timedelta(days=120)
    await tune.writer.record(OpenEvent(content_id, occurred_at=old, source="api", hit=hit))
    await tune.writer.record(OpenEvent(content_id, source="api", hit=hit))
    async with tune.db.write() as session:
        assert await anonymise_events(session, utcnow() - timedelta(days=90)) == 1
    async with tune.db.read() as session:
        rows = (
            await session.execute(
                select(Event.user_agent, Event.ip_hash, Event.ip_prefix).order_by(Event.occurred_at)
            )
        ).all()
    assert [tuple(row) for row in rows] == [
        (None, None, None),
        ("Mozilla/5.0 (X11)", "ab" * 16, "203.0.113.0/24"),
    ]
    assert await counters(tune) == {"open_total": 2, "open_unique": 1}
