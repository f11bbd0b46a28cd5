"""Markdown templates: most sales emails are plain text, so a rep can write one that way.

A Markdown template's body is rendered with its merge fields first (as plain
text, no escaping), then turned into HTML by markdown-it-py with raw HTML off:
whatever a merge field or the rep typed, `<script>` and `<img onerror>` come out
as text, and links are limited to markdown-it's safe schemes. The HTML part is
the Markdown's HTML in Tune's email layout; the text part is derived from the
same Markdown (`markdown_to_text`), not from the HTML.

Both run in the template worker (`worker.py`), under its CPU and memory limits.
"""

from __future__ import annotations

from collections.abc import Sequence

from markdown_it import MarkdownIt
from markdown_it.token import Token

from webapp.outbound.templates.defaults import DOCUMENT

_PARSER = MarkdownIt("commonmark", {"html": False, "breaks": True, "linkify": False})


def markdown_to_html(source: str) -> str:
    """The email's HTML document: the Markdown rendered safely inside Tune's layout."""
    return DOCUMENT.format(body=_PARSER.render(source))


def markdown_to_text(source: str) -> str:
    """The plain-text part: the Markdown as a reader of plain mail should see it.

    Paragraphs are separated by a blank line, list items read "- item" or "1. item",
    emphasis markers are dropped, and a link reads "label (url)" (just the url when the
    label is the url), links appearing in the same order as in the HTML part.
    """
    lines = _Text()
    _blocks(_PARSER.parse(source), lines)
    return lines.result()


class _Text:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, text: str, prefix: str = "") -> None:
        for number, line in enumerate(text.split("\n")):
            lead = prefix if number == 0 else " " * len(prefix)
            self.lines.append(f"{lead}{line}".rstrip())

    def blank(self) -> None:
        if self.lines and self.lines[-1] != "":
            self.lines.append("")

    def result(self) -> str:
        return "\n".join(self.lines).strip("\n") + "\n"


def _blocks(tokens: Sequence[Token], out: _Text) -> None:
    """Walk block tokens, keeping a stack of open lists for item prefixes."""
    lists: list[list[int]] = []  # per open list: [next number] or [] for bullets
    quote = 0
    prefix: str | None = None
    for token in tokens:
        kind = token.type
        if kind in ("bullet_list_open", "ordered_list_open"):
            start = int(token.attrGet("start") or 1) if kind == "ordered_list_open" else None
            lists.append([start] if start is not None else [])
        elif kind in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
            if not lists:
                out.blank()
        elif kind == "list_item_open":
            indent = "  " * (len(lists) - 1)
            numbers = lists[-1] if lists else []
            if numbers:
                prefix = f"{indent}{numbers[0]}. "
                numbers[0] += 1
            else:
                prefix = f"{indent}- "
        elif kind == "blockquote_open":
            quote += 1
        elif kind == "blockquote_close":
            quote -= 1
        elif kind == "inline":
            lead = "> " * quote + (prefix or "")
            prefix = None
            out.add(_inline(token.children or []), lead)
        elif kind in ("fence", "code_block"):
            out.add(token.content.rstrip("\n"), "> " * quote)
            out.blank()
        elif kind == "hr":
            out.add("---")
            out.blank()
        elif kind in ("paragraph_close", "heading_close") and not lists:
            out.blank()


def _inline(children: Sequence[Token]) -> str:
    pieces: list[str] = []
    links: list[tuple[str, int]] = []  # (href, where its label starts in pieces)
    for child in children:
        kind = child.type
        if kind in ("text", "code_inline"):
            pieces.append(child.content)
        elif kind in ("softbreak", "hardbreak"):
            pieces.append("\n")
        elif kind == "image":
            pieces.append(child.content or "")
        elif kind == "link_open":
            links.append((str(child.attrGet("href") or ""), len(pieces)))
        elif kind == "link_close" and links:
            href, start = links.pop()
            label = "".join(pieces[start:]).strip()
            if not label or label == href:
                del pieces[start:]
                pieces.append(href)
            elif href:
                pieces.append(f" ({href})")
    return "".join(pieces)
