"""The rep's prospect list: each filter, each sort, keyset paging that neither skips nor
repeats, and counts that agree with the rows (on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.factories import make_campaign, make_contact, make_content, make_prospect
from webapp.core.errors import ValidationFailed
from webapp.prospects.listing import (
    FILTERS,
    ListQuery,
    first_pages,
    from_micros,
    list_tier,
    micros,
    parse_query,
    tier_counts,
)
from webapp.web.pagination import PageRequest, decode_cursor, encode_cursor
from webapp.web.services import Services

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


async def _world(tune: Services) -> dict[str, Any]:
    """One prospect per state a rep filters by, all in tier 1, plus one in tier 2."""
    async with tune.db.write() as session:
        campaign = await make_campaign(session, "List")

        async def prospect(name: str, score: int, **content: Any) -> int:
            activity = content.pop("activity", None)
            stopped = content.pop("stopped", {})
            hot = content.pop("hot", False)
            row = await make_prospect(
                session, campaign, name, score=score, hot=hot, last_activity_at=activity
            )
            contact = await make_contact(session, row, **stopped)
            if content:
                await make_content(session, contact, **content)
            return row.id

        ids = {
            "new": await prospect("Zed Newcomer", 80),
            "queued": await prospect("alpha queued", 75, send_status="queued"),
            "sent": await prospect("Bravo Sent", 70, sent_at=T0, send_status="sent"),
            "opened": await prospect(
                "Charlie Opened",
                60,
                sent_at=T0,
                first_opened_at=T0 + timedelta(hours=1),
                activity=T0 + timedelta(hours=1),
            ),
            "clicked": await prospect(
                "Delta Clicked",
                50,
                sent_at=T0,
                first_opened_at=T0 + timedelta(hours=2),
                first_clicked_at=T0 + timedelta(hours=2),
                activity=T0 + timedelta(hours=2),
            ),
            "replied": await prospect(
                "Echo Replied",
                40,
                sent_at=T0,
                first_opened_at=T0 + timedelta(hours=3),
                replied_at=T0 + timedelta(hours=3),
                activity=T0 + timedelta(hours=3),
                hot=True,
            ),
            "bounced": await prospect(
                "Foxtrot Bounced", 30, sent_at=T0, stopped={"bounced_at": T0}
            ),
            "unsubscribed": await prospect(
                "Golf Unsubscribed", 20, sent_at=T0, stopped={"unsubscribed_at": T0}
            ),
        }
        other = await make_prospect(session, campaign, "Tier Two Replied", tier=2)
        other_contact = await make_contact(session, other)
        await make_content(session, other_contact, sent_at=T0, replied_at=T0)
        return {"campaign": campaign.id, **ids}


async def _names(tune: Services, campaign_id: int, query: ListQuery, limit: int = 50) -> list[str]:
    async with tune.db.read() as session:
        rows, _ = await list_tier(session, campaign_id, 1, query, PageRequest(limit, None))
    return [row.name for row in rows]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("hot", ["Echo Replied"]),
        ("replied", ["Echo Replied"]),
        ("clicked", ["Delta Clicked"]),
        ("opened", ["Charlie Opened", "Delta Clicked"]),
        ("uncontacted", ["Zed Newcomer", "alpha queued"]),
        ("stopped", ["Foxtrot Bounced", "Golf Unsubscribed"]),
    ],
)
async def test_each_filter_shows_the_prospects_in_that_state_and_counts_them(
    tune: Services, name: str, expected: list[str]
) -> None:
    ids = await _world(tune)
    query = ListQuery(sort="score", filter=name)
    assert sorted(await _names(tune, ids["campaign"], query)) == sorted(expected)
    async with tune.db.read() as session:
        counts = await tier_counts(session, ids["campaign"], query)
    assert counts[1] == len(expected)
    assert counts[2] == (1 if name == "replied" else 0)


async def test_sorts_by_score_by_activity_then_score_and_by_name_ignoring_case(
    tune: Services,
) -> None:
    ids = await _world(tune)
    campaign_id = ids["campaign"]
    by_score = await _names(tune, campaign_id, ListQuery(sort="score"))
    assert by_score[0] == "Echo Replied"  # hot first
    assert by_score[1:4] == ["Zed Newcomer", "alpha queued", "Bravo Sent"]
    by_activity = await _names(tune, campaign_id, ListQuery(sort="activity"))
    assert by_activity[:3] == ["Echo Replied", "Delta Clicked", "Charlie Opened"]
    assert by_activity[3:5] == ["Zed Newcomer", "alpha queued"]  # then the untouched by score
    by_name = await _names(tune, campaign_id, ListQuery(sort="name"))
    assert by_name[:3] == ["alpha queued", "Bravo Sent", "Charlie Opened"]
    assert by_name[-1] == "Zed Newcomer"


@pytest.mark.parametrize("sort", ["score", "activity", "name"])
@pytest.mark.parametrize("narrow", [None, "stopped"])
async def test_keyset_pages_of_every_sort_cover_the_list_once_in_order(
    tune: Services, sort: str, narrow: str | None
) -> None:
    ids = await _world(tune)
    query = ListQuery(sort=sort, filter=narrow)
    whole = await _names(tune, ids["campaign"], query)
    seen: list[str] = []
    after = None
    async with tune.db.read() as session:
        for _ in range(20):
            rows, key = await list_tier(session, ids["campaign"], 1, query, PageRequest(2, after))
            seen += [row.name for row in rows]
            if key is None:
                break
            # The cursor survives the round trip through the URL and fits its sort only.
            after = decode_cursor(encode_cursor(key), query.key())
    assert seen == whole
    assert len(whole) == (2 if narrow else 8)


async def test_a_cursor_of_another_sort_is_refused() -> None:
    score_cursor = encode_cursor([True, 50, 7])
    with pytest.raises(ValidationFailed) as failure:
        decode_cursor(score_cursor, ListQuery(sort="name").key())
    assert failure.value.field == "cursor"


def test_unknown_sort_or_filter_is_a_clear_error_naming_it() -> None:
    with pytest.raises(ValidationFailed) as failure:
        parse_query("price", None, None)
    assert failure.value.field == "sort" and "score" in failure.value.message
    with pytest.raises(ValidationFailed) as failure:
        parse_query(None, "maybe", None)
    assert failure.value.field == "filter"
    assert all(name in failure.value.message for name in FILTERS)
    query = parse_query("", "", "  Acme   Hotels ", default_sort="activity")
    assert query == ListQuery(sort="activity", filter=None, search="Acme Hotels")
    assert query.args() == {"q": "Acme Hotels", "sort": "activity"}


def test_activity_cursor_times_round_trip_to_the_microsecond() -> None:
    moment = datetime(2026, 11, 29, 23, 1, 2, 345678, tzinfo=UTC)
    assert from_micros(micros(moment)) == moment


@pytest.mark.parametrize("sort", ["score", "activity", "name"])
async def test_the_one_pass_first_pages_match_the_keyset_lists_and_the_counts(
    tune: Services, sort: str
) -> None:
    ids = await _world(tune)
    async with tune.db.read() as session:
        for name in [*FILTERS, None]:
            for search in ("", "e"):
                query = ListQuery(sort=sort, filter=name, search=search)
                pages, counts = await first_pages(session, ids["campaign"], query, 2)
                assert counts == await tier_counts(session, ids["campaign"], query)
                for tier in (1, 2, 3):
                    expected, key = await list_tier(
                        session, ids["campaign"], tier, query, PageRequest(2, None)
                    )
                    rows, cursor = pages[tier]
                    assert [p.id for p in rows] == [p.id for p in expected], (query, tier)
                    assert cursor == key, (query, tier)
