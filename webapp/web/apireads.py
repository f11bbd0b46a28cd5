"""The key-authenticated reads the API layer answers in front of Quart, as one table.

Each entry names a Quart route (its method and rule template, checked against
the app's URL map when the layer is built) and a read function taking the table,
the app's `Services` and the path's values (an `<int:...>` id within Quart's
bound, a `<tier>` spelt `1`, `2` or `3`: anything else is left to Quart's route),
returning the route's own response model (declared once, in `webapp/web/api/`)
or its bytes (the 50-item pages are written from rows by `webapp/web/apipages.py`,
byte for byte the model's JSON). Each read calls the plain-SQL domain read its Quart route calls
(`webapp/campaigns/`, `webapp/outbound/contentreads.py`, `webapp/prospects/tierpage.py`,
`webapp/prospects/detail.py`, `webapp/tracking/reclassify.py`), so both paths answer from
one query. The layer
(`webapp/web/apilayer.py`) matches a request against the table, counts it against
the key's limit and answers the model serialised as Quart serialises the route's
answer: pydantic's encoder for a `PlainShape`, else quart-schema's dump and the
app's JSON provider.

A read raises `NotFound` for a missing resource (answered, as the route would);
any other failure leaves the request to Quart, which reads again and reports it.
Each read sends its query after the request arrived: nothing is kept across
requests except what is built from rows just read (`ReadTable.kept`): an answer
is kept with the rows it was written from, and answered again only for equal rows;
and the emails' signed URLs and escaped bodies (`ReadTable.email_fields`), each kept
with what it was written from.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from quart import Quart

from webapp.campaigns import figures, listing, stats
from webapp.core.budgeted import Budgeted
from webapp.core.common import TIERS
from webapp.outbound import contentreads
from webapp.outbound.contents import TrackingUrls
from webapp.prospects import detail, tierpage
from webapp.web import apipages
from webapp.web.api import plain_json
from webapp.web.api.campaigns import Campaign, CampaignWithCounts, Stats
from webapp.web.api.contents import Email
from webapp.web.api.industries import Industry
from webapp.web.api.keys import MAX_ID, MAX_IDS
from webapp.web.api.prospects import ProspectDetail
from webapp.web.api.shapes import Page, PlainShape
from webapp.web.api.tracking import FlagReasons
from webapp.web.pagination import DEFAULT_LIMIT
from webapp.web.services import Services

ReadFunction = Callable[["ReadTable", Services, tuple[int, ...]], Awaitable[BaseModel | bytes]]
"""A read: the table (its caches), the app's services and the path's values; the answer's
model, or its bytes when the read keeps them."""


async def campaign_stats(table: ReadTable, tune: Services, ids: tuple[int, ...]) -> bytes:
    """`GET /api/campaigns/<id>/stats`; the answer is built again only when a counter changed
    (the rows are read on every request, so every committed event counts)."""
    (campaign_id,) = ids
    rows = await stats.counter_rows(tune.db, campaign_id)
    key = ("stats", campaign_id)
    content = table.kept.get(key, rows)
    if content is None:
        content = plain_json(Stats.model_validate(stats.stats_from_rows(campaign_id, rows)))
        table.kept.keep(key, rows, content)
    return content


class KeptBodies(Budgeted[tuple[Any, ...], tuple[Any, bytes]]):
    """The last body of each kept answer (a campaign's stats, the first page of its emails
    and of a tier's prospects, a prospect) with the rows it was written from: a read whose rows are
    equal answers the kept bytes instead of writing them again (comparing 50 rows costs a
    few per cent of writing them). The rows are read on every request, so every committed
    change shows at once. Bounded by the bodies' size: the longest unwritten are forgotten
    first when the next one would go over `budget` bytes, so a client sweeping many prospects
    does not cost the polled stats and pages their kept bodies."""

    def get(self, key: tuple[Any, ...], rows: Any) -> bytes | None:
        """The kept body of this page when it was written from rows equal to these."""
        item = self.kept.get(key)
        if item is None:
            return None
        kept_rows, content = item[0]
        return content if kept_rows == rows else None

    def keep(self, key: tuple[Any, ...], rows: Any, content: bytes) -> None:
        self.put(key, (rows, content), len(content))


KEPT_BUDGET = 8 * 1024 * 1024
"""Bytes of bodies the table keeps (about as much again for their rows)."""


async def campaign(table: ReadTable, tune: Services, ids: tuple[int, ...]) -> CampaignWithCounts:
    """`GET /api/campaigns/<id>`."""
    return CampaignWithCounts.model_validate(await figures.read_campaign(tune.db, ids[0]))


async def industries(table: ReadTable, tune: Services, ids: tuple[int, ...]) -> Page[Industry]:
    """`GET /api/industries`."""
    rows = await listing.industries(tune.db)
    return Page[Industry].of([Industry.model_validate(row) for row in rows], None)


async def campaigns(table: ReadTable, tune: Services, ids: tuple[int, ...]) -> Page[Campaign]:
    """`GET /api/campaigns` without parameters: the first page, newest first."""
    rows, next_key = await listing.newest_campaigns(tune.db, DEFAULT_LIMIT)
    return Page[Campaign].of([Campaign.model_validate(row) for row in rows], next_key)


async def content(table: ReadTable, tune: Services, ids: tuple[int, ...]) -> Email:
    """`GET /api/contents/<id>`."""
    written = await contentreads.read_content(tune.db, ids[0])
    return Email.of(written, TrackingUrls(tune.config.base_url, tune.signer))


async def campaign_contents(table: ReadTable, tune: Services, ids: tuple[int, ...]) -> bytes:
    """`GET /api/campaigns/<id>/contents` without parameters: the first page, written from
    the rows (`apipages`)."""
    page = await contentreads.campaign_content_page(tune.db, ids[0], DEFAULT_LIMIT)
    key = ("contents", ids[0])
    content = table.kept.get(key, page)
    if content is None:
        urls = TrackingUrls(tune.config.base_url, tune.signer)
        content = apipages.emails_page(page, urls, table.email_fields)
        table.kept.keep(key, page, content)
    return content


async def campaign_flags(table: ReadTable, tune: Services, ids: tuple[int, ...]) -> FlagReasons:
    """`GET /api/campaigns/<id>/flags`."""
    return await FlagReasons.read(tune.db, ids[0])


async def tier_prospects(table: ReadTable, tune: Services, ids: tuple[int, ...]) -> bytes:
    """`GET /api/campaigns/<id>/prospects/<tier>` without parameters: the first page, hot
    first then by score, written from the rows (`apipages`)."""
    campaign_id, tier = ids
    rows, next_key = await tierpage.tier_page_rows(tune.db, campaign_id, tier, DEFAULT_LIMIT)
    key = ("tier", campaign_id, tier)
    content = table.kept.get(key, (rows, next_key))
    if content is None:
        content = apipages.prospects_page(rows, next_key)
        table.kept.keep(key, (rows, next_key), content)
    return content


async def prospect(table: ReadTable, tune: Services, ids: tuple[int, ...]) -> bytes:
    """`GET /api/prospects/<id>`; the answer is written again only when one of its rows
    changed (`prospects.detail`: the rows are read on every request)."""
    rows = await detail.prospect_rows(tune.db, ids[0])
    key = ("prospect", ids[0])
    content = table.kept.get(key, rows)
    if content is None:
        content = body(table.app, ProspectDetail.model_validate(detail.detail(rows)))
        table.kept.keep(key, rows, content)
    return content


READS: dict[tuple[str, str], ReadFunction] = {
    ("GET", "/api/campaigns/<int:campaign_id>/stats"): campaign_stats,
    ("GET", "/api/campaigns/<int:campaign_id>"): campaign,
    ("GET", "/api/industries"): industries,
    ("GET", "/api/campaigns"): campaigns,
    ("GET", "/api/contents/<int:content_id>"): content,
    ("GET", "/api/campaigns/<int:campaign_id>/contents"): campaign_contents,
    ("GET", "/api/campaigns/<int:campaign_id>/flags"): campaign_flags,
    ("GET", "/api/campaigns/<int:campaign_id>/prospects/<tier>"): tier_prospects,
    ("GET", "/api/prospects/<int:prospect_id>"): prospect,
}
"""(method, the Quart route's rule) -> its read; a request with a query string is Quart's."""

SegmentValue = Callable[[str], int | None]
"""A variable path segment's value as the read takes it, or None to leave the path to Quart."""

VALUES: dict[str, SegmentValue] = {"<tier>": {str(tier): tier for tier in TIERS}.get}
"""Variable segments other than `<int:...>` by their text in the rule, with what the layer
takes: a tier in its one spelling (`1`, `2`, `3`); anything else Quart's route reads itself
(`prospects.queries.parse_tier`: ` 1`, `01` or a 400)."""


@dataclass(frozen=True, slots=True)
class Route:
    """One entry of the table, its rule split into path segments."""

    method: str
    rule: str
    read: ReadFunction
    segments: tuple[str | SegmentValue, ...]
    """The rule's segments: the literal text, or what a variable segment takes."""

    def values(self, parts: list[str]) -> tuple[int, ...] | None:
        """The path's values when the path (split on `/`) is this rule's, else None."""
        found: list[int] = []
        for part, segment in zip(parts, self.segments, strict=True):
            if isinstance(segment, str):
                if part != segment:
                    return None
            else:
                value = segment(part)
                if value is None:
                    return None
                found.append(value)
        return tuple(found)


class ReadTable:
    """The table's routes by method and segment count, checked against the app's URL map,
    and what the reads keep between requests."""

    def __init__(self, app: Quart, reads: dict[tuple[str, str], ReadFunction] = READS) -> None:
        rules = {
            (method, rule.rule)
            for rule in app.url_map.iter_rules()
            for method in rule.methods or ()
        }
        self.app = app
        self.routes: dict[tuple[str, int], list[Route]] = {}
        for (method, rule), read in reads.items():
            if (method, rule) not in rules:
                raise LookupError(f"no Quart route {method} {rule} for the API layer to answer")
            segments = tuple(segment(part) for part in rule.split("/"))
            route = Route(method, rule, read, segments)
            self.routes.setdefault((method, len(segments)), []).append(route)
        self.kept = KeptBodies(KEPT_BUDGET)
        """The stats, the first pages of emails and tiers and the prospects, written again
        only when one of their rows changed."""
        self.email_fields = apipages.EmailFields(apipages.FIELDS_BUDGET)
        """The emails' signed URLs and escaped bodies, for pages written again."""

    def match(self, method: str, path: str) -> tuple[Route, tuple[int, ...]] | None:
        """The route a request path is for, with its values; None when none of them takes it."""
        parts = path.split("/")
        for route in self.routes.get((method, len(parts)), ()):
            values = route.values(parts)
            if values is not None:
                return route, values
        return None


def segment(part: str) -> str | SegmentValue:
    """A rule's segment: its literal text, or what the variable takes as Quart's route does
    (beyond an `<int:...>`'s bound, Quart answers 404)."""
    if part.startswith("<int:") and part.endswith(">"):
        bound = MAX_IDS.get(part[5:-1], MAX_ID)
        return lambda text: _bounded(path_id(text), bound)
    if part.startswith("<"):
        if part not in VALUES:
            raise LookupError(f"no values for the path segment {part} in the API layer")
        return VALUES[part]
    return part


def _bounded(value: int | None, bound: int) -> int | None:
    return value if value is not None and value <= bound else None


def body(app: Quart, answer: BaseModel | bytes) -> bytes:
    """The bytes Quart writes for a route returning `answer` (`webapp.web.api.install`)."""
    if isinstance(answer, bytes):
        return answer
    if isinstance(answer, PlainShape):
        return plain_json(answer)
    return app.json.dumps(answer.model_dump()).encode() + b"\n"


def path_id(text: str) -> int | None:
    """Digits as Quart's `int` converter takes them (no sign, no leading zero), or None."""
    if not text or len(text) > 19 or not text.isascii() or not text.isdigit() or text[0] == "0":
        return None
    return int(text)
