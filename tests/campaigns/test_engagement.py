"""Engagement exports agree with the campaign's stats figures, page by page and as CSV."""

from __future__ import annotations

import csv
import io

from sqlalchemy import select

from tests.support.factories import make_campaign, make_contact, make_content, make_prospect
from webapp.campaigns.engagement import (
    engagement_page,
    event_page,
    export_engagement_csv,
    link_stats,
    top_links,
)
from webapp.campaigns.stats import campaign_stats
from webapp.core.models import Link
from webapp.tracking.events import (
    ClickEvent,
    OpenEvent,
    ReplyEvent,
    Target,
    TrackedEvent,
    UnsubscribeEvent,
)
from webapp.tracking.writer import EventWriter
from webapp.web.services import Services


def by_agent(event: TrackedEvent, target: Target) -> str | None:
    return "scanner" if event.hit.user_agent == "scanner" else None


async def test_engagement_links_and_events_match_the_stats(tune: Services) -> None:
    from webapp.tracking.events import Hit

    scanner = Hit(user_agent="scanner")
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
        contents = []
        for name in ("Ann", '=HYPERLINK("http://evil")', "Cy"):
            prospect = await make_prospect(session, campaign)
            contact = await make_contact(session, prospect, first_name=name)
            contents.append(
                await make_content(
                    session, contact, urls=("https://example.com/a", "https://example.com/b")
                )
            )
        links = {
            (link.content_id, link.position): link.id
            for link in await session.scalars(select(Link))
        }
    a, b, c = (content.id for content in contents)
    writer = EventWriter(tune.db, classify=by_agent)
    writer.start()
    try:
        for event in (
            OpenEvent(a, source="api"),
            OpenEvent(a, source="api"),
            OpenEvent(a, source="api", hit=scanner),
            ClickEvent(a, source="api", link_id=links[(a, 0)]),
            ClickEvent(a, source="api", link_id=links[(a, 1)]),
            ClickEvent(b, source="api", link_id=links[(b, 0)]),  # infers b's open
            ClickEvent(b, source="api", link_id=links[(b, 0)], hit=scanner),
            ReplyEvent(b, source="api"),
            UnsubscribeEvent(c, source="api"),
        ):
            await writer.record(event)
    finally:
        await writer.stop()

    stats = (await campaign_stats(tune.db, campaign.id))["total"]
    async with tune.db.read() as session:
        first, after = await engagement_page(session, campaign.id, 2)
        assert after is not None
        rest, end = await engagement_page(session, campaign.id, 2, after)
        assert end is None
        rows = first + rest
        url_rows = await link_stats(session, campaign.id)
        events, _ = await event_page(session, 100, campaign_id=campaign.id)
        clicks, _ = await event_page(session, 100, campaign_id=campaign.id, kind="click")

    assert [row["content_id"] for row in rows] == [a, b, c]
    opens_human = sum(row["opens"]["human"] for row in rows)
    opens_machine = sum(row["opens"]["machine"] for row in rows)
    assert opens_human + opens_machine == stats["opened"]["total"] == 4
    assert opens_machine == stats["opened"]["machine"] == 1
    assert sum(row["first_open_at"] is not None for row in rows) == stats["opened"]["unique"] == 2
    assert (
        sum(row["clicks"]["human"] for row in rows) + sum(row["clicks"]["bot"] for row in rows)
        == stats["clicked"]["total"]
    )
    assert sum(row["clicks"]["bot"] for row in rows) == stats["clicked"]["bot"] == 1
    assert sum(row["replied_at"] is not None for row in rows) == stats["replied"] == 1
    assert sum(row["unsubscribed_at"] is not None for row in rows) == stats["unsubscribed"] == 1
    assert rows[0]["clicks"]["by_link"] == [
        {"url": "https://example.com/a", "clicks": 1},
        {"url": "https://example.com/b", "clicks": 1},
    ]
    assert url_rows == [
        {"url": "https://example.com/a", "clicks": {"human": 2, "bot": 1}, "unique_clickers": 2},
        {"url": "https://example.com/b", "clicks": {"human": 1, "bot": 0}, "unique_clickers": 1},
    ]
    assert (
        sum(u["clicks"]["human"] + u["clicks"]["bot"] for u in url_rows)
        == stats["clicked"]["total"]
    )
    assert len(events) == 10  # nine recorded and the open inferred from a click
    assert [e.flag_reason for e in clicks] == [None, None, None, "scanner"]

    text = b"".join([chunk async for chunk in export_engagement_csv(tune.db, campaign.id)])
    table = list(csv.DictReader(io.StringIO(text.decode())))
    assert len(table) == 3
    assert table[1]["first_name"].startswith("'=")  # never a live formula
    assert table[0]["opens_human"] == "2" and table[0]["opens_machine"] == "1"
    assert table[2]["unsubscribed_at"] != ""


async def test_the_event_stream_pages_by_id_and_filters_by_time(tune: Services) -> None:
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
        prospect = await make_prospect(session, campaign)
        content = await make_content(session, await make_contact(session, prospect))
    for _ in range(5):
        await tune.writer.record(OpenEvent(content.id, source="api"))
    async with tune.db.read() as session:
        page1, after = await event_page(session, 3, campaign_id=campaign.id)
        page2, end = await event_page(session, 3, campaign_id=campaign.id, after=after)
        assert end is None
        ids = [event.id for event in page1 + page2]
        assert ids == sorted(ids) and len(set(ids)) == 5
        later, _ = await event_page(session, 10, since=page2[0].occurred_at)
        assert [event.id for event in later] == ids[3:]


async def test_top_links_agree_with_the_link_stats(tune: Services) -> None:
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
        prospect = await make_prospect(session, campaign)
        content = await make_content(
            session,
            await make_contact(session, prospect),
            urls=("https://example.com/a", "https://example.com/b", "https://example.com/c"),
        )
        link_ids = list(
            await session.scalars(
                select(Link.id).where(Link.content_id == content.id).order_by(Link.position)
            )
        )
    for link_id in (link_ids[1], link_ids[1], link_ids[0]):
        await tune.writer.record(ClickEvent(content.id, source="api", link_id=link_id))
    async with tune.db.read() as session:
        top = await top_links(session, campaign.id, limit=5)
        every = await link_stats(session, campaign.id)
    assert [link["url"] for link in top] == ["https://example.com/b", "https://example.com/a"]
    assert top == every[:2]
    assert every[2] == {
        "url": "https://example.com/c",
        "clicks": {"human": 0, "bot": 0},
        "unique_clickers": 0,
    }
