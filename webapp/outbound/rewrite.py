"""Rewrite an email's HTML for tracking.

`rewrite_html` swaps the href of every `<a href="http(s)://...">` for a tracked
URL and adds a footer with the unsubscribe link, the open pixel and the honeypot
link (an empty, hidden anchor only link scanners follow; docs/tracking.md). It edits
the original string in place, at offsets found by the standard library's HTML
parser: everything it does not rewrite (comments, doctype, entity references,
attribute quoting, whitespace, odd markup) comes out byte for byte.

Attribute values are read the way browsers read them (first `href` wins,
surrounding whitespace and embedded tabs/newlines dropped, character references
decoded with the HTML attribute rules), so the stored original URL is the one a
reader's browser would have opened.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from html import escape, unescape
from html.entities import html5 as html5_entities
from html.parser import HTMLParser

TrackLink = Callable[[str, int], str]
"""`track_link(original_url, position) -> tracked_url`; position is the index in `links`."""


@dataclass(frozen=True)
class RewriteResult:
    """The rewritten document and the original URLs of its tracked anchors.

    `links[i]` is the URL of the i-th tracked anchor in document order, the one
    `track_link` was called with at position i. A URL linked twice appears
    twice, so a click can be attributed to the exact anchor.
    """

    html: str
    links: list[str]


def rewrite_html(
    html: str,
    *,
    track_link: TrackLink,
    pixel_url: str | None,
    unsubscribe_url: str,
    honeypot_url: str | None = None,
) -> RewriteResult:
    """Track every http(s) anchor and add the unsubscribe/pixel footer.

    Not tracked: relative links, `#fragments`, `mailto:`, `tel:`, `javascript:`
    and other schemes, anchors without an href, and anchors that already point
    at `unsubscribe_url` (an unsubscribe is not a click). When the document
    already links to `unsubscribe_url`, the footer carries only the pixel.
    The footer goes just before `</body>` (else `</html>`, else the end).
    """
    locator = _TagLocator(html)
    locator.feed(html)
    locator.close()

    unsubscribe_target = unsubscribe_url.strip()
    edits: list[tuple[int, int, str]] = []
    links: list[str] = []
    links_to_unsubscribe = False
    for tag_start, tag_text in locator.anchors:
        href = find_href(tag_text)
        if href is None:
            continue
        value_start, value_end, raw_value = href
        url = attribute_url(raw_value)
        if url == unsubscribe_target:
            links_to_unsubscribe = True
            continue
        if not _is_web_url(url):
            continue
        tracked = track_link(url, len(links))
        links.append(url)
        quote = "'" if raw_value.startswith("'") else '"'
        replacement = f"{quote}{escape(tracked, quote=True)}{quote}"
        edits.append((tag_start + value_start, tag_start + value_end, replacement))

    footer = _footer(None if links_to_unsubscribe else unsubscribe_url, pixel_url, honeypot_url)
    footer_at = next((p for p in (locator.body_end, locator.html_end) if p is not None), len(html))
    edits.append((footer_at, footer_at, footer))

    pieces: list[str] = []
    cursor = 0
    for start, end, replacement in sorted(edits, key=lambda edit: edit[0]):
        pieces.append(html[cursor:start])
        pieces.append(replacement)
        cursor = end
    pieces.append(html[cursor:])
    return RewriteResult(html="".join(pieces), links=links)


HONEYPOT_STYLE = (
    "display:none;mso-hide:all;visibility:hidden;font-size:0;line-height:0;"
    "max-height:0;max-width:0;width:0;height:0;overflow:hidden;opacity:0;"
)
"""Each client honours some of these (docs/tracking.md, "The honeypot link"); the anchor
is also empty, so a client that ignores them all still has nothing to show or click."""


def honeypot_anchor(url: str) -> str:
    """The invisible link scanners follow and people never see: no text, no tab stop,
    hidden from screen readers, and left out of the plain-text part (outbound/text.py)."""
    return (
        f'<a href="{escape(url, quote=True)}" tabindex="-1" aria-hidden="true" '
        f'style="{HONEYPOT_STYLE}"></a>'
    )


def _footer(unsubscribe_url: str | None, pixel_url: str | None, honeypot_url: str | None) -> str:
    parts = []
    if honeypot_url is not None:
        parts.append(honeypot_anchor(honeypot_url))
    if unsubscribe_url is not None:
        parts.append(
            '<div style="margin-top:24px;font-size:12px;line-height:18px;color:#6b7280;">'
            f'<a href="{escape(unsubscribe_url.strip(), quote=True)}" '
            'style="color:#6b7280;text-decoration:underline;">Unsubscribe</a></div>'
        )
    if pixel_url is not None:
        parts.append(
            f'<img src="{escape(pixel_url, quote=True)}" width="1" height="1" alt="" '
            'style="display:none;width:1px;height:1px;border:0;">'
        )
    return "".join(parts)


class _TagLocator(HTMLParser):
    """Find where each `<a>` start tag and the closing body/html tags sit in the source."""

    def __init__(self, document: str) -> None:
        super().__init__(convert_charrefs=False)
        self._document = document
        self._line_starts = [0] + [match.end() for match in re.finditer("\n", document)]
        self.anchors: list[tuple[int, str]] = []
        self.body_end: int | None = None
        self.html_end: int | None = None

    def _offset(self) -> int:
        # getpos() is the start of the construct being handled; the parser counts "\n" only.
        line, column = self.getpos()
        return self._line_starts[line - 1] + column

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "a":
            return
        text = self.get_starttag_text()
        start = self._offset()
        if text is not None and self._document.startswith(text, start):
            self.anchors.append((start, text))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "body" and self.body_end is None:
            self.body_end = self._offset()
        elif tag == "html" and self.html_end is None:
            self.html_end = self._offset()


# The attribute grammar html.parser uses (tagfind_tolerant / attrfind_tolerant),
# so offsets found here line up with the tags the parser reported.
_TAG_NAME = re.compile(r"([a-zA-Z][^\t\n\r\f />\x00]*)(?:\s|/(?!>))*")
_ATTRIBUTE = re.compile(
    r"((?<=['\"\s/])[^\s/>][^\s/=>]*)(\s*=+\s*"
    r"('[^']*'|\"[^\"]*\"|(?!['\"])[^>\s]*))?(?:\s|/(?!>))*"
)


def find_href(tag_text: str) -> tuple[int, int, str] | None:
    """Span and raw text (quotes included) of the first href value, if it has one."""
    name = _TAG_NAME.match(tag_text, 1)
    if name is None:
        return None
    position = name.end()
    while position < len(tag_text):
        attribute = _ATTRIBUTE.match(tag_text, position)
        if attribute is None:
            return None
        if attribute.group(1).lower() == "href":
            if not attribute.group(2):
                return None
            return attribute.start(3), attribute.end(3), attribute.group(3)
        position = attribute.end()
    return None


_CHARACTER_REFERENCE = re.compile(r"&(#[0-9]+|#[xX][0-9a-fA-F]+|[a-zA-Z][a-zA-Z0-9]*)[;=]?")
_URL_STRIP = " \t\n\r\f"
_URL_TABS_AND_NEWLINES = re.compile(r"[\t\n\r]")
_WEB_URL = re.compile(r"https?://[^/?#\s]", re.IGNORECASE)


def attribute_url(raw_value: str) -> str:
    """The URL a browser would follow for this raw (possibly quoted) href value."""
    if raw_value[:1] in ("'", '"') and raw_value[-1:] == raw_value[:1] and len(raw_value) > 1:
        raw_value = raw_value[1:-1]
    value = _CHARACTER_REFERENCE.sub(_decode_attribute_reference, raw_value)
    return _URL_TABS_AND_NEWLINES.sub("", value.strip(_URL_STRIP))


def _decode_attribute_reference(match: re.Match[str]) -> str:
    # HTML attribute rule: "&region=eu" stays literal; "&amp;" and "&#38;" decode.
    reference = match.group(0)
    if reference.startswith("&#"):
        return unescape(reference)
    if not reference.endswith("=") and reference[1:] in html5_entities:
        return unescape(reference)
    return reference


def _is_web_url(url: str) -> bool:
    return _WEB_URL.match(url) is not None
