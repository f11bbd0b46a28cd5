"""The key-authenticated reads the API layer answers in front of Quart, as one table.

Each entry names a Quart route (its method and rule template, checked against
the app's URL map when the layer is built) and a read function taking the
`Database` and the route's integer path ids, returning the route's own response
model (declared once, in `webapp/web/api/`). The layer (`webapp/web/apilayer.py`)
matches a request against the table, counts it against the key's limit and
answers the model serialised as Quart serialises the route's answer: pydantic's
encoder for a `PlainShape`, else quart-schema's dump and the app's JSON provider.

A read raises `NotFound` for a missing resource (answered, as the route would);
any other failure leaves the request to Quart, which reads again and reports it.
Each read sends its query after the request arrived: nothing here is cached
across requests except what is built from rows just read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from quart import Quart

from webapp.campaigns import figures, listing, stats
from webapp.core.db import Database
from webapp.web.api import plain_json
from webapp.web.api.campaigns import Campaign, CampaignWithCounts, Stats
from webapp.web.api.industries import Industry
from webapp.web.api.keys import MAX_ID, MAX_IDS
from webapp.web.api.shapes import Page, PlainShape
from webapp.web.pagination import DEFAULT_LIMIT

ReadFunction = Callable[[Database, tuple[int, ...]], Awaitable[BaseModel]]


async def campaign_stats(db: Database, ids: tuple[int, ...]) -> Stats:
    """`GET /api/campaigns/<id>/stats`; the model and its bytes are built again only when a
    counter changed (the rows are read on every request, so every committed event counts)."""
    (campaign_id,) = ids
    rows = await stats.counter_rows(db, campaign_id)
    cached = _stats_models.get(campaign_id)
    if cached is not None and cached[0] == rows:
        return cached[1]
    model = Stats.model_validate(stats.stats_from_rows(campaign_id, rows))
    if len(_stats_models) >= 1024:
        _stats_models.clear()
        _bodies.clear()
    if cached is not None:
        _bodies.pop(id(cached[1]), None)
    _stats_models[campaign_id] = (rows, model)
    _bodies[id(model)] = (model, plain_json(model))
    return model


_stats_models: dict[int, tuple[list[tuple[Any, ...]], Stats]] = {}
"""The last answer per campaign with the rows it was built from (models are never changed)."""

_bodies: dict[int, tuple[BaseModel, bytes]] = {}
"""The bytes of the models reads keep and answer again (by identity): serialised once."""


async def campaign(db: Database, ids: tuple[int, ...]) -> CampaignWithCounts:
    """`GET /api/campaigns/<id>`."""
    return CampaignWithCounts.model_validate(await figures.read_campaign(db, ids[0]))


async def industries(db: Database, ids: tuple[int, ...]) -> Page[Industry]:
    """`GET /api/industries`."""
    rows = await listing.industries(db)
    return Page[Industry].of([Industry.model_validate(row) for row in rows], None)


async def campaigns(db: Database, ids: tuple[int, ...]) -> Page[Campaign]:
    """`GET /api/campaigns` without parameters: the first page, newest first."""
    rows, next_key = await listing.newest_campaigns(db, DEFAULT_LIMIT)
    return Page[Campaign].of([Campaign.model_validate(row) for row in rows], next_key)


READS: dict[tuple[str, str], ReadFunction] = {
    ("GET", "/api/campaigns/<int:campaign_id>/stats"): campaign_stats,
    ("GET", "/api/campaigns/<int:campaign_id>"): campaign,
    ("GET", "/api/industries"): industries,
    ("GET", "/api/campaigns"): campaigns,
}
"""(method, the Quart route's rule) -> its read; a request with a query string is Quart's."""


@dataclass(frozen=True, slots=True)
class Route:
    """One entry of the table, its rule split into path segments."""

    method: str
    rule: str
    read: ReadFunction
    segments: tuple[str | None, ...]
    """The rule's segments: the literal text, or None where an id goes."""
    bounds: tuple[int, ...]
    """The largest id Quart's route takes, per id segment (beyond it Quart answers 404)."""

    def ids(self, parts: list[str]) -> tuple[int, ...] | None:
        """The path's ids when the path (split on `/`) is this rule's, else None."""
        found: list[int] = []
        for part, segment in zip(parts, self.segments, strict=True):
            if segment is None:
                value = path_id(part)
                if value is None or value > self.bounds[len(found)]:
                    return None
                found.append(value)
            elif part != segment:
                return None
        return tuple(found)


class ReadTable:
    """The table's routes by method and segment count, checked against the app's URL map."""

    def __init__(self, app: Quart, reads: dict[tuple[str, str], ReadFunction] = READS) -> None:
        rules = {
            (method, rule.rule)
            for rule in app.url_map.iter_rules()
            for method in rule.methods or ()
        }
        self.routes: dict[tuple[str, int], list[Route]] = {}
        for (method, rule), read in reads.items():
            if (method, rule) not in rules:
                raise LookupError(f"no Quart route {method} {rule} for the API layer to answer")
            segments: list[str | None] = []
            bounds: list[int] = []
            for part in rule.split("/"):
                if part.startswith("<int:") and part.endswith(">"):
                    segments.append(None)
                    bounds.append(MAX_IDS.get(part[5:-1], MAX_ID))
                else:
                    segments.append(part)
            route = Route(method, rule, read, tuple(segments), tuple(bounds))
            self.routes.setdefault((method, len(segments)), []).append(route)

    def match(self, method: str, path: str) -> tuple[Route, tuple[int, ...]] | None:
        """The route a request path is for, with its ids; None when none of them takes it."""
        parts = path.split("/")
        for route in self.routes.get((method, len(parts)), ()):
            ids = route.ids(parts)
            if ids is not None:
                return route, ids
        return None


def body(app: Quart, model: BaseModel) -> bytes:
    """The bytes Quart writes for a route returning `model` (`webapp.web.api.install`)."""
    known = _bodies.get(id(model))
    if known is not None and known[0] is model:
        return known[1]
    if isinstance(model, PlainShape):
        return plain_json(model)
    return app.json.dumps(model.model_dump()).encode() + b"\n"


def path_id(text: str) -> int | None:
    """Digits as Quart's `int` converter takes them (no sign, no leading zero), or None."""
    if not text or len(text) > 19 or not text.isascii() or not text.isdigit() or text[0] == "0":
        return None
    return int(text)
