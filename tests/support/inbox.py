"""Sent emails that the real messages in tests/inbox/messages answer, bounce or report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tests.support.factories import make_campaign, make_contact, make_content, make_prospect
from webapp.core.db import Database

MESSAGES = Path(__file__).resolve().parents[1] / "inbox" / "messages"
SENT_AT = datetime(2026, 11, 23, 16, 2, tzinfo=UTC)
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

# (file, contact address, Message-ID Tune gave the email, subject sent)
SENT = [
    (
        "reply_gmail.eml",
        "jane.doe@acme-foods.example",
        "<tune.1001.5c1f0e9ab2d47e31@sales.tune.test>",
        "Faster onboarding for Acme Foods",
    ),
    (
        "reply_outlook.eml",
        "k.weber@brauerei-nord.example",
        "<tune.1002.9e8d7c6b5a4f3e2d@sales.tune.test>",
        "Faster onboarding for Brauerei Nord",
    ),
    (
        "reply_apple.eml",
        "m.lopez@costa-hotels.example",
        "<tune.1003.1a2b3c4d5e6f7081@sales.tune.test>",
        "Faster onboarding for Costa Hotels",
    ),
    (
        "auto_exchange.eml",
        "p.janssen@dijk-logistics.example",
        "<tune.1004.0a1b2c3d4e5f6a7b@sales.tune.test>",
        "Faster onboarding for Dijk Logistics",
    ),
    (
        "auto_gmail.eml",
        "l.schmidt@kanzlei-schmidt.example",
        "<tune.1005.7f6e5d4c3b2a1908@sales.tune.test>",
        "Faster onboarding for Kanzlei Schmidt",
    ),
    (
        "dsn_postfix.eml",
        "nobody@gone-corp.example",
        "<tune.1006.2b3c4d5e6f708192@sales.tune.test>",
        "Faster onboarding for Gone Corp",
    ),
    (
        "dsn_exchange.eml",
        "F.Berg@nordhaus.example",
        "<tune.1007.3c4d5e6f70819203@sales.tune.test>",
        "Faster onboarding for Nordhaus",
    ),
    (
        "dsn_gmail_delay.eml",
        "t.nguyen@busy-mail.example",
        "<tune.1008.4d5e6f7081920314@sales.tune.test>",
        "Faster onboarding for Busy Mail",
    ),
    (
        "arf_complaint.eml",
        "r.meyer@spam-watchers.example",
        "<tune.1009.5e6f708192031425@sales.tune.test>",
        "Faster onboarding for Spam Watchers",
    ),
    (
        "dsn_qmail.eml",
        "h.olsen@oldhost.example",
        "<tune.1010.6f70819203142536@sales.tune.test>",
        "Faster onboarding for Oldhost",
    ),
    (
        "reply_no_in_reply_to.eml",
        "compras@ferreteria-sol.example",
        "<tune.1011.708192031425364a@sales.tune.test>",
        "Faster onboarding for Ferreteria Sol",
    ),
]


@dataclass
class Sent:
    campaign_id: int
    contents: dict[str, int]
    """file name → content id"""


async def sent_campaign(db: Database) -> Sent:
    async with db.write() as session:
        campaign = await make_campaign(session)
        contents = {}
        for name, email, message_id, subject in SENT:
            prospect = await make_prospect(session, campaign, tier=1)
            contact = await make_contact(session, prospect, email)
            content = await make_content(
                session,
                contact,
                subject=subject,
                message_id=message_id,
                send_status="sent",
                sent_at=SENT_AT,
            )
            contents[name] = content.id
        return Sent(campaign.id, contents)
