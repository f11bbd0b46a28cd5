"""Text a database can store: the one check every text input passes before it is written.

PostgreSQL refuses the NUL character in text columns, and no driver can encode a
lone UTF-16 surrogate (which a JSON `"\\ud800"` escape produces) as UTF-8. Such a
value is the client's mistake, so it is refused as a 422 naming the field rather
than failing in the driver as a 500. The API's pydantic text type and the
prospect importers call the same function. `excerpt` cuts a stored reply to the
first lines that a list or a webhook delivery shows.

It also holds `possessive`, the one way a name is made possessive on the pages
and in emails ("Acme's", "Choice Hotels'").
"""

from __future__ import annotations

import re

from webapp.core.errors import ValidationFailed

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable_character(text: str) -> str | None:
    """Why `text` cannot be stored (naming the first bad character), or None when it can."""
    match = _UNSTORABLE.search(text)
    if match is None:
        return None
    return f"contains the character U+{ord(match.group()):04X}, which cannot be stored"


def check_storable(text: str, field: str) -> str:
    """`text` unchanged, or ValidationFailed (422) naming `field`."""
    problem = unstorable_character(text)
    if problem is not None:
        raise ValidationFailed(f"{field} {problem}", field=field)
    return text


EXCERPT_MAX = 500
"""Characters of a reply an excerpt keeps (a webhook delivery, the follow-up list)."""


def excerpt(text: str, lines: int = 3) -> str:
    """The first non-empty lines of a reply, stripped, at most `EXCERPT_MAX` characters."""
    kept = [line.strip() for line in text.splitlines() if line.strip()][:lines]
    return "\n".join(kept)[:EXCERPT_MAX]


def possessive(name: object) -> str:
    """ "Acme" → "Acme's"; a name ending in s → "Choice Hotels'"; nothing → ""."""
    text = str(name or "").rstrip()
    if not text:
        return ""
    return f"{text}'" if text[-1] in "sS" else f"{text}'s"
