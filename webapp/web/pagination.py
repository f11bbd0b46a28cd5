"""Keyset pagination shared by every list endpoint: `?limit=&cursor=`.

A cursor is the sort key of the last item served, base64-encoded JSON. It is
opaque to clients; a malformed one is a 422 naming `cursor`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from webapp.core.errors import ValidationFailed

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


@dataclass(frozen=True)
class PageRequest:
    limit: int
    after: list[Any] | None


def encode_cursor(key: list[Any]) -> str:
    raw = json.dumps(key, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ValidationFailed("cursor is not valid", field="cursor") from None
    if not isinstance(key, list) or len(key) != arity:
        raise ValidationFailed("cursor is not valid", field="cursor")
    if not all(isinstance(part, int | str | bool) and not isinstance(part, float) for part in key):
        raise ValidationFailed("cursor is not valid", field="cursor")
    return key


def page_request(args: Mapping[str, str], arity: int) -> PageRequest:
    """Parse `limit` and `cursor` query parameters for a sort key of `arity` parts."""
    raw_limit = args.get("limit")
    limit = DEFAULT_LIMIT
    if raw_limit not in (None, ""):
        try:
            limit = int(raw_limit)
        except ValueError:
            raise ValidationFailed("limit must be a whole number", field="limit") from None
        if not 1 <= limit <= MAX_LIMIT:
            raise ValidationFailed(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    cursor = args.get("cursor")
    after = decode_cursor(cursor, arity) if cursor else None
    return PageRequest(limit=limit, after=after)


def page(items: list[dict[str, Any]], next_key: list[Any] | None) -> dict[str, Any]:
    """The one list shape: `{"items": [...], "next_cursor": ... or null}`."""
    return {"items": items, "next_cursor": encode_cursor(next_key) if next_key else None}
