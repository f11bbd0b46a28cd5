"""CSV cells a spreadsheet will not run as formulas: every CSV Tune hands out (campaign
exports, engagement, an import's rejected rows) writes its cells through `safe_cell`.

It has a module of its own so that what only needs the cell (the importer's
rejects download) does not load the outbound sending chain with it.
"""

from __future__ import annotations

import re
import unicodedata

_FORMULA_START = frozenset("=+-@")
_CELL_BREAKS = re.compile(r"(?<=[;\t\r\n])")
"""Where a spreadsheet reading the file with another delimiter (`;`, tab) or
misreading its quotes may start a new cell."""
_SKIPPED = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})
"""Control, format (zero-width, BOM) and separator characters a spreadsheet may skip."""


def safe_cell(value: object) -> str:
    """A CSV cell a spreadsheet will not run as a formula, however it splits the cell.

    Every piece that could start a cell (the cell itself, and what follows a
    `;`, tab or line break) gets a leading `'` when, after the blanks,
    invisible characters and quotes a spreadsheet may skip, it starts with
    `=`, `+`, `-` or `@` (full-width and other compatibility forms such as
    `＝` included), or when it starts with a tab or carriage return.
    Nothing else changes.
    """
    text = "" if value is None else str(value)
    return "".join(
        "'" + piece if _evaluates(piece) else piece for piece in _CELL_BREAKS.split(text)
    )


def _evaluates(piece: str) -> bool:
    if piece.startswith(("\t", "\r")):
        return True
    for char in piece:
        if char == '"' or char.isspace() or unicodedata.category(char) in _SKIPPED:
            continue
        return unicodedata.normalize("NFKC", char)[:1] in _FORMULA_START
    return False
