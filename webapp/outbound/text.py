"""The plain-text part of an email, derived from its HTML.

Mail clients that do not show HTML, and spam filters that compare both parts,
read this one: blocks become lines, lists and links stay readable. Links are
found the way `rewrite.py` finds them, so both parts name the same URLs.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from webapp.outbound.rewrite import attribute_url, find_href

_SKIPPED_ELEMENTS = frozenset({"style", "script", "title", "template"})
_VOID_ELEMENTS = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
)
_PARAGRAPH_ELEMENTS = frozenset(
    {"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table", "ul", "ol", "dl"}
)
_LINE_ELEMENTS = frozenset(
    {
        "address", "article", "aside", "center", "dd", "details", "div", "dt", "fieldset",
        "figcaption", "figure", "footer", "form", "header", "li", "main", "nav", "section",
        "summary", "tbody", "thead", "tfoot", "tr",
    }
)  # fmt: skip
_CELL_ELEMENTS = frozenset({"td", "th"})
_WHITESPACE_RUN = re.compile(r"[ \t\n\r\f\v\xa0]+")
_TEXT_LINK = re.compile(r"(?:https?://|mailto:)", re.IGNORECASE)


def html_to_text(html: str) -> str:
    """A readable plain-text alternative for the HTML part of an email.

    Blocks become lines (paragraphs and headings get a blank line), list items
    become "- item" ("1. item" in ordered lists), table cells are joined with
    spaces, links read "text (url)", and title/style/script content is dropped, as is
    anything marked `aria-hidden="true"` (the honeypot link).
    """
    converter = _TextConverter()
    converter.feed(html)
    converter.close()
    return converter.text()


class _TextConverter(HTMLParser):
    """Collect text line by line while tracking open lists, links and skipped elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._lines: list[str] = []
        self._line: list[str] = []
        self._skipping: list[str] = []
        self._lists: list[list[int]] = []  # per open list: [next number] or [] for bullets
        self._item_prefix: str | None = None
        self._links: list[tuple[str | None, list[str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_ELEMENTS:
            self._skipping.append(tag)
            return
        if self._skipping:
            return
        if tag not in _VOID_ELEMENTS and dict(attrs).get("aria-hidden") == "true":
            # Hidden from people (the honeypot link): not part of what they read.
            self._skipping.append(tag)
            return
        if tag == "br":
            self._end_line()
        elif tag == "hr":
            self._end_line(blank=True)
        elif tag in ("ul", "ol"):
            self._end_line(blank=not self._lists)
            self._lists.append([1] if tag == "ol" else [])
        elif tag == "li":
            self._end_line()
            self._start_item()
        elif tag in _PARAGRAPH_ELEMENTS:
            self._end_line(blank=True)
        elif tag in _LINE_ELEMENTS:
            self._end_line()
        elif tag in _CELL_ELEMENTS:
            self._add(" ")
        elif tag == "a":
            self._links.append((_link_target(self.get_starttag_text() or ""), []))
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt and self._links:
                self._add(alt)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID_ELEMENTS:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._skipping:
            if tag in self._skipping:
                while self._skipping and self._skipping.pop() != tag:
                    pass
            return
        if tag in ("ul", "ol"):
            self._end_line(blank=len(self._lists) <= 1)
            if self._lists:
                self._lists.pop()
        elif tag == "li":
            self._end_line()
            self._item_prefix = None
        elif tag in _PARAGRAPH_ELEMENTS:
            self._end_line(blank=True)
        elif tag in _LINE_ELEMENTS:
            self._end_line()
        elif tag in _CELL_ELEMENTS:
            self._add(" ")
        elif tag == "a" and self._links:
            target, words = self._links.pop()
            label = _WHITESPACE_RUN.sub(" ", "".join(words)).strip()
            if target and not _same_link(label, target):
                self._add(f" ({target})" if label else target)

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self._add(data)

    def _add(self, text: str) -> None:
        self._line.append(text)
        for _, words in self._links:
            words.append(text)

    def _start_item(self) -> None:
        indent = "  " * max(len(self._lists) - 1, 0)
        numbers = self._lists[-1] if self._lists else []
        if numbers:
            self._item_prefix = f"{indent}{numbers[0]}. "
            numbers[0] += 1
        else:
            self._item_prefix = f"{indent}- "

    def _end_line(self, *, blank: bool = False) -> None:
        text = _WHITESPACE_RUN.sub(" ", "".join(self._line)).strip()
        self._line = []
        if text:
            if self._item_prefix is not None:
                self._lines.append(self._item_prefix + text)
                self._item_prefix = " " * len(self._item_prefix)
            else:
                self._lines.append(text)
        if blank and self._lines and self._lines[-1]:
            self._lines.append("")

    def text(self) -> str:
        self._end_line()
        return "\n".join(self._lines).strip("\n")


def _link_target(tag_text: str) -> str | None:
    """The URL of an `<a>` tag worth showing in text: web and mailto links only."""
    href = find_href(tag_text)
    if href is None:
        return None
    url = attribute_url(href[2])
    return url if _TEXT_LINK.match(url) else None


def _same_link(label: str, target: str) -> bool:
    bare = re.sub(r"^(?:https?://|mailto:)", "", target, flags=re.IGNORECASE).rstrip("/")
    return label.rstrip("/").lower() in (target.lower().rstrip("/"), bare.lower())
