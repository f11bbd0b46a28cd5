"""Reclassification: stored events judged again by the current rules, counts rebuilt."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from quart.typing import TestClientProtocol as Client
from sqlalchemy import func, select

from tests.support.counts import counters
from tests.support.factories import make_campaign, make_recipient
from tests.support.servers import run_cli, tune_env
from tests.tracking.test_corpus import replay
from webapp.core.models import (
    ActivityBucket,
    CampaignCounter,
    Content,
    Event,
    Link,
    Prospect,
    utcnow,
)
from webapp.tracking.events import hour_bucket
from webapp.tracking.reclassify import mark_event, reclassify
from webapp.web.services import Services

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)


async def old_burst(tune: Services) -> tuple[int, int]:
    """A scanner's three-link sweep as the first rules stored it: two human clicks, the
    first of them unique with the open it implied, and only the third flagged."""
    sent_at = utcnow() - timedelta(hours=1)
    moment = utcnow() - timedelta(minutes=30)
    urls = ("https://example.com/a", "https://example.com/b", "https://example.com/c")
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
        content = await make_recipient(session, campaign, urls=urls, sent_at=sent_at,
                                       first_opened_at=moment, first_clicked_at=moment)  # fmt: skip
        links = list(await session.scalars(select(Link.id).where(Link.content_id == content.id)))
        common: dict[str, Any] = {
            "campaign_id": campaign.id, "content_id": content.id, "contact_id": content.contact_id,
            "prospect_id": content.prospect_id, "tier": content.tier, "ruleset": 1,
        }  # fmt: skip
        hit = {"user_agent": CHROME, "ip_hash": "scanner", "ip_prefix": "198.51.100.0/24"}
        session.add(Event(kind="open", source="inferred", occurred_at=moment, flagged=False,
                          unique_hit=True, **common))  # fmt: skip
        for i, (link_id, reason) in enumerate(
            zip(links, (None, None, "multi_link_burst"), strict=True)
        ):
            session.add(Event(kind="click", source="link", link_id=link_id,
                              occurred_at=moment + timedelta(seconds=0.1 * i),
                              flagged=reason is not None, flag_reason=reason,
                              unique_hit=i == 0, **common, **hit))  # fmt: skip
        for name, value in (("open_total", 1), ("open_unique", 1), ("click_total", 3),
                            ("click_unique", 1), ("click_bot", 1)):  # fmt: skip
            session.add(CampaignCounter(campaign_id=campaign.id, tier=content.tier, name=name,
                                        value=value))  # fmt: skip
        for kind, value in (("open", 1), ("click", 3)):
            session.add(ActivityBucket(campaign_id=campaign.id, bucket=hour_bucket(moment),
                                       kind=kind, value=value))  # fmt: skip
        return campaign.id, content.id


async def buckets(tune: Services) -> dict[str, int]:
    async with tune.db.read() as session:
        rows = await session.execute(
            select(ActivityBucket.kind, func.sum(ActivityBucket.value)).group_by(
                ActivityBucket.kind
            )
        )
        return {kind: int(value) for kind, value in rows if value}


async def nonzero(tune: Services) -> dict[str, int]:
    return {name: value for name, value in (await counters(tune)).items() if value}


async def test_a_burst_the_first_rules_let_through_is_reclassified(tune: Services) -> None:
    campaign_id, content_id = await old_burst(tune)
    async with tune.db.write() as session:
        changes = await reclassify(session, campaign_id)
    assert changes.summary().startswith("2 clicks reclassified as bot and 0 as human")
    assert "in 1 campaign " in changes.summary()
    assert await nonzero(tune) == {"click_total": 3, "click_bot": 3}
    assert await buckets(tune) == {"click": 3}  # the implied open is gone from the chart
    async with tune.db.read() as session:
        content = await session.get(Content, content_id)
        rows = (await session.execute(select(Event.source, Event.flag_reason, Event.ruleset))).all()
    assert content is not None
    assert content.first_opened_at is None and content.first_clicked_at is None
    assert [tuple(row) for row in rows] == [("link", "multi_link_burst", 2)] * 3
    async with tune.db.write() as session:
        again = await reclassify(session)
    assert again.by_campaign == {campaign_id: 0}


async def test_a_rep_marks_one_event_and_the_rules_leave_it_so(tune: Services) -> None:
    campaign_id, _ = await old_burst(tune)
    async with tune.db.write() as session:
        await reclassify(session, campaign_id)
        first = await session.scalar(select(Event.id).order_by(Event.occurred_at).limit(1))
        assert first is not None
        await mark_event(session, first, human=True)
    assert await nonzero(tune) == {
        "click_total": 3,
        "click_bot": 2,
        "click_unique": 1,
        "open_total": 1,
        "open_unique": 1,
    }
    async with tune.db.write() as session:
        await reclassify(session)  # the rep's verdict stands
    assert (await nonzero(tune))["click_unique"] == 1
    async with tune.db.write() as session:
        await mark_event(session, first, human=False)
    assert await nonzero(tune) == {"click_total": 3, "click_bot": 3}


async def test_replaying_the_corpus_gives_what_the_writer_stored(tune: Services) -> None:
    # The writer (incremental, raw addresses) and reclassification (replay, stored
    # prefixes) run the same rules: on the corpus they must agree to the last count.
    await replay(tune)
    stored = (await nonzero(tune), await buckets(tune), await firsts(tune), await activity(tune))
    async with tune.db.write() as session:
        changes = await reclassify(session)
    assert sum(changes.by_campaign.values()) == 0, changes.summary()
    assert (
        await nonzero(tune),
        await buckets(tune),
        await firsts(tune),
        await activity(tune),
    ) == stored


async def activity(tune: Services) -> list[tuple[Any, ...]]:
    async with tune.db.read() as session:
        rows = await session.execute(
            select(Prospect.id, Prospect.last_activity_at).order_by(Prospect.id)
        )
        return [tuple(row) for row in rows]


async def firsts(tune: Services) -> list[tuple[Any, ...]]:
    async with tune.db.read() as session:
        rows = await session.execute(
            select(Content.id, Content.first_opened_at, Content.first_clicked_at).order_by(
                Content.id
            )
        )
        return [tuple(row) for row in rows]


def test_the_command_reports_what_changed(database_url: str, tmp_path: Path) -> None:
    env = tune_env(database_url, tmp_path)
    result = run_cli(["events", "reclassify", "--campaign", "999"], env, tmp_path)
    assert result.returncode != 0 and "campaign 999 does not exist" in result.stderr
    result = run_cli(["events", "reclassify"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("0 clicks reclassified as bot")


async def test_a_prospect_whose_only_recent_open_was_a_machine_no_longer_sorts_as_active(
    tune: Services, client: Client, auth: dict[str, Any]
) -> None:
    # Stored by earlier rules as people reading: a real open two days ago, and an
    # Apple Mail Privacy Protection fetch an hour ago (the proxy's bare user agent).
    sent_at = utcnow() - timedelta(days=3)
    reader_opened, proxy_fetched = utcnow() - timedelta(days=2), utcnow() - timedelta(hours=1)
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
        ids: dict[str, int] = {}
        for name, moment, agent in (
            ("reader", reader_opened, CHROME),
            ("proxied", proxy_fetched, "Mozilla/5.0"),
        ):
            content = await make_recipient(session, campaign, sent_at=sent_at,
                                           first_opened_at=moment)  # fmt: skip
            ids[name] = content.prospect_id
            prospect = await session.get(Prospect, content.prospect_id)
            assert prospect is not None
            prospect.last_activity_at = moment
            session.add(Event(kind="open", source="pixel", occurred_at=moment, flagged=False,
                              unique_hit=True, campaign_id=campaign.id, content_id=content.id,
                              contact_id=content.contact_id, prospect_id=content.prospect_id,
                              tier=content.tier, ruleset=1, user_agent=agent,
                              ip_hash=name, ip_prefix="203.0.113.0/24"))  # fmt: skip
    path = f"/api/campaigns/{campaign.id}/prospects/1?sort=activity"

    async def listed() -> list[tuple[int, str | None]]:
        response = await client.get(path, headers=auth)
        assert response.status_code == 200
        items = (await response.get_json())["items"]
        return [(item["id"], item["last_activity_at"]) for item in items]

    assert [pid for pid, _ in await listed()] == [ids["proxied"], ids["reader"]]
    async with tune.db.write() as session:
        changes = await reclassify(session, campaign.id)
    assert changes.opens_to_machine == 1
    (first, first_at), (second, second_at) = await listed()
    assert (first, second) == (ids["reader"], ids["proxied"])
    assert first_at is not None and second_at is None
    async with tune.db.write() as session:  # a rep says a person did read it after all
        proxied = await session.scalar(select(Event.id).where(Event.prospect_id == ids["proxied"]))
        assert proxied is not None
        await mark_event(session, proxied, human=True)
    assert [pid for pid, _ in await listed()] == [ids["proxied"], ids["reader"]]
