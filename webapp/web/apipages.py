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
between items, text through the same C escaping as the `json` module's (long ASCII
bodies through orjson's, which writes the same bytes), times
in ISO format as `Timestamp` writes them), and tests/web/test_apipages.py checks
every field and every nullable value of both against the model's
serialisation. A field added to a model fails those tests until it is
written here too.

Signing an email's tracking URLs and escaping its bodies cost more than
writing the rest of it, so those fields are kept by content id (`EmailFields`)
for the next page written when its rows changed.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii as _text
from typing import Any

import orjson

from webapp.core.budgeted import Budgeted
from webapp.core.db import read_time
from webapp.outbound.contentreads import ContentPage
from webapp.outbound.contents import TrackingUrls
from webapp.prospects.tierpage import TierRows
from webapp.web.pagination import encode_cursor


def emails_page(page: ContentPage, urls: TrackingUrls, kept: EmailFields | None = None) -> bytes:
    """`Page[Email]`'s JSON for a page of a campaign's emails, its URLs signed by `urls`
    (URLs and bodies taken from `kept` when it kept them for the same)."""
    fields = (EmailFields(0) if kept is None else kept).of(urls)
    url_fields, bodies = fields.url_fields, fields.bodies
    tracking, links = page.tracking, page.links
    items = []
    for row in page.rows:
        content_id, campaign_id, contact_id, tier, subject, html, text, status, sent_at = row
        if not (
            content_id.__class__ is int
            and campaign_id.__class__ is int
            and contact_id.__class__ is int
            and tier.__class__ is int
        ):
            raise TypeError(f"ids and tier of {row[:4]!r} are not all integers")
        items.append(
            f'{{"id": {content_id}, "campaign_id": {campaign_id}, '
            f'"contact_id": {contact_id}, "tier": {tier}, '
            f'"subject": {_text(subject)}, {bodies(content_id, html, text)}, '
            f"{url_fields(content_id, tracking, links[content_id])}, "
            f'"send_status": {_text(status)}, "sent_at": {_time(sent_at)}}}'
        )
    return _page(items, page.next_key)


class EmailFields(Budgeted[tuple[bool, int], tuple[Any, str]]):
    """The JSON of the fields of each email that a changed row seldom changes, kept by
    content id for the pages written next: its tracking URL fields (`pixel_url`,
    `unsubscribe_url`, `links`, `headers`) and its bodies (`html`, `text`).

    A signed URL depends only on the ids and the signer's secret, yet signing a page's
    150 (each email's pixel, unsubscribe link and tracked link) was a third of writing
    it when its rows changed; and escaping bodies of a few kilobytes costs more than
    the rest of an email. An email's rows change when it is sent (its status and send
    time), its URLs and bodies do not. Each is kept with what it was written from (the
    tracking flag and links; the bodies) and written again when that differs. Kept for
    one `TrackingUrls` (base URL and signer): the fields for another (a new secret is a
    new signer, made when the app starts) forget every kept one first. Bounded by the
    text kept, what they were written from included: the longest unwritten are forgotten
    first when the next would go over `budget` characters (0 keeps none), as the bodies
    kept with their rows are (`apireads.KeptBodies`).
    """

    def __init__(self, budget: int) -> None:
        super().__init__(budget)  # (bodies or not, content id) -> (written from, JSON)
        self.urls: TrackingUrls | None = None

    def of(self, urls: TrackingUrls) -> EmailFields:
        """These fields for `urls`: the kept ones are forgotten when they were for other
        ones (another base URL or signer)."""
        if urls != self.urls:
            self.clear()
            self.urls = urls
        return self

    def url_fields(self, content_id: int, tracking: bool, links: list[tuple[int, str]]) -> str:
        """The URL fields of an email, from the kept ones when written for the same."""
        source = (tracking, links)
        kept = self.kept.get((False, content_id))
        if kept is not None and kept[0][0] == source:
            return kept[0][1]
        if self.urls is None:
            raise LookupError("no tracking URLs to sign with: call `of` first")
        written = _url_fields(self.urls, content_id, tracking, links)
        size = len(written) + sum([len(url) + _LINK_OVERHEAD for _, url in links])
        self.put((False, content_id), (source, written), size)
        return written

    def bodies(self, content_id: int, html: str, text: str) -> str:
        """The `html` and `text` fields of an email, from the kept ones when written for the
        same bodies."""
        source = (html, text)
        kept = self.kept.get((True, content_id))
        if kept is not None and kept[0][0] == source:
            return kept[0][1]
        written = f'"html": {_body(html)}, "text": {_body(text)}'
        size = len(written) + len(html) + len(text)
        self.put((True, content_id), (source, written), size)
        return written


FIELDS_BUDGET = 8 * 1024 * 1024
"""Characters of fields, bodies and links the API layer keeps (about 500 emails with
bodies of 5,000 and 2,500 characters and one link, or 20,000 with short bodies; a
character of ASCII text costs a byte)."""

_LINK_OVERHEAD = 64
"""Characters counted for each kept link besides its URL (its tuple and number)."""


def _url_fields(
    urls: TrackingUrls, content_id: int, tracking: bool, links: list[tuple[int, str]]
) -> str:
    unsubscribe = urls.unsubscribe(content_id)
    pixel = _text(urls.pixel(content_id)) if tracking else "null"
    tracked = ", ".join(
        [
            f'{{"url": {_text(url)}, "tracked_url": {_text(urls.click(content_id, position))}}}'
            for position, url in links
        ]
    )
    return (
        f'"pixel_url": {pixel}, "unsubscribe_url": {_text(unsubscribe)}, '
        f'"links": [{tracked}], "headers": {_strings(urls.unsubscribe_headers(unsubscribe))}'
    )


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
        if not (
            prospect_id.__class__ is int
            and campaign_id.__class__ is int
            and tier.__class__ is int
            and score.__class__ is int
            and (employees is None or employees.__class__ is int)
            and (revenue is None or revenue.__class__ is int)
        ):
            raise TypeError(f"the numbers of prospect {prospect_id!r} are not all integers")
        contacts = []
        for contact in contact_rows:
            contact_id, email, first_name, last_name, title, seniority, unsubscribed_at = contact
            if contact_id.__class__ is not int:
                raise TypeError(f"{contact_id!r} is not an integer")
            contacts.append(
                f'{{"id": {contact_id}, "email": {_text(email)}, '
                f'"first_name": {"null" if first_name is None else _text(first_name)}, '
                f'"last_name": {"null" if last_name is None else _text(last_name)}, '
                f'"title": {"null" if title is None else _text(title)}, '
                f'"seniority": {"null" if seniority is None else _text(seniority)}, '
                f'"unsubscribed": {"false" if unsubscribed_at is None else "true"}}}'
            )
        items.append(
            f'{{"id": {prospect_id}, "campaign_id": {campaign_id}, '
            f'"name": {_text(name)}, "domain": {"null" if domain is None else _text(domain)}, '
            f'"industry": {"null" if industry is None else _text(industry)}, '
            f'"employees": {"null" if employees is None else employees}, '
            f'"revenue": {"null" if revenue is None else revenue}, '
            f'"country": {"null" if country is None else _text(country)}, '
            f'"tier": {tier}, "score": {score}, '
            f'"score_reasons": {_reasons(reasons)}, "hot": {"true" if hot else "false"}, '
            f'"last_activity_at": {_time(last_activity_at)}, "contacts": [{", ".join(contacts)}]}}'
        )
    return _page(items, next_key)


def _page(items: list[str], next_key: list[Any] | None) -> bytes:
    cursor = _text(encode_cursor(next_key)) if next_key else "null"
    return f'{{"items": [{", ".join(items)}], "next_cursor": {cursor}}}\n'.encode()


def _body(value: str) -> str:
    """An email's HTML or text as `_text` writes it. For ASCII text without DEL
    (`json` writes it as `\\u007f`), orjson's escaping writes the same bytes (quotes,
    backslashes and control characters alike) several times faster: a body of a few
    kilobytes costs `_text` tens of microseconds. Short text stays with `_text`, which
    is quicker there."""
    if value.__class__ is str and len(value) > _SHORT and value.isascii() and "\x7f" not in value:
        return orjson.dumps(value).decode()
    return _text(value)


_SHORT = 64
"""Characters up to which `_text` escapes faster than orjson and its decoding."""


def _time(value: Any) -> str:
    """A time read by plain SQL as `Timestamp` writes it (ISO format), or null. ISO format
    is ASCII letters, digits and punctuation that JSON writes as they are."""
    if value is None:
        return "null"
    if value.__class__ is str and _is_stored_time(value):
        # SQLite's naive UTC text, as Tune stores it: its ISO format is the same text.
        return f'"{value[:10]}T{value[11:]}+00:00"'
    if value.__class__ is datetime and value.tzinfo is UTC:  # PostgreSQL's
        return f'"{value.isoformat()}"'
    moment = read_time(value)
    return "null" if moment is None else f'"{moment.isoformat()}"'


def _is_stored_time(text: str) -> bool:
    """Whether `text` is a valid time spelt as Tune stores it in SQLite,
    `YYYY-MM-DD HH:MM:SS.ffffff` with microseconds other than zero (ISO format writes
    none then): a third of the cost of parsing it and writing it again."""
    if not (
        len(text) == 26
        and text[4] == text[7] == "-"
        and text[10] == " "
        and text[13] == text[16] == ":"
        and text[19] == "."
        and text.isascii()
        and text[20:].isdigit()
        and text[20:] != "000000"
    ):
        return False
    datetime.fromisoformat(text)  # ASCII digits where the rest are; a real date and time
    return True


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
