"""The prospect list a rep works from: one tier, filtered, searched, sorted, keyset-paged.

The dashboard's tier lists and the API's `GET .../prospects/{tier}` both read
through `list_tier`, so a URL and an API call with the same `filter`, `sort` and
`q` show the same prospects in the same order, and `tier_counts` counts exactly
what the lists show. The API's list in the default order (no filter or search,
by score), which clients poll, is read by plain SQL instead (`tierpage`), in the
same order with the same cursor (tests/prospects/test_tierpage.py compares them).

Each sort has its own cursor shape (`webapp.web.pagination`), so a cursor of one
sort handed to another is refused instead of silently skipping rows, and each
sort walks an index: `ix_prospects_tier_order` (score), `ix_prospects_tier_activity`
(last activity, then score) and `ix_prospects_tier_name` (lower-cased name).
Filters are semi-joins on the campaign's emails (through the covering index
`ix_contents_prospect_engagement`, never the email bodies) and contacts, so they
never count events. A narrowed first page (`first_pages`) evaluates its condition
once for all three tiers and their counts, numbering the matches per tier with a
window function; `docs/benchmarks.md` has the figures at 40,000 prospects.

Search (`search_condition`) finds a substring in any case: LIKE on the lower-cased
columns, which no B-tree can seek. On SQLite it reads the covering indexes
`ix_prospects_search` and `ix_contacts_search` instead of the rows. On PostgreSQL
the contacts' `pg_trgm` GIN indexes serve the contacts' part when the extension
was available to migration 0014 (a scan otherwise); the whole OR cannot be served
by indexes (one arm is a subplan), so a campaign's prospects are filtered, and
migration 0019 dropped the prospects' trigram indexes, which nothing read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    and_,
    func,
    literal,
    literal_column,
    not_,
    or_,
    select,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.sql.elements import ColumnElement

from webapp.core.common import TIERS
from webapp.core.errors import ValidationFailed
from webapp.core.models import Contact, Content, Prospect
from webapp.core.paging import ACTIVITY_KEY, NAME_KEY, TIER_KEY, KeyShape, PageRequest
from webapp.prospects.queries import TIER_ORDER, after_in_tier_order, tier_page

SEARCH_MAX = 100
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

FILTERS: dict[str, str] = {
    "hot": "Hot",
    "replied": "Replied",
    "clicked": "Clicked",
    "opened": "Opened, no reply",
    "uncontacted": "Not contacted yet",
    "stopped": "Bounced or unsubscribed",
}
"""`?filter=` values and their labels, in the order the dashboard offers them."""
SORTS: dict[str, str] = {
    "activity": "Last activity",
    "score": "Score",
    "name": "Name",
}
"""`?sort=` values and their labels."""
SORT_KEYS: dict[str, KeyShape] = {"activity": ACTIVITY_KEY, "score": TIER_KEY, "name": NAME_KEY}


@dataclass(frozen=True)
class ListQuery:
    """What narrows and orders a tier list; `filter` None shows every prospect."""

    sort: str = "score"
    filter: str | None = None
    search: str = ""

    @property
    def narrowed(self) -> bool:
        return bool(self.filter or self.search)

    def key(self) -> KeyShape:
        """The cursor shape of this sort."""
        return SORT_KEYS[self.sort]

    def args(self) -> dict[str, str]:
        """The query string that reproduces this list (empty parts left out)."""
        found = {"q": self.search, "filter": self.filter or "", "sort": self.sort}
        return {name: value for name, value in found.items() if value}


def clean_search(raw: object) -> str:
    """The search text, whitespace collapsed and trimmed to a sane length ("" for none)."""
    if not isinstance(raw, str):
        return ""
    return " ".join(raw.split())[:SEARCH_MAX]


def parse_query(
    sort: object, filter_: object, search: object, *, default_sort: str = "score"
) -> ListQuery:
    """A `ListQuery` from request parameters; an unknown sort or filter is a 422 naming it."""
    sort_name = sort if isinstance(sort, str) and sort else default_sort
    if sort_name not in SORTS:
        raise ValidationFailed(f"sort must be one of {', '.join(SORTS)}", field="sort")
    filter_name = filter_ if isinstance(filter_, str) and filter_ else None
    if filter_name is not None and filter_name not in FILTERS:
        raise ValidationFailed(f"filter must be one of {', '.join(FILTERS)}", field="filter")
    return ListQuery(sort_name, filter_name, clean_search(search))


def _emails_where(campaign_id: int, *conditions: ColumnElement[bool]) -> ColumnElement[bool]:
    """Prospects with an email matching `conditions`: one pass over the campaign's emails
    (a semi-join), not a probe per prospect."""
    return Prospect.id.in_(
        select(Content.prospect_id).where(Content.campaign_id == campaign_id, *conditions)
    )


def _contacts_where(campaign_id: int, *conditions: ColumnElement[bool]) -> ColumnElement[bool]:
    return Prospect.id.in_(
        select(Contact.prospect_id).where(Contact.campaign_id == campaign_id, *conditions)
    )


def filter_condition(name: str, campaign_id: int) -> ColumnElement[bool]:
    """The SQL condition of one `FILTERS` entry within a campaign."""
    if name == "hot":
        return Prospect.hot.is_(True)
    if name == "replied":
        return _emails_where(campaign_id, Content.replied_at.is_not(None))
    if name == "clicked":
        return _emails_where(campaign_id, Content.first_clicked_at.is_not(None))
    if name == "opened":
        return and_(
            _emails_where(campaign_id, Content.first_opened_at.is_not(None)),
            not_(_emails_where(campaign_id, Content.replied_at.is_not(None))),
        )
    if name == "uncontacted":
        return not_(_emails_where(campaign_id, Content.sent_at.is_not(None)))
    if name == "stopped":
        return _contacts_where(
            campaign_id,
            or_(Contact.unsubscribed_at.is_not(None), Contact.bounced_at.is_not(None)),
        )
    raise ValidationFailed(f"filter must be one of {', '.join(FILTERS)}", field="filter")


FULL_NAME = func.lower(
    func.coalesce(Contact.first_name, literal_column("''"))
    + literal_column("' '")
    + func.coalesce(Contact.last_name, literal_column("''"))
)
"""A contact's lower-cased "first last", written with constants, as migration 0014's
trigram index on PostgreSQL is, so the planner recognises it."""


def search_condition(search: str, campaign_id: int) -> ColumnElement[bool]:
    """Company, domain, contact name or email containing `search` (any case)."""
    needle = search.lower()
    return or_(
        func.lower(Prospect.name).contains(needle, autoescape=True),
        func.lower(Prospect.domain).contains(needle, autoescape=True),
        _contacts_where(
            campaign_id,
            or_(
                func.lower(Contact.email).contains(needle, autoescape=True),
                FULL_NAME.contains(needle, autoescape=True),
            ),
        ),
    )


def conditions(query: ListQuery, campaign_id: int) -> list[ColumnElement[bool]]:
    """What the filter and search add to a tier's WHERE."""
    found: list[ColumnElement[bool]] = []
    if query.filter:
        found.append(filter_condition(query.filter, campaign_id))
    if query.search:
        found.append(search_condition(query.search, campaign_id))
    return found


def micros(moment: datetime) -> int:
    """A time as whole microseconds since 1970 (how the activity cursor holds it)."""
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


async def list_tier(
    session: AsyncSession, campaign_id: int, tier: int, query: ListQuery, page: PageRequest
) -> tuple[list[Prospect], list[Any] | None]:
    """One page of a tier's prospects matching `query`, in its sort; the cursor after it."""
    base = (
        select(Prospect)
        .where(
            Prospect.campaign_id == campaign_id,
            Prospect.tier == tier,
            *conditions(query, campaign_id),
        )
        .options(selectinload(Prospect.contacts))
        .limit(page.limit + 1)
    )
    if query.sort == "name":
        return await _by_name(session, base, page)
    if query.sort == "activity":
        return await _by_activity(session, base, page)
    ordered = base.order_by(*TIER_ORDER)
    if page.after is not None:
        ordered = ordered.where(after_in_tier_order(page.after))
    return tier_page(list(await session.scalars(ordered)), page.limit)


async def _by_name(
    session: AsyncSession, base: Any, page: PageRequest
) -> tuple[list[Prospect], list[Any] | None]:
    # The cursor holds the database's own lower(name): SQLite lower-cases ASCII only.
    lowered = func.lower(Prospect.name)
    query = base.add_columns(lowered).order_by(lowered, Prospect.id)
    if page.after is not None:
        query = query.where(
            tuple_(lowered, Prospect.id) > tuple_(literal(str(page.after[0])), int(page.after[1]))
        )
    found = list((await session.execute(query)).all())
    rows = [row[0] for row in found]
    if len(rows) <= page.limit:
        return rows, None
    last, last_lowered = found[page.limit - 1]
    return rows[: page.limit], [last_lowered, last.id]


async def _by_activity(
    session: AsyncSession, base: Any, page: PageRequest
) -> tuple[list[Prospect], list[Any] | None]:
    """Latest activity first, then the prospects without any by score: two index walks,
    the second only when the first runs out on this page."""
    after = page.after
    rows: list[Prospect] = []
    order = (Prospect.last_activity_at.desc(), Prospect.score.desc(), Prospect.id.desc())
    if after is None or after[0]:
        active = base.where(Prospect.last_activity_at.is_not(None)).order_by(*order)
        if after is not None:
            moment = literal(from_micros(int(after[1])), Prospect.last_activity_at.type)
            active = active.where(
                tuple_(Prospect.last_activity_at, Prospect.score, Prospect.id)
                < tuple_(moment, int(after[2]), int(after[3]))
            )
        rows = list(await session.scalars(active))
    if len(rows) <= page.limit:
        idle = base.where(Prospect.last_activity_at.is_(None)).order_by(
            Prospect.score.desc(), Prospect.id.desc()
        )
        if after is not None and not after[0]:
            idle = idle.where(
                tuple_(Prospect.score, Prospect.id) < tuple_(int(after[2]), int(after[3]))
            )
        rows += list(await session.scalars(idle.limit(page.limit + 1 - len(rows))))
    if len(rows) <= page.limit:
        return rows, None
    last = rows[page.limit - 1]
    if last.last_activity_at is None:
        return rows[: page.limit], [False, 0, last.score, last.id]
    return rows[: page.limit], [True, micros(last.last_activity_at), last.score, last.id]


async def tier_counts(
    session: AsyncSession, campaign_id: int, query: ListQuery | None = None
) -> dict[int, int]:
    """How many prospects of each tier match `query` (all of them without one)."""
    rows = await session.execute(
        select(Prospect.tier, func.count())
        .where(Prospect.campaign_id == campaign_id, *conditions(query or ListQuery(), campaign_id))
        .group_by(Prospect.tier)
    )
    counts = dict.fromkeys(TIERS, 0)
    for tier, count in rows:
        counts[tier] = count
    return counts


def _window_order(sort: str) -> list[Any]:
    """`ORDER BY` of a sort inside a window (the same order the keyset pages walk)."""
    if sort == "name":
        return [func.lower(Prospect.name), Prospect.id]
    if sort == "activity":
        return [
            Prospect.last_activity_at.desc().nulls_last(),
            Prospect.score.desc(),
            Prospect.id.desc(),
        ]
    return list(TIER_ORDER)


def _key_of(prospect: Prospect, sort: str, lowered: str) -> list[Any]:
    """The keyset cursor after `prospect` in `sort` (see `webapp.web.pagination`)."""
    if sort == "name":
        return [lowered, prospect.id]
    if sort == "activity":
        if prospect.last_activity_at is None:
            return [False, 0, prospect.score, prospect.id]
        return [True, micros(prospect.last_activity_at), prospect.score, prospect.id]
    return [prospect.hot, prospect.score, prospect.id]


async def first_pages(
    session: AsyncSession, campaign_id: int, query: ListQuery, limit: int
) -> tuple[dict[int, tuple[list[Prospect], list[Any] | None]], dict[int, int]]:
    """The first page of every tier and how many of each match, in ONE statement.

    For a narrowed list (a filter or a search): the condition is evaluated once over
    the campaign instead of once per tier list and again per count, and the matches
    are numbered per tier by a window function in the list's own order.
    """
    lowered = func.lower(Prospect.name)
    numbered = (
        select(
            Prospect.id.label("prospect_id"),
            func.row_number()
            .over(partition_by=Prospect.tier, order_by=_window_order(query.sort))
            .label("position"),
            func.count().over(partition_by=Prospect.tier).label("matching"),
        )
        .where(Prospect.campaign_id == campaign_id, *conditions(query, campaign_id))
        .subquery()
    )
    statement = (
        select(Prospect, numbered.c.position, numbered.c.matching, lowered)
        .join(numbered, numbered.c.prospect_id == Prospect.id)
        .where(numbered.c.position <= limit + 1)
        .order_by(Prospect.tier, numbered.c.position)
        .options(selectinload(Prospect.contacts))
    )
    found: dict[int, list[tuple[Prospect, str]]] = {tier: [] for tier in TIERS}
    counts = dict.fromkeys(TIERS, 0)
    for prospect, _, matching, name in (await session.execute(statement)).all():
        found.setdefault(prospect.tier, []).append((prospect, name))
        counts[prospect.tier] = matching
    pages: dict[int, tuple[list[Prospect], list[Any] | None]] = {}
    for tier, rows in found.items():
        if len(rows) <= limit:
            pages[tier] = ([row for row, _ in rows], None)
        else:
            last, name = rows[limit - 1]
            pages[tier] = ([row for row, _ in rows[:limit]], _key_of(last, query.sort, name))
    return pages, counts
