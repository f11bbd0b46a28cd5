"""The honeypot link: in every tracked HTML email, invisible to people, followed by scanners.

What can be checked here is checked here: the markup, the plain-text part, and the
HTML rendered by a real Chromium (Playwright): no visible box, zero size, never
focused by Tab, absent from the accessibility tree. Gmail, Outlook and Apple Mail
cannot be run here; docs/tracking.md says how invisibility in each was reasoned.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from tests.support.browser import chromium_page
from tests.support.factories import make_recipient
from webapp.core.models import Event
from webapp.outbound.contents import TrackingUrls
from webapp.outbound.rewrite import rewrite_html
from webapp.outbound.text import html_to_text
from webapp.outbound.tokens import TokenSigner
from webapp.web.services import Services

SECRET = "a-secret-key-for-honeypot-tests-0123"
EMAIL = """<!doctype html><html><body>
<p>Hi Ada, <a href="https://example.com/pricing">see our pricing</a>.</p>
<p><a href="https://example.com/demo">Book a demo</a></p>
</body></html>"""


def tracked(html: str = EMAIL) -> tuple[str, str, TrackingUrls]:
    urls = TrackingUrls("https://t.example", TokenSigner(SECRET))
    result = rewrite_html(
        html,
        track_link=lambda url, position: urls.click(7, position),
        pixel_url=urls.pixel(7),
        unsubscribe_url=urls.unsubscribe(7),
        honeypot_url=urls.honeypot(7),
    )
    return result.html, urls.honeypot(7), urls


def test_the_honeypot_is_an_empty_hidden_anchor_and_no_tracked_link() -> None:
    html, honeypot, _ = tracked()
    assert html.count(honeypot) == 1
    anchor = html[html.rindex("<a ", 0, html.index(honeypot)) :]
    anchor = anchor[: anchor.index("</a>") + 4]
    assert 'aria-hidden="true"' in anchor and 'tabindex="-1"' in anchor
    assert "display:none" in anchor and "mso-hide:all" in anchor
    assert anchor.endswith("></a>")  # no text at all
    result = rewrite_html(
        EMAIL,
        track_link=lambda url, position: f"https://t.example/{position}",
        pixel_url=None,
        unsubscribe_url="https://t.example/u",
        honeypot_url="https://t.example/h",
    )
    assert result.links == ["https://example.com/pricing", "https://example.com/demo"]


def test_the_plain_text_part_never_carries_the_honeypot() -> None:
    html, honeypot, _ = tracked()
    text = html_to_text(html)
    assert honeypot not in text
    assert "see our pricing" in text and "Book a demo" in text
    assert "Unsubscribe" in text


def test_a_honeypot_token_is_not_a_click_token_and_the_reverse() -> None:
    signer = TokenSigner(SECRET)
    honeypot = signer.honeypot_token(7)
    assert signer.read_honeypot(honeypot) == 7
    assert signer.read_click(honeypot) is None
    assert signer.read_honeypot(signer.click_token(7, 0)) is None


async def test_a_hit_on_the_honeypot_is_stored_as_a_scanner_click(
    client: Any, tune: Services
) -> None:
    async with tune.db.write() as session:
        content_id = (await make_recipient(session)).id
    token = tune.signer.honeypot_token(content_id)
    response = await client.get(f"/t/c/{token}", headers={"User-Agent": "Mozilla/5.0 Chrome"})
    assert response.status_code == 200
    assert response.headers["X-Robots-Tag"] == "noindex"
    assert "<a" not in await response.get_data(as_text=True)
    async with tune.db.read() as session:
        rows = (await session.execute(select(Event.kind, Event.source, Event.flag_reason))).all()
    assert [tuple(row) for row in rows] == [("click", "honeypot", "honeypot")]


@pytest.mark.slow
@pytest.mark.browser
def test_chromium_renders_no_visible_focusable_or_announced_honeypot() -> None:
    html, honeypot, _ = tracked()
    with chromium_page() as (page, _problems):
        page.route("**/*", lambda route: route.abort())  # nothing leaves the machine
        page.set_content(html, wait_until="domcontentloaded")
        trap = page.locator(f'a[href="{honeypot}"]')
        assert trap.count() == 1
        assert not trap.is_visible()
        assert trap.bounding_box() is None  # display:none: no box at all
        size = trap.evaluate("a => [a.offsetWidth, a.offsetHeight, a.getClientRects().length]")
        assert size == [0, 0, 0]
        assert trap.evaluate("a => a.textContent") == ""
        # Tab through every focusable element: the honeypot is never one of them.
        focused = []
        for _ in range(10):
            page.keyboard.press("Tab")
            focused.append(page.evaluate("document.activeElement && document.activeElement.href"))
        assert honeypot not in focused
        assert any(href and "/t/c/" in href for href in focused)  # real links are
        # The accessibility tree (what a screen reader reads) lists the three real links.
        tree = page.locator("body").aria_snapshot()
        assert tree.count("- link") == 3, tree
        # Nothing a reader sees of the page mentions it either.
        assert honeypot not in page.inner_text("body")
