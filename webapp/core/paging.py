"""A page asked of a list: how many rows, and after which sort key; and the shape of
each list's sort key (what a cursor may hold).

It lives in the core because the domain queries take it (they page with keyset
conditions) while the HTTP adapters build it from `?limit=&cursor=`
(`webapp.web.pagination` encodes and checks the cursors).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class PageRequest:
    limit: int
    """Rows to return at most."""
    after: list[Any] | None
    """The sort key of the last row already served, or None for the first page."""


def integer(bits: int) -> range:
    """The values of a signed integer column of `bits` bits."""
    return range(-(2 ** (bits - 1)), 2 ** (bits - 1))


KeyShape = tuple[range | Literal["boolean", "text"], ...]
TEXT_MAX = 200
"""The longest text part a cursor may hold (a prospect's name)."""
CAMPAIGN_KEY: KeyShape = (integer(32),)
"""Campaigns newest first: `[id]`."""
CONTENT_KEY: KeyShape = (integer(64),)
"""Emails in order: `[id]`."""
EVENT_KEY: KeyShape = (integer(64),)
"""Events in id order: `[id]` (SQLite's, and PostgreSQL's cursors before migration 0024)."""
EVENT_TX_KEY: KeyShape = (integer(64), integer(64))
"""Events by the transaction that stored them: `[txid, id]` (PostgreSQL; campaigns/feed.py)."""
TIER_KEY: KeyShape = ("boolean", integer(16), integer(64))
"""Prospects of a tier by score: `[hot, score, id]`."""
ACTIVITY_KEY: KeyShape = ("boolean", integer(64), integer(16), integer(64))
"""Prospects of a tier by last activity: `[active, microseconds since 1970, score, id]`."""
NAME_KEY: KeyShape = ("text", integer(64))
"""Prospects of a tier by name: `[lower-cased name, id]`."""
FOLLOWUP_KEY: KeyShape = (integer(16), integer(64), integer(64))
"""The follow-up list: `[reason rank, minus microseconds of the signal, prospect id]`."""
