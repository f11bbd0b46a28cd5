"""Rewriting email HTML for click/open tracking."""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser

from hypothesis import given, settings
from hypothesis import strategies as st

from webapp.outbound.rewrite import RewriteResult, rewrite_html
from webapp.outbound.text import html_to_text

UNSUBSCRIBE = "https://tune.test/t/u/UNSUB"
PIXEL = "https://tune.test/t/o/PIXEL.gif"


class Recorder:
    """A track_link that records its calls and returns predictable URLs."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def __call__(self, url: str, position: int) -> str:
        self.calls.append((url, position))
        return f"https://tune.test/t/c/{position}"


def rewrite(html: str, *, pixel_url: str | None = PIXEL) -> tuple[RewriteResult, Recorder]:
    recorder = Recorder()
    result = rewrite_html(
        html, track_link=recorder, pixel_url=pixel_url, unsubscribe_url=UNSUBSCRIBE
    )
    return result, recorder


class Anchors(HTMLParser):
    """Collect the href of every anchor and the src of every image, as a browser reads them."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.hrefs: list[str | None] = []
        self.images: list[str | None] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        first = {name: value for name, value in reversed(attrs)}  # first duplicate wins
        if tag == "a":
            self.hrefs.append(first.get("href"))
        elif tag == "img":
            self.images.append(first.get("src"))


def body_of(result: RewriteResult) -> str:
    """The rewritten document without the footer the rewriter appended."""
    start = result.html.index('<div style="margin-top:24px') if UNSUBSCRIBE in result.html else -1
    footer_start = start if start >= 0 else result.html.index("<img src=" + f'"{PIXEL}"')
    footer_end = result.html.index(">", result.html.index(f'"{PIXEL}"')) + 1
    return result.html[:footer_start] + result.html[footer_end:]


def test_absolute_links_are_tracked_in_document_order() -> None:
    html = '<p><a href="https://a.example/x">A</a> and <a href="http://b.example/">B</a></p>'
    result, recorder = rewrite(html)
    assert result.links == ["https://a.example/x", "http://b.example/"]
    assert recorder.calls == [("https://a.example/x", 0), ("http://b.example/", 1)]
    assert body_of(result) == (
        '<p><a href="https://tune.test/t/c/0">A</a> and <a href="https://tune.test/t/c/1">B</a></p>'
    )


def test_non_web_links_are_left_alone_and_never_tracked() -> None:
    html = (
        '<a href="/pricing">rel</a><a href="pricing.html">rel2</a><a href="#top">frag</a>'
        '<a href="mailto:jane@acme.example?subject=Hi">mail</a><a href="tel:+15551234">tel</a>'
        '<a href="javascript:alert(document.cookie)">js</a>'
        '<a href=" JavaScript:void(0) ">js2</a><a href="ftp://files.example/">ftp</a>'
        '<a name="top">anchor</a><a href>empty</a><a href="">blank</a>'
    )
    result, recorder = rewrite(html)
    assert recorder.calls == []
    assert result.links == []
    assert body_of(result) == html


def test_query_strings_and_fragments_are_kept_in_the_stored_url() -> None:
    url = "https://acme.example/demo?utm_source=tune&utm_medium=email#book-a-call"
    result, _ = rewrite(f'<a href="{url.replace("&", "&amp;")}">Book</a>')
    assert result.links == [url]


def test_uppercase_tags_attributes_and_schemes_are_tracked() -> None:
    result, _ = rewrite("<A HREF='HTTPS://Acme.example/Path'>Go</A>")
    assert result.links == ["HTTPS://Acme.example/Path"]
    assert body_of(result) == "<A HREF='https://tune.test/t/c/0'>Go</A>"


def test_quoting_style_is_preserved_and_unquoted_values_get_double_quotes() -> None:
    html = (
        '<a class="btn" href="https://d.example/">d</a>'
        "<a href='https://s.example/' target=_blank>s</a>"
        "<a href=https://u.example/path>u</a>"
        '<a href = "https://sp.example/" >sp</a>'
    )
    result, _ = rewrite(html)
    assert body_of(result) == (
        '<a class="btn" href="https://tune.test/t/c/0">d</a>'
        "<a href='https://tune.test/t/c/1' target=_blank>s</a>"
        '<a href="https://tune.test/t/c/2">u</a>'
        '<a href = "https://tune.test/t/c/3" >sp</a>'
    )


def test_surrounding_whitespace_in_the_href_is_trimmed() -> None:
    result, _ = rewrite('<a href="\n   https://acme.example/   \t">x</a>')
    assert result.links == ["https://acme.example/"]


def test_entities_in_urls_are_decoded_like_a_browser_does() -> None:
    html = (
        '<a href="https://a.example/?a=1&amp;b=2&#38;c=3">x</a>'
        '<a href="https://b.example/?lang=en&region=eu&copy=1">y</a>'
    )
    result, _ = rewrite(html)
    assert result.links == [
        "https://a.example/?a=1&b=2&c=3",
        "https://b.example/?lang=en&region=eu&copy=1",
    ]


def test_the_tracked_url_is_escaped_into_the_attribute() -> None:
    html = '<a href="https://acme.example/">x</a>'
    result = rewrite_html(
        html,
        track_link=lambda url, position: 'https://t.example/c?a=1&b="2"',
        pixel_url=None,
        unsubscribe_url=UNSUBSCRIBE,
    )
    assert '<a href="https://t.example/c?a=1&amp;b=&quot;2&quot;">x</a>' in result.html
    assert Anchors(result.html).hrefs[0] == 'https://t.example/c?a=1&b="2"'


def test_the_same_url_twice_is_two_tracked_links() -> None:
    result, recorder = rewrite(
        '<a href="https://a.example/">1</a><a href="https://a.example/">2</a>'
    )
    assert result.links == ["https://a.example/", "https://a.example/"]
    assert [position for _, position in recorder.calls] == [0, 1]


def test_only_the_first_of_duplicate_href_attributes_counts() -> None:
    result, _ = rewrite('<a href="https://first.example/" href="https://second.example/">x</a>')
    assert result.links == ["https://first.example/"]
    assert Anchors(result.html).hrefs[0] == "https://tune.test/t/c/0"


def test_self_closing_tags_are_kept_and_self_closed_anchors_tracked() -> None:
    html = '<br/><img src="https://img.example/logo.png" /><a href="https://a.example/"/>'
    result, _ = rewrite(html)
    assert result.links == ["https://a.example/"]
    assert body_of(result) == (
        '<br/><img src="https://img.example/logo.png" /><a href="https://tune.test/t/c/0"/>'
    )


def test_comments_doctype_and_conditional_comments_are_preserved_untouched() -> None:
    html = (
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN">\n'
        "<html><head><!--[if mso]><style>td{font-family:Arial}</style><![endif]--></head>"
        '<body><!-- old link: <a href="https://old.example/">x</a> -->'
        "<script>var s = '<a href=\"https://script.example/\">';</script>"
        "<p>Caf&eacute; &amp; more&nbsp;&#8212; done</p></body></html>"
    )
    result, recorder = rewrite(html)
    assert recorder.calls == []
    assert body_of(result) == html


def test_the_footer_goes_just_before_the_closing_body_tag() -> None:
    result, _ = rewrite("<html><body><p>Hi</p></BODY>\n</html>")
    assert result.html.startswith("<html><body><p>Hi</p><div")
    assert result.html.endswith(">Unsubscribe</a></div>" + _pixel_tag() + "</BODY>\n</html>")


def test_without_a_body_tag_the_footer_goes_before_html_or_at_the_end() -> None:
    result, _ = rewrite("<p>Hi</p>")
    assert result.html.startswith("<p>Hi</p><div")
    assert result.html.endswith(_pixel_tag())
    result, _ = rewrite("<html><p>Hi</p></html>")
    assert result.html.endswith(_pixel_tag() + "</html>")


def test_footer_has_an_untracked_unsubscribe_link_and_the_pixel() -> None:
    result, recorder = rewrite('<p><a href="https://a.example/">a</a></p>')
    anchors = Anchors(result.html)
    assert anchors.hrefs == ["https://tune.test/t/c/0", UNSUBSCRIBE]
    assert anchors.images == [PIXEL]
    assert [url for url, _ in recorder.calls] == ["https://a.example/"]
    assert 'width="1" height="1" alt=""' in result.html
    assert "display:none" in result.html


def test_without_a_pixel_url_no_image_is_added() -> None:
    result, _ = rewrite("<p>Hi</p>", pixel_url=None)
    assert Anchors(result.html).images == []
    assert UNSUBSCRIBE in result.html


def test_an_unsubscribe_link_already_in_the_document_is_not_tracked_or_repeated() -> None:
    html = f'<p>Bye: <a href="{UNSUBSCRIBE}">unsubscribe</a></p>'
    result, recorder = rewrite(html)
    assert recorder.calls == []
    assert Anchors(result.html).hrefs == [UNSUBSCRIBE]
    assert result.html == html + _pixel_tag()


def test_nested_tables_are_reproduced_and_their_links_tracked() -> None:
    html = (
        '<table width="100%"><tr><td align="center">'
        '<table role="presentation" cellpadding="0"><tr>'
        '<td bgcolor="#0b5fff"><a href="https://acme.example/cta" '
        'style="color:#fff;padding:12px 20px">Book a call</a></td>'
        "</tr></table></td></tr></table>"
    )
    result, _ = rewrite(html)
    assert result.links == ["https://acme.example/cta"]
    assert body_of(result) == html.replace("https://acme.example/cta", "https://tune.test/t/c/0")


def test_tabs_and_newlines_inside_a_url_are_dropped_like_browsers_do() -> None:
    result, _ = rewrite('<a href="ht\ntps://acme.example/a\tb">x</a>')
    assert result.links == ["https://acme.example/ab"]


def _pixel_tag() -> str:
    return (
        f'<img src="{PIXEL}" width="1" height="1" alt="" '
        'style="display:none;width:1px;height:1px;border:0;">'
    )


# --- generated documents ---------------------------------------------------

WEB_URLS = [
    ("https://acme.example/", "https://acme.example/"),
    ("http://acme.example/a?x=1&amp;y=2", "http://acme.example/a?x=1&y=2"),
    ("HTTPS://Acme.example/#pricing", "HTTPS://Acme.example/#pricing"),
    ("  https://acme.example/pad  ", "https://acme.example/pad"),
    ("https://acme.example/?q=caf%C3%A9&region=eu", "https://acme.example/?q=caf%C3%A9&region=eu"),
]
OTHER_URLS = [
    "/relative",
    "page.html",
    "#top",
    "mailto:sales@acme.example",
    "tel:+15550100",
    "javascript:void(0)",
    "",
    UNSUBSCRIBE,
]


@dataclass
class Piece:
    source: str
    expected_template: str  # "{}" marks where the tracked URL goes
    url: str | None = None  # decoded original when this piece is a tracked anchor


text_pieces = st.text(alphabet="abcXYZ \n\t.,;:!?'\"=/-", max_size=12).map(
    lambda text: Piece(text, text.replace("{", "{{").replace("}", "}}"))
)
fixed_pieces = st.sampled_from(
    [
        "<p>",
        "</p>",
        "<br/>",
        "<BR>",
        '<div class="x">',
        "</div>",
        "<TD align=center>",
        '<img src="https://img.example/i.png" alt="">',
        "&amp;",
        "&copy;",
        "&#169;",
        "&nbsp;",
        '<!-- <a href="https://comment.example/">c</a> -->',
        "<script>var a = '<a href=\"https://script.example/\">';</script>",
        '<a name="top">',
        "</a>",
    ]
).map(lambda source: Piece(source, source))


@st.composite
def anchor_pieces(draw: st.DrawFn) -> Piece:
    name = draw(st.sampled_from(["href", "HREF", "Href"]))
    equals = draw(st.sampled_from(["=", " = "]))
    tag = draw(st.sampled_from(["a", "A"]))
    before = draw(st.sampled_from(["", ' class="btn"', " target=_blank"]))
    after = draw(st.sampled_from(["", ' style="color:red"', " data-x='1'"]))
    web = draw(st.booleans())
    if web:
        raw, decoded = draw(st.sampled_from(WEB_URLS))
    else:
        raw, decoded = draw(st.sampled_from(OTHER_URLS)), None
    quotes = ['"', "'"] + ([""] if raw and raw.strip() == raw else [])
    quote = draw(st.sampled_from(quotes))
    head = f"<{tag}{before} {name}{equals}"
    tail = f"{after}>link</{tag}>"
    source = f"{head}{quote}{raw}{quote}{tail}"
    if decoded is None:
        return Piece(source, source.replace("{", "{{").replace("}", "}}"))
    tracked_quote = "'" if quote == "'" else '"'
    return Piece(source, f"{head}{tracked_quote}{{}}{tracked_quote}{tail}", decoded)


@st.composite
def documents(draw: st.DrawFn) -> tuple[str, str, str, list[Piece]]:
    pieces = draw(st.lists(st.one_of(text_pieces, fixed_pieces, anchor_pieces()), max_size=25))
    wrapped = draw(st.booleans())
    prefix = "<!DOCTYPE html><html><body>" if wrapped else ""
    suffix = "</body></html>" if wrapped else ""
    body = "".join(piece.source for piece in pieces)
    return prefix + body + suffix, prefix, suffix, pieces


@settings(max_examples=300)
@given(documents())
def test_generated_documents_change_only_tracked_hrefs_and_footer(
    document: tuple[str, str, str, list[Piece]],
) -> None:
    html, prefix, suffix, pieces = document
    result, recorder = rewrite(html)

    tracked = [piece.url for piece in pieces if piece.url is not None]
    assert result.links == tracked
    assert [url for url, _ in recorder.calls] == tracked

    expected_body = []
    position = 0
    for piece in pieces:
        if piece.url is None:
            expected_body.append(piece.expected_template.format())
        else:
            expected_body.append(
                piece.expected_template.format(f"https://tune.test/t/c/{position}")
            )
            position += 1
    expected_start = prefix + "".join(expected_body)
    assert result.html.startswith(expected_start)
    assert result.html.endswith(suffix)
    footer = result.html[len(expected_start) : len(result.html) - len(suffix)]
    footer_parts = Anchors(footer)
    assert footer_parts.images == [PIXEL]
    assert footer_parts.hrefs in ([UNSUBSCRIBE], [])

    output = Anchors(result.html)
    tracked_hrefs = [
        href for href in output.hrefs if href and href.startswith("https://tune.test/t/c/")
    ]
    assert len(tracked_hrefs) == len(tracked)
    assert UNSUBSCRIBE in output.hrefs


def test_text_of_a_rewritten_email_leaves_out_the_pixel() -> None:
    result, _ = rewrite("<p>Hello</p>")
    assert html_to_text(result.html) == f"Hello\n\nUnsubscribe ({UNSUBSCRIBE})"
