"""The JSON of the API layer's 50-item pages, written straight from the rows read.

API clients and CRMs poll the first page of a campaign's emails and of a
tier's prospects. Building a pydantic model per item and dumping it through
Quart's JSON provider cost more than everything else of such a request, so
the API layer (`webapp/web/apireads.py`) writes these pages' bodies here, from
the rows of the plain-SQL reads the Quart routes call too
(`webapp/outbound/contentreads.py`, `webapp/prospects/tierpage.py`).

The route's model (`Page[Email]`, `Page[Prospect]` in `webapp/web/api/`) stays
the one declaration of the shape: these writers write byte for byte what Quart
writes for it, `json.dumps(model.model_dump(), ensure_ascii=True)` and a
newline (Tune's app keeps keys in the model's field order; `", "` and `": "`
between items, text through the same C escaping as the `json` module's, times
in ISO format as `Timestamp` writes them), and tests/web/test_apipages.py checks
every field and every nullable value of both against the model's
serialisation. A field added to a model fails those tests until it is
written here too.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from json.encoder import encode_basestring_ascii as _text
from typing import Any

from webapp.core.db import read_time
from webapp.outbound.contentreads import ContentPage
from webapp.outbound.contents import TrackingUrls
from webapp.prospects.tierpage import TierRows
from webapp.web.pagination import encode_cursor


def emails_page(page: ContentPage, urls: TrackingUrls) -> bytes:
    """`Page[Email]`'s JSON for a page of a campaign's emails, its URLs signed by `urls`."""
    items = []
    for row in page.rows:
        content_id, campaign_id, contact_id, tier, subject, html, text, status, sent_at = row
        unsubscribe = urls.unsubscribe(content_id)
        pixel = _text(urls.pixel(content_id)) if page.tracking else "null"
        links = ", ".join(
            [
                f'{{"url": {_text(url)}, "tracked_url": {_text(urls.click(content_id, position))}}}'
                for position, url in page.links[content_id]
            ]
        )
        items.append(
            f'{{"id": {_int(content_id)}, "campaign_id": {_int(campaign_id)}, '
            f'"contact_id": {_int(contact_id)}, "tier": {_int(tier)}, '
            f'"subject": {_text(subject)}, "html": {_text(html)}, "text": {_text(text)}, '
            f'"pixel_url": {pixel}, "unsubscribe_url": {_text(unsubscribe)}, '
            f'"links": [{links}], "headers": {_strings(urls.unsubscribe_headers(unsubscribe))}, '
            f'"send_status": {_text(status)}, "sent_at": {_time(sent_at)}}}'
        )
    return _page(items, page.next_key)


def prospects_page(page: TierRows, next_key: list[Any] | None) -> bytes:
    """`Page[Prospect]`'s JSON for a page of a tier's prospects with their contacts."""
    items = []
    for row, contact_rows in page:
        (
            prospect_id,
            campaign_id,
            name,
            domain,
            industry,
            employees,
            revenue,
            country,
            tier,
            score,
            reasons,
            hot,
            last_activity_at,
        ) = row
        if tier not in (1, 2, 3):
            raise ValueError(f"tier {tier!r} is not one the model takes")
        contacts = ", ".join(
            [
                f'{{"id": {_int(contact_id)}, "email": {_text(email)}, '
                f'"first_name": {_optional(first_name)}, "last_name": {_optional(last_name)}, '
                f'"title": {_optional(title)}, "seniority": {_optional(seniority)}, '
                f'"unsubscribed": {"false" if unsubscribed_at is None else "true"}}}'
                for (
                    contact_id,
                    email,
                    first_name,
                    last_name,
                    title,
                    seniority,
                    unsubscribed_at,
                ) in contact_rows
            ]
        )
        items.append(
            f'{{"id": {_int(prospect_id)}, "campaign_id": {_int(campaign_id)}, '
            f'"name": {_text(name)}, "domain": {_optional(domain)}, '
            f'"industry": {_optional(industry)}, "employees": {_optional_int(employees)}, '
            f'"revenue": {_optional_int(revenue)}, "country": {_optional(country)}, '
            f'"tier": {_int(tier)}, "score": {_int(score)}, '
            f'"score_reasons": {_reasons(reasons)}, "hot": {"true" if hot else "false"}, '
            f'"last_activity_at": {_time(last_activity_at)}, "contacts": [{contacts}]}}'
        )
    return _page(items, next_key)


def _page(items: list[str], next_key: list[Any] | None) -> bytes:
    cursor = _text(encode_cursor(next_key)) if next_key else "null"
    return f'{{"items": [{", ".join(items)}], "next_cursor": {cursor}}}\n'.encode()


def _int(value: object) -> str:
    """An integer as `json` writes it; anything else is not what the model holds."""
    if value.__class__ is not int:
        raise TypeError(f"{value!r} is not an integer")
    return int.__repr__(value)


def _optional_int(value: object) -> str:
    return "null" if value is None else _int(value)


def _optional(value: str | None) -> str:
    return "null" if value is None else _text(value)


def _time(value: Any) -> str:
    """A time read by plain SQL as `Timestamp` writes it (ISO format), or null."""
    moment = read_time(value)
    return "null" if moment is None else _text(moment.isoformat())


def _strings(values: dict[str, str]) -> str:
    """A dict of text, in its order."""
    return "{" + ", ".join([f"{_text(k)}: {_text(v)}" for k, v in values.items()]) + "}"


@functools.lru_cache(maxsize=4096)
def _reasons(stored: str) -> str:
    """A prospect's stored score reasons (JSON text: a list of objects) as the model
    writes them: keys in their order, ASCII. Prospects share most of their reasons' texts, so the
    last few thousand are kept (the answer depends on the text alone)."""
    reasons: Sequence[Any] = json.loads(stored)
    if not isinstance(reasons, list) or not all(isinstance(r, dict) for r in reasons):
        raise ValueError("score reasons are not a list of objects")
    return json.dumps(reasons)
