"""A page asked of a list: how many rows, and after which sort key.

It lives in the core because the domain queries take it (they page with keyset
conditions) while the HTTP adapters build it from `?limit=&cursor=`
(`webapp.web.pagination` encodes and checks the cursors).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PageRequest:
    limit: int
    """Rows to return at most."""
    after: list[Any] | None
    """The sort key of the last row already served, or None for the first page."""
