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
from webapp.core.paging import (
    ACTIVITY_KEY,
    CAMPAIGN_KEY,
    CONTENT_KEY,
    EVENT_KEY,
    EVENT_TX_KEY,
    FOLLOWUP_KEY,
    NAME_KEY,
    TEXT_MAX,
    TIER_KEY,
    KeyShape,
    PageRequest,
)

__all__ = [
    "ACTIVITY_KEY",
    "CAMPAIGN_KEY",
    "CONTENT_KEY",
    "EVENT_KEY",
    "EVENT_TX_KEY",
    "FOLLOWUP_KEY",
    "NAME_KEY",
    "TIER_KEY",
    "KeyShape",
    "PageRequest",
    "decode_cursor",
    "encode_cursor",
    "page_request",
]

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def encode_cursor(key: list[Any]) -> str:
    raw = json.dumps(key, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _fits(part: object, kind: range | Literal["boolean", "text"]) -> bool:
    if kind == "boolean":
        return isinstance(part, bool)
    if kind == "text":
        return isinstance(part, str) and len(part) <= TEXT_MAX
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
