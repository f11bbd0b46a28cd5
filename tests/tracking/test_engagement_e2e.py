"""Honest engagement end to end: a tier sent through a real SMTP server, hits on a real server.

`tune send` delivers tier 1 to aiosmtpd; `tune run` (behind a trusted proxy, so each
hit carries its own client address) then sees what a real mailing sees: a scanner
that renders the email and sweeps its links 15-60 s after sending, an Apple Mail
Privacy Protection fetch, a Gmail image-proxy open, and an Outlook reader who opens
and clicks once, minutes after sending.
"""

from __future__ import annotations

import asyncio
import re
import time
from datetime import timedelta
from email.message import EmailMessage
from html import unescape
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from tests.support.factories import make_campaign, make_contact, make_prospect
from tests.support.servers import run_cli, serve, tune_env
from tests.support.smtprelay import SmtpServer
from webapp.core.config import Config
from webapp.core.db import Database
from webapp.core.models import CampaignCounter, Contact, Content, EmailTemplateRow

pytestmark = pytest.mark.slow

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)
GMAIL_PROXY = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)
OUTLOOK = "Mozilla/4.0 (compatible; ms-office; MSOffice 16)"
EDGE = CHROME + " Edg/124.0.2478.67"
TEMPLATE = (
    "<html><body><p>Hi {{ first_name }},</p>"
    '<p><a href="https://example.com/pricing">Pricing</a> · '
    '<a href="https://example.com/case-study">Case study</a> · '
    '<a href="https://example.com/demo">Book a demo</a></p></body></html>'
)
PEOPLE = ("scanned", "apple", "gmail", "outlook")


async def seed(database_url: str) -> int:
    db = Database(Config(database_url=database_url, secret_key="x" * 20))
    try:
        async with db.write() as session:
            campaign = await make_campaign(session)
            session.add(EmailTemplateRow(campaign_id=campaign.id, tier=1, subject="Hi",
                                         html=TEMPLATE))  # fmt: skip
            for name in PEOPLE:
                prospect = await make_prospect(session, campaign, name, tier=1)
                await make_contact(session, prospect, email=f"{name}@example.net",
                                   first_name=name.title())  # fmt: skip
            return campaign.id
    finally:
        await db.dispose()


async def backdate(database_url: str, email: str, seconds: float) -> None:
    """Move one email's sending back in time (the reader comes minutes later)."""
    db = Database(Config(database_url=database_url, secret_key="x" * 20))
    try:
        async with db.write() as session:
            content = await session.scalar(
                select(Content)
                .join(Contact, Contact.id == Content.contact_id)
                .where(Contact.email == email)
            )
            assert content is not None and content.sent_at is not None
            content.sent_at -= timedelta(seconds=seconds)
    finally:
        await db.dispose()


async def figures(database_url: str) -> tuple[dict[str, int], dict[str, tuple[bool, bool]]]:
    """Campaign counters, and per recipient (first human open set, first human click set)."""
    db = Database(Config(database_url=database_url, secret_key="x" * 20))
    try:
        async with db.read() as session:
            counters = {
                name: int(value)
                for name, value in await session.execute(
                    select(CampaignCounter.name, func.sum(CampaignCounter.value)).group_by(
                        CampaignCounter.name
                    )
                )
            }
            firsts = {
                email.split("@")[0]: (opened is not None, clicked is not None)
                for email, opened, clicked in await session.execute(
                    select(Contact.email, Content.first_opened_at, Content.first_clicked_at).join(
                        Content, Content.contact_id == Contact.id
                    )
                )
            }
        return counters, firsts
    finally:
        await db.dispose()


def tracked_urls(message: EmailMessage) -> tuple[str, list[str], str]:
    """The pixel, the three tracked links, and the honeypot of one delivered email."""
    part = message.get_body(("html",))
    assert part is not None
    html = part.get_content()
    pixel = unescape(re.search(r'<img src="([^"]+/t/o/[^"]+)"', html).group(1))  # type: ignore[union-attr]
    anchors = re.findall(r"<a ([^>]*)>", html)
    links = [unescape(re.search(r'href="([^"]+)"', a).group(1)) for a in anchors]  # type: ignore[union-attr]
    hidden = [unescape(re.search(r'href="([^"]+)"', a).group(1)) for a in anchors  # type: ignore[union-attr]
              if 'aria-hidden="true"' in a]  # fmt: skip
    assert len(hidden) == 1
    clicks = [url for url in links if "/t/c/" in url and url not in hidden]
    assert len(clicks) == 3
    text = message.get_body(("plain",))
    assert text is not None and hidden[0] not in text.get_content()
    return pixel, clicks, hidden[0]


def get(base: str, url: str, agent: str, address: str) -> int:
    path = url[url.index("/t/") :]
    headers = {"User-Agent": agent, "X-Forwarded-For": address}
    return httpx.get(base + path, headers=headers, timeout=10, follow_redirects=False).status_code


def test_after_a_tier_is_sent_scanners_and_mpp_count_as_machines_and_readers_as_people(
    database_url: str, tmp_path: Path
) -> None:
    relay = SmtpServer()
    relay.start()
    try:
        campaign_id = asyncio.run(seed(database_url))
        env = tune_env(database_url, tmp_path, SMTP_URL=relay.url, SEND_RATE="100/second",
                       TRUSTED_PROXIES="127.0.0.1", TUNE_BASE_URL="http://tune.test")  # fmt: skip
        sent = run_cli(["send", str(campaign_id), "--tier", "1"], env, tmp_path)
        sent_at = time.monotonic()
        assert sent.returncode == 0, sent.stderr
        messages = {m["To"].addresses[0].username: m for m in relay.handler.messages}
        assert sorted(messages) == sorted(PEOPLE)
        urls = {name: tracked_urls(message) for name, message in messages.items()}
        asyncio.run(backdate(database_url, "outlook@example.net", 10 * 60))

        with serve(env, tmp_path) as base:
            # The scanner: 15 s after sending it renders the email (pixel) and follows
            # every href, the invisible one included, within 0.3 s, from a cloud address.
            time.sleep(max(0.0, 15.0 - (time.monotonic() - sent_at)))
            pixel, clicks, honeypot = urls["scanned"]
            scanner = "20.44.17.9"
            assert get(base, pixel, CHROME, scanner) == 200
            assert [get(base, url, CHROME, scanner) for url in clicks] == [302, 302, 302]
            assert get(base, honeypot, CHROME, scanner) == 200
            # Apple Mail Privacy Protection fetches the pixel from Apple's network.
            assert get(base, urls["apple"][0], "Mozilla/5.0", "17.58.101.7") == 200
            # Gmail's image proxy fetches it when the person opens the email.
            assert get(base, urls["gmail"][0], GMAIL_PROXY, "66.249.84.20") == 200
            # The Outlook reader (10 minutes after sending) opens, then clicks one link.
            assert get(base, urls["outlook"][0], OUTLOOK, "81.2.69.160") == 200
            time.sleep(1.0)
            assert get(base, urls["outlook"][1][1], EDGE, "81.2.69.160") == 302
    finally:
        relay.stop()

    counters, firsts = asyncio.run(figures(database_url))
    assert firsts == {
        "scanned": (False, False),  # no human open, no human click
        "apple": (False, False),  # a machine open
        "gmail": (True, False),
        "outlook": (True, True),
    }
    assert counters["open_unique"] == 2 and counters["click_unique"] == 1
    assert counters["open_machine"] == 2  # the scanner's render and Apple's fetch
    assert counters["click_bot"] == 4  # three links and the honeypot
