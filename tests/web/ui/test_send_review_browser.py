"""A Markdown template, then a reviewed send, in a real browser (Playwright, Chromium) against
a real `tune run` whose sender delivers to an aiosmtpd relay: the count on the review is the
number of emails the relay gets, the test send reaches the signed-in user only, and reloading
after the confirm sends nothing again."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.browser import API_KEY, campaign_through_api, serve_with_user, sync_api
from tests.support.paths import ARTIFACTS
from tests.support.signin import EMAIL, sign_in_page
from tests.support.smtprelay import SmtpServer

pytestmark = [pytest.mark.browser, pytest.mark.slow]

playwright_api = sync_api()

CSV = (
    "company,domain,email,first_name,last_name,title,employees,revenue,country\n"
    "Bellagio Resort,bellagio.example,ada@bellagio.example,Ada,King,Chief Executive Officer,"
    "8000,2000000000,United States\n"
    "Aria Resort,aria.example,max@aria.example,Max,Stone,Chief Operating Officer,"
    "7000,1500000000,United States\n"
    "Wynn Resort,wynn.example,kim@wynn.example,Kim,Park,Chief Executive Officer,"
    "9000,2500000000,United States\n"
    "Corner Shop,corner.example,bob@corner.example,Bob,Small,Clerk,3,50000,France\n"
)
MARKDOWN = (
    "Hi ,\n\nA **short** note for {{ prospect.name }}.\n\n[Book a call](https://example.com/book)\n"
)


@pytest.fixture
def server(tmp_path: Path, relay: SmtpServer) -> Iterator[str]:
    """`tune run` with the rep's account, sending through `relay` (tests/conftest.py)."""
    with serve_with_user(
        tmp_path,
        SMTP_URL=f"{relay.url}?starttls=off&timeout=5",
        SMTP_FROM="Rep Team <team@tune.test>",
        SEND_RATE="20/second",
    ) as base:
        yield base


def _text_of(message: EmailMessage, subtype: str) -> str:
    body = message.get_body((subtype,))
    assert body is not None
    return str(body.get_content())


def test_markdown_template_then_review_test_and_confirm_a_send(
    server: str,
    relay: SmtpServer,
    browser_page: tuple[Any, list[str]],
) -> None:
    page, problems = browser_page
    expect = playwright_api.expect
    ARTIFACTS.mkdir(exist_ok=True)
    campaign_id, _ = campaign_through_api(server, "Review", CSV, emails=False)
    with httpx.Client(base_url=server, headers={"X-API-Key": API_KEY}) as api:
        sizes = {
            tier: api.get(f"/api/campaigns/{campaign_id}/send-review?tier={tier}").json()[
                "recipients"
            ]
            for tier in (1, 2, 3)
        }
    tier = max(sizes, key=lambda t: sizes[t])
    expected = sizes[tier]
    assert expected >= 2, sizes

    # The template in Markdown, with a merge field inserted from the menu at the cursor.
    sign_in_page(page)
    page.goto(f"/campaigns/{campaign_id}/templates#tier-{tier}")
    editor = page.locator(f"#tier-{tier}")
    editor.get_by_label("Plain text / Markdown").check()
    body = page.locator(f"#html-{tier}")
    body.fill(MARKDOWN)
    body.press("Control+Home")
    for _ in range(3):
        body.press("ArrowRight")
    editor.get_by_label("Insert a merge field").select_option("{{ contact.first_name }}")
    expect(body).to_have_value(MARKDOWN.replace("Hi ,", "Hi {{ contact.first_name }},"))
    expect(editor.locator(".gutter")).to_contain_text("6")
    preview = page.locator(f"#preview-{tier} iframe")
    expect(preview).to_have_attribute("srcdoc", re.compile(r"<strong>short</strong>"))
    editor.get_by_role("button", name=f"Save tier {tier} template").click()
    expect(
        page.get_by_text(f"Saved. New emails for tier {tier} use this template.")
    ).to_be_visible()
    expect(page.locator(f"#tier-{tier}").get_by_label("Plain text / Markdown")).to_be_checked()
    page.screenshot(path=str(ARTIFACTS / "templates-markdown.png"), full_page=True)

    # "Send tier N" opens the review with the count; nothing is sent yet.
    page.goto(f"/campaigns/{campaign_id}")
    page.get_by_role("button", name=f"Send tier {tier}…").click()
    page.wait_for_url(re.compile(rf".*/send/review\?tier={tier}$"))
    expect(page.locator('[data-review="recipients"]')).to_have_text(str(expected))
    first_email = page.locator("article.email-review").first
    expect(first_email.locator("[data-html]")).to_contain_text("/t/o/")
    expect(first_email.locator("[data-html]")).to_contain_text("<strong>short</strong>")
    expect(first_email.locator("[data-text]")).to_contain_text("Book a call (")
    expect(first_email.locator("[data-headers]")).to_contain_text("List-Unsubscribe-Post")
    page.screenshot(path=str(ARTIFACTS / "send-review.png"), full_page=True)
    assert relay.handler.received == []

    # The picker shows another contact's email; a test of it goes to the signed-in user only.
    page.get_by_label("See the email of").select_option(index=2)
    page.get_by_role("button", name="Show").click()
    expect(page.locator("article.email-review")).to_have_count(1)
    picked = page.locator("article.email-review h3").inner_text()
    page.get_by_role("button", name=re.compile("Send a test of this email to me")).click()
    expect(page.get_by_role("status")).to_contain_text(f"A test went to {EMAIL}")
    deadline = time.monotonic() + 10
    while not relay.handler.received and time.monotonic() < deadline:
        time.sleep(0.1)
    (test,) = relay.handler.messages
    assert relay.handler.received[0].rcpt_tos == [EMAIL]
    assert str(test["Subject"]).startswith("[Test] ")
    assert test["X-Tune-Test"] and picked.split("<")[-1].rstrip(">") in str(test["X-Tune-Test"])
    assert "/t/o/" not in _text_of(test, "html") and "/t/c/" not in _text_of(test, "html")
    assert "https://example.com/book" in _text_of(test, "plain")

    # Confirm: exactly the reviewed number of emails go out; the page shows the progress live.
    page.get_by_role("button", name=f"Confirm: send to {expected} contacts").click()
    page.wait_for_url(re.compile(rf".*/campaigns/{campaign_id}\?queued={expected}#sending$"))
    expect(page.get_by_text(f"Queued {expected} emails.")).to_be_visible()
    expect(page.locator("#live-sending")).to_contain_text(
        f"Sent {expected} of {expected}", timeout=20_000
    )
    expect(page.locator("[data-relay]")).to_have_text("Nothing waiting to be sent.")
    expect(page.locator('#live-sending [data-send="sent"]')).to_have_text(str(expected))
    page.screenshot(path=str(ARTIFACTS / "send-progress.png"), full_page=True)
    page.reload()  # post/redirect/get: reloading the page after the confirm sends nothing
    page.go_back()
    time.sleep(1.5)
    sent = [m for m in relay.handler.messages if not str(m["Subject"]).startswith("[Test]")]
    assert len(sent) == expected
    assert len({str(m["To"]) for m in sent}) == expected
    assert all("**" not in _text_of(m, "plain") and "/t/c/" in _text_of(m, "plain") for m in sent)
    assert all("<strong>short</strong>" in _text_of(m, "html") for m in sent)
    assert problems == []
