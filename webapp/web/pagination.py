"""Keyset pagination shared by every list, API and dashboard alike: `?limit=&cursor=`.

A cursor is the sort key of the last item served, base64-encoded JSON. It is
opaque to clients; one that is malformed, or whose parts do not fit the list's
sort key (a `KeyShape`: each part's type and the column's range), is a 422
naming `cursor`, never a query the database refuses.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any, Literal

from webapp.core.errors import ValidationFailed
from webapp.core.paging import PageRequest

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def integer(bits: int) -> range:
    """The values of a signed integer column of `bits` bits."""
    return range(-(2 ** (bits - 1)), 2 ** (bits - 1))


KeyShape = tuple[range | Literal["boolean"], ...]
CAMPAIGN_KEY: KeyShape = (integer(32),)
"""Campaigns newest first: `[id]`."""
CONTENT_KEY: KeyShape = (integer(64),)
"""Emails in order: `[id]`."""
EVENT_KEY: KeyShape = (integer(64),)
"""Events in the order they were stored: `[id]`."""
TIER_KEY: KeyShape = ("boolean", integer(16), integer(64))
"""Prospects of a tier: `[hot, score, id]`."""
FOLLOWUP_KEY: KeyShape = (integer(16), integer(64), integer(64))
"""The follow-up list: `[reason rank, minus microseconds of the signal, prospect id]`."""


def encode_cursor(key: list[Any]) -> str:
    raw = json.dumps(key, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _fits(part: object, kind: range | Literal["boolean"]) -> bool:
    if kind == "boolean":
        return isinstance(part, bool)
    return isinstance(part, int) and not isinstance(part, bool) and part in kind


def decode_cursor(cursor: str, key: KeyShape) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        parts = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        raise ValidationFailed("cursor is not valid", field="cursor") from None
    if not isinstance(parts, list) or len(parts) != len(key):
        raise ValidationFailed("cursor is not valid", field="cursor")
    if not all(_fits(part, kind) for part, kind in zip(parts, key, strict=True)):
        raise ValidationFailed("cursor is not valid", field="cursor")
    return parts


def page_request(args: Mapping[str, str], key: KeyShape, limit: int) -> PageRequest:
    """A dashboard page of `limit` rows after the cursor in `args["cursor"]`, if any."""
    cursor = args.get("cursor")
    return PageRequest(limit=limit, after=decode_cursor(cursor, key) if cursor else None)
