"""Engagement exports agree with the campaign's stats figures, page by page and as CSV."""

from __future__ import annotations

import csv
import io

from sqlalchemy import select

from tests.support.factories import make_campaign, make_contact, make_content, make_prospect
from webapp.campaigns.engagement import (
    engagement_page,
    export_engagement_csv,
    link_stats,
    top_links,
)
from webapp.campaigns.feed import event_page
from webapp.campaigns.stats import campaign_stats
from webapp.core.models import Contact, Content, Link
from webapp.tracking.events import (
    ClickEvent,
    Hit,
    OpenEvent,
    ReplyEvent,
    Target,
    TrackedEvent,
    UnsubscribeEvent,
)
from webapp.tracking.store import store_events
from webapp.tracking.writer import EventWriter
from webapp.web.services import Services


def by_agent(event: TrackedEvent, target: Target) -> str | None:
    return "scanner" if event.hit.user_agent == "scanner" else None


async def test_engagement_links_and_events_match_the_stats(tune: Services) -> None:
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


async def test_one_row_per_contact_across_its_sequence_with_reply_outcome_and_place(
    tune: Services,
) -> None:
    """Three contacts through a two-step sequence, sent by the sender's own queue on a
    fixed clock: one replies (read by the inbox), one is not interested (a rep's outcome),
    one gets both emails and opens them. The rows agree with the stats figures."""
    from datetime import timedelta
    from email.message import EmailMessage

    from tests.sequences.test_absence import T0, send_due
    from tests.sequences.test_scheduler import tick
    from webapp.inbox.message import parse_message
    from webapp.inbox.outcomes import handle_inbound
    from webapp.sequences import steps
    from webapp.sequences.scheduler import enroll
    from webapp.workspace.outcomes import record_outcome

    async with tune.db.write() as session:
        campaign = await make_campaign(session)
        people = []
        for name in ("Ann", "Ben", "Cy"):
            contact = await make_contact(
                session, await make_prospect(session, campaign, name=f"{name} Co"), first_name=name
            )
            people.append(
                await make_content(
                    session,
                    contact,
                    subject="Quick question",
                    send_status="queued",
                    next_attempt_at=T0,
                    urls=("https://example.com/a",),
                )
            )
        await steps.add_step(session, campaign.id, "PT5S")
        assert await enroll(session, campaign.id, now=T0) == 3
    ann, ben, cy = people
    assert len(await send_due(tune, T0)) == 3

    answer = EmailMessage()
    answer["From"], answer["Subject"] = "ann@example.com", "Re: Quick question"
    answer["Message-ID"], answer["In-Reply-To"] = "<ann.1@x.example>", f"<{ann.id}@t.test>"
    answer["Date"] = "Mon, 07 Dec 2026 09:00:03 +0000"
    answer.set_content("Sounds great, let's talk on Tuesday.")
    async with tune.db.write() as session:
        contact = await session.get(Contact, ann.contact_id)
        assert contact is not None
        answer.replace_header("From", contact.email)
        assert (
            await handle_inbound(session, parse_message(answer.as_bytes()), "imap")
        ).outcome == ("reply")
        await record_outcome(session, cy.prospect_id, "not_interested")
    assert (await tick(tune, T0 + timedelta(seconds=5))).written == 1
    assert await send_due(tune, T0 + timedelta(seconds=5)) == [ben.contact_id]

    async with tune.db.write() as session:
        [ben_step2] = await session.scalars(
            select(Content).where(Content.contact_id == ben.contact_id, Content.step == 2)
        )
        link = await session.scalar(select(Link.id).where(Link.content_id == ben.id))
        scanner = Hit(user_agent="scanner")
        await store_events(
            session,
            [
                OpenEvent(ben.id, T0 + timedelta(seconds=6), source="api"),
                ClickEvent(ben.id, T0 + timedelta(seconds=7), source="api", link_id=link),
                OpenEvent(ben_step2.id, T0 + timedelta(seconds=8), source="api"),
                OpenEvent(ben_step2.id, T0 + timedelta(seconds=9), source="api"),
                OpenEvent(ben_step2.id, T0 + timedelta(seconds=9), source="api", hit=scanner),
            ],
            classify=by_agent,
        )

    async with tune.db.read() as session:
        stats = (await campaign_stats(tune.db, campaign.id))["total"]
        first, after = await engagement_page(session, campaign.id, 2)
        rest, end = await engagement_page(session, campaign.id, 2, after)
    assert end is None
    rows = {row["first_name"]: row for row in first + rest}
    assert len(first + rest) == 3  # one row per contact, though four emails went out
    assert sum(row["emails_sent"] for row in rows.values()) == stats["sent"] == 4
    assert (
        sum(row["opens"]["human"] + row["opens"]["machine"] for row in rows.values())
        == stats["opened"]["total"]
        == 4
    )
    assert sum(row["opens"]["machine"] for row in rows.values()) == stats["opened"]["machine"]
    assert sum(row["clicks"]["human"] for row in rows.values()) == stats["clicked"]["unique"]
    assert sum(row["replied_at"] is not None for row in rows.values()) == stats["replied"] == 1

    assert rows["Ann"]["reply_classification"] == "positive"
    assert rows["Ann"]["sequence"]["status"] == "stopped"
    assert rows["Ann"]["sequence"]["stop_reason"] == "replied"
    assert rows["Ben"]["emails_sent"] == 2 and rows["Ben"]["opens"]["human"] == 3
    assert rows["Ben"]["last_open_at"] == T0 + timedelta(seconds=9)
    assert rows["Ben"]["clicks"]["by_link"] == [{"url": "https://example.com/a", "clicks": 1}]
    assert rows["Ben"]["sequence"] == {
        "step": 2,
        "status": "finished",
        "stop_reason": None,
        "paused_until": None,
        "next_send_at": None,
    }
    assert rows["Ben"]["reply_classification"] is None and rows["Ben"]["outcome"] is None
    assert rows["Cy"]["outcome"] == "not_interested" and rows["Cy"]["outcome_at"] is not None
    assert (rows["Cy"]["sequence"]["status"], rows["Cy"]["sequence"]["stop_reason"]) == (
        "stopped",
        "not_interested",
    )

    text = b"".join([chunk async for chunk in export_engagement_csv(tune.db, campaign.id)])
    table = {line["first_name"]: line for line in csv.DictReader(io.StringIO(text.decode()))}
    assert len(table) == 3
    assert (table["Ann"]["reply_classification"], table["Ann"]["sequence_stop_reason"]) == (
        "positive",
        "replied",
    )
    assert (table["Ben"]["emails_sent"], table["Ben"]["sequence_step"]) == ("2", "2")
    assert table["Ben"]["sequence_status"] == "finished" and table["Ben"]["opens_human"] == "3"
    assert (table["Cy"]["outcome"], table["Cy"]["sequence_status"]) == (
        "not_interested",
        "stopped",
    )
