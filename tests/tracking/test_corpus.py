"""Accuracy on the labelled corpus: precision and recall of "human", with the real writer.

`corpus/hits.json` (built by `corpus/generate.py`, which says where its numbers come
from) holds 291 emails' hits with their truth. They are replayed in time order through
the app's event writer and classifier into a real database, then the stored flags,
after every re-flag, are compared with the truth. The figures are published in
docs/tracking.md ("Accuracy").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from tests.support.factories import make_campaign, make_recipient
from webapp.core.models import Event, Link, utcnow
from webapp.tracking.bursts import SOURCES
from webapp.tracking.events import ClickEvent, HoneypotEvent, OpenEvent, TrackedEvent
from webapp.tracking.hits import make_hit
from webapp.web.services import Services

CORPUS = Path(__file__).with_name("corpus") / "hits.json"


@dataclass
class Figures:
    click_precision: float
    click_recall: float
    open_recall: float
    open_precision: float
    proxy_opens: int
    proxy_opens_lost: int
    clicks: int
    opens: int


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def replay(tune: Services) -> tuple[list[dict[str, Any]], dict[tuple[Any, datetime], bool]]:
    emails = json.loads(CORPUS.read_text())["emails"]
    sent_at = utcnow() - timedelta(days=30)
    planned: list[tuple[datetime, dict[str, Any], TrackedEvent]] = []
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
        for email in emails:
            urls = tuple(f"https://example.com/{i}" for i in range(email["links"]))
            content = await make_recipient(session, campaign, urls=urls, sent_at=sent_at)
            links = list(
                await session.scalars(
                    select(Link.id).where(Link.content_id == content.id).order_by(Link.position)
                )
            )
            for hit in email["hits"]:
                moment = sent_at + timedelta(seconds=hit["at"])
                request = make_hit(
                    user_agent=hit["agent"], ip=hit["ip"], method="GET", salt=tune.ip_salt
                )
                event: TrackedEvent
                if hit["kind"] == "open":
                    event = OpenEvent(content.id, occurred_at=moment, hit=request)
                elif hit["link"] == "honeypot":
                    event = HoneypotEvent(content.id, occurred_at=moment, hit=request)
                else:
                    event = ClickEvent(content.id, occurred_at=moment, source="link",
                                       link_id=links[hit["link"]], hit=request)  # fmt: skip
                hit["content_id"], hit["moment"] = content.id, moment
                planned.append((moment, hit, event))
    planned.sort(key=lambda item: item[0])
    SOURCES.clear()
    for _, _, event in planned:
        await tune.writer.record(event)
    SOURCES.clear()
    async with tune.db.read() as session:
        rows = await session.execute(
            select(Event.content_id, Event.occurred_at, Event.flagged).where(
                Event.source.in_(("pixel", "link"))
            )
        )
        flagged = {(cid, _utc(at)): bool(flag) for cid, at, flag in rows}
    return [hit for _, hit, _ in planned], flagged


def figures(hits: list[dict[str, Any]], flagged: dict[tuple[Any, datetime], bool]) -> Figures:
    counts = {key: 0 for key in ("tp", "fp", "fn", "otp", "ofp", "ofn", "proxy", "lost")}
    clicks = opens = 0
    for hit in hits:
        if hit["kind"] == "click" and hit.get("link") == "honeypot":
            continue  # always a scanner's: counting it would flatter the figures
        human_truth = hit["truth"] == "human"
        said_human = not flagged[(hit["content_id"], _utc(hit["moment"]))]
        prefix = "" if hit["kind"] == "click" else "o"
        if hit["kind"] == "click":
            clicks += 1
        else:
            opens += 1
        if said_human and human_truth:
            counts[prefix + "tp"] += 1
        elif said_human:
            counts[prefix + "fp"] += 1
        elif human_truth:
            counts[prefix + "fn"] += 1
        if hit.get("proxy"):
            counts["proxy"] += 1
            counts["lost"] += not said_human
    return Figures(
        click_precision=counts["tp"] / max(counts["tp"] + counts["fp"], 1),
        click_recall=counts["tp"] / max(counts["tp"] + counts["fn"], 1),
        open_recall=counts["otp"] / max(counts["otp"] + counts["ofn"], 1),
        open_precision=counts["otp"] / max(counts["otp"] + counts["ofp"], 1),
        proxy_opens=counts["proxy"],
        proxy_opens_lost=counts["lost"],
        clicks=clicks,
        opens=opens,
    )


async def test_the_classifier_meets_its_targets_on_the_labelled_corpus(tune: Services) -> None:
    hits, flagged = await replay(tune)
    result = figures(hits, flagged)
    print(result)  # the figures docs/tracking.md publishes (pytest -s shows them)
    assert result.clicks > 200 and result.opens > 250
    assert result.click_precision >= 0.98, result
    assert result.click_recall >= 0.95, result
    assert result.open_recall >= 0.95, result
    assert result.proxy_opens > 50 and result.proxy_opens_lost == 0, result


def test_the_corpus_is_what_its_generator_writes() -> None:
    from tests.tracking.corpus.generate import SEED, build

    stored = json.loads(CORPUS.read_text())
    assert stored["seed"] == SEED
    assert stored["emails"] == build()
