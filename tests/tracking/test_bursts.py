"""Bursts judged as a whole: a scanner's earlier clicks re-flagged in the later click's commit."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from sqlalchemy import select

from tests.support.counts import counters
from tests.support.factories import make_campaign, make_recipient
from webapp.core.models import (
    ActivityBucket,
    Content,
    Event,
    Link,
    Prospect,
    WebhookDelivery,
    utcnow,
)
from webapp.tracking.bursts import SOURCES
from webapp.tracking.events import ClickEvent, Hit, HoneypotEvent, OpenEvent
from webapp.tracking.hits import make_hit
from webapp.web.services import Services
from webapp.webhooks.endpoints import create_endpoint

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)
OUTLOOK = "Mozilla/4.0 (compatible; ms-office; MSOffice 16)"
URLS = ("https://example.com/a", "https://example.com/b", "https://example.com/c")


async def email(tune: Services, sent_ago: float) -> tuple[int, list[int], datetime]:
    """A sent email with three links; its id, link ids, and when it was sent."""
    sent_at = utcnow() - timedelta(seconds=sent_ago)
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
        content = await make_recipient(session, campaign, urls=URLS, sent_at=sent_at)
        links = list(
            await session.scalars(
                select(Link.id).where(Link.content_id == content.id).order_by(Link.position)
            )
        )
    return content.id, links, sent_at


def hit(tune: Services, ip: str, agent: str = CHROME) -> Hit:
    return make_hit(user_agent=agent, ip=ip, method="GET", salt=tune.ip_salt)


async def click(tune: Services, content_id: int, link_id: int, at: datetime, who: Hit) -> None:
    """`who` clicks the email's link at `at`; back once the writer has committed it."""
    await tune.writer.record(
        ClickEvent(content_id, occurred_at=at, source="link", link_id=link_id, hit=who)
    )


async def human_figures(tune: Services) -> dict[str, int]:
    return {name: value for name, value in (await counters(tune)).items() if value}


async def content(tune: Services, content_id: int) -> Content:
    async with tune.db.read() as session:
        found = await session.get(Content, content_id)
        assert found is not None
        return found


async def last_activity(tune: Services, content_id: int) -> datetime | None:
    """When the email's prospect last did something, as the activity sort reads it."""
    async with tune.db.read() as session:
        return await session.scalar(
            select(Prospect.last_activity_at)
            .join(Content, Content.prospect_id == Prospect.id)
            .where(Content.id == content_id)
        )


async def flags(tune: Services, content_id: int) -> list[tuple[str, str, str | None]]:
    async with tune.db.read() as session:
        rows = await session.execute(
            select(Event.kind, Event.source, Event.flag_reason)
            .where(Event.content_id == content_id)
            .order_by(Event.occurred_at, Event.id)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def test_a_scanner_that_renders_then_sweeps_three_links_leaves_nothing_human(
    tune: Services,
) -> None:
    # Sent 15 s ago. The scanner fetches the pixel (a human-looking open), then
    # follows the three links within 0.3 s, each in its own commit.
    content_id, links, sent_at = await email(tune, sent_ago=15.0)
    start = sent_at + timedelta(seconds=14)
    scanner = hit(tune, "198.51.100.20")
    await tune.writer.record(OpenEvent(content_id, occurred_at=start, hit=scanner))
    assert (await human_figures(tune)).get("open_unique") == 1  # it looked human, alone
    for offset, link_id in zip((1.0, 1.1, 1.3), links, strict=True):
        moment = start + timedelta(seconds=offset)
        await click(tune, content_id, link_id, moment, scanner)
    assert await human_figures(tune) == {
        "open_total": 1,
        "open_machine": 1,
        "click_total": 3,
        "click_bot": 3,
    }
    stored = await content(tune, content_id)
    assert stored.first_opened_at is None and stored.first_clicked_at is None
    assert [reason for _, _, reason in await flags(tune, content_id)] == ["multi_link_burst"] * 4


async def test_the_first_click_and_the_open_it_implied_are_undone_with_their_bucket(
    tune: Services,
) -> None:
    # Ten minutes after sending (past the scanner window), no pixel: the first click
    # alone is human and implies an open; the second link 0.4 s later makes it a burst.
    content_id, links, _ = await email(tune, sent_ago=600.0)
    scanner = hit(tune, "198.51.100.21")
    moment = utcnow()
    await click(tune, content_id, links[0], moment, scanner)
    assert await human_figures(tune) == {
        "open_total": 1,
        "open_unique": 1,
        "click_total": 1,
        "click_unique": 1,
    }
    assert await last_activity(tune, content_id) is not None  # a person, for now
    later = moment + timedelta(seconds=0.4)
    await click(tune, content_id, links[1], later, scanner)
    assert await human_figures(tune) == {"click_total": 2, "click_bot": 2}
    assert await last_activity(tune, content_id) is None  # nothing a person did
    assert await flags(tune, content_id) == [
        ("click", "link", "multi_link_burst"),
        ("click", "link", "multi_link_burst"),
    ]  # the inferred open is gone
    async with tune.db.read() as session:
        buckets = dict(
            (kind, value)
            for kind, value in await session.execute(
                select(ActivityBucket.kind, ActivityBucket.value)
            )
        )
    assert buckets.get("open", 0) == 0 and buckets["click"] == 2


async def test_a_burst_within_one_batch_is_judged_the_same(tune: Services) -> None:
    content_id, links, _ = await email(tune, sent_ago=600.0)
    scanner = hit(tune, "198.51.100.22")
    moment = utcnow()
    await asyncio.gather(
        *(
            tune.writer.record(
                ClickEvent(
                    content_id,
                    occurred_at=moment + timedelta(seconds=0.1 * i),
                    source="link",
                    link_id=link_id,
                    hit=scanner,
                )
            )
            for i, link_id in enumerate(links)
        )
    )
    assert await human_figures(tune) == {"click_total": 3, "click_bot": 3}


async def test_a_person_clicking_two_links_seconds_apart_is_human(tune: Services) -> None:
    content_id, links, _ = await email(tune, sent_ago=3600.0)
    person = hit(tune, "203.0.113.9", OUTLOOK)
    moment = utcnow()
    for offset, link_id in ((0.0, links[0]), (4.0, links[1])):
        await click(tune, content_id, link_id, moment + timedelta(seconds=offset), person)
    assert await human_figures(tune) == {
        "open_total": 1,
        "open_unique": 1,
        "click_total": 2,
        "click_unique": 1,
    }


async def test_different_networks_clicking_at_once_are_not_one_burst(tune: Services) -> None:
    content_id, links, _ = await email(tune, sent_ago=3600.0)
    moment = utcnow()
    for offset, (ip, link_id) in enumerate((("203.0.113.9", links[0]), ("192.0.2.7", links[1]))):
        await click(
            tune, content_id, link_id, moment + timedelta(seconds=0.2 * offset), hit(tune, ip)
        )
    assert (await human_figures(tune))["click_unique"] == 1
    assert "click_bot" not in await human_figures(tune)


async def test_the_honeypot_flags_the_email_s_clicks_around_it_and_quarantines_its_source(
    tune: Services,
) -> None:
    content_id, links, _ = await email(tune, sent_ago=3600.0)
    other_id, other_links, _ = await email(tune, sent_ago=3600.0)
    moment = utcnow()
    await click(tune, content_id, links[0], moment, hit(tune, "192.0.2.50"))
    assert (await human_figures(tune))["click_unique"] == 1
    scanner = hit(tune, "192.0.2.99")
    await tune.writer.record(
        HoneypotEvent(content_id, occurred_at=moment + timedelta(seconds=3), hit=scanner)
    )
    assert await flags(tune, content_id) == [
        ("click", "link", "honeypot_window"),
        ("click", "honeypot", "honeypot"),
    ]
    # The same address on another email, minutes later: still a scanner.
    await click(tune, other_id, other_links[0], moment + timedelta(minutes=5), scanner)
    assert (await flags(tune, other_id))[0][2] == "scanner_source"
    assert await human_figures(tune) == {"click_total": 3, "click_bot": 3}
    SOURCES.clear()


async def test_click_webhooks_wait_to_settle_and_a_reflagged_click_is_never_sent(
    tune: Services,
) -> None:
    async with tune.db.write() as session:
        endpoint = (
            await create_endpoint(
                session,
                app_secret=tune.config.secret_key,
                url="https://crm.example/hook",
                events=["open", "click"],
            )
        ).endpoint.id
    content_id, links, _ = await email(tune, sent_ago=600.0)
    scanner = hit(tune, "198.51.100.23")
    moment = utcnow()
    await click(tune, content_id, links[0], moment, scanner)
    async with tune.db.read() as session:
        pending = list(await session.scalars(select(WebhookDelivery)))
    assert [row.event_type for row in pending] == ["open", "click"]
    assert all(row.endpoint_id == endpoint for row in pending)
    due = moment + timedelta(seconds=59)
    assert all(row.next_attempt_at is not None and row.next_attempt_at >= due for row in pending)
    await click(tune, content_id, links[1], moment + timedelta(seconds=0.5), scanner)
    async with tune.db.read() as session:
        assert list(await session.scalars(select(WebhookDelivery))) == []


async def test_a_burst_after_the_stored_last_click_is_seen_though_that_lags(
    tune: Services,
) -> None:
    """Clicks 9 s after the stored last click do not move it; a burst 10.5 s after it (two
    links 1.5 s apart, each in its own commit) is still judged against the earlier one."""
    content_id, links, _ = await email(tune, sent_ago=3600.0)
    scanner = hit(tune, "198.51.100.30")
    moment = utcnow()
    for offset, link_id in ((0.0, links[0]), (9.0, links[0]), (10.5, links[1])):
        await click(tune, content_id, link_id, moment + timedelta(seconds=offset), scanner)
        if offset == 9.0:
            assert (await content(tune, content_id)).last_clicked_at == moment  # not moved
    assert [reason for kind, _, reason in await flags(tune, content_id) if kind == "click"] == [
        None,
        "multi_link_burst",
        "multi_link_burst",
    ]
