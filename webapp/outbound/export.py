"""Exports for teams that send through another tool: an mbox of ready messages and a CSV.

Both are streamed in batches (one short read transaction each), so a campaign of
100,000 emails never sits in memory. The messages carry the same headers as a
real send (Message-ID, List-Unsubscribe) and the HTML keeps its tracked links
and pixel, so tracking works whatever sends them.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from email import policy as email_policy
from typing import Any

from sqlalchemy import select

from webapp.campaigns.queries import get_campaign
from webapp.core.cells import safe_cell
from webapp.core.config import Config
from webapp.core.db import Database
from webapp.core.models import Contact, Content, Mailbox, Prospect
from webapp.outbound.contents import TrackingUrls
from webapp.outbound.sending.queue import LeasedEmail, message_id_for
from webapp.outbound.sending.sender import email_message

BATCH_SIZE = 200
CSV_COLUMNS = (
    "email",
    "first_name",
    "last_name",
    "company",
    "tier",
    "subject",
    "pixel_url",
    "unsubscribe_url",
    "html",
    "text",
)
_MBOX_FROM = re.compile(rb"^(>*From )", flags=re.M)
_MBOX_POLICY = email_policy.default.clone(linesep="\n")


async def _rows(db: Database, campaign_id: int) -> AsyncIterator[list[Any]]:
    """The campaign's contents with contact and company, in id order, a batch at a time."""
    after = 0
    while True:
        async with db.read() as session:
            batch = (
                await session.execute(
                    select(Content, Contact, Prospect.name)
                    .join(Contact, Contact.id == Content.contact_id)
                    .join(Prospect, Prospect.id == Content.prospect_id)
                    .where(Content.campaign_id == campaign_id, Content.id > after)
                    .order_by(Content.id)
                    .limit(BATCH_SIZE)
                )
            ).all()
        if not batch:
            return
        after = batch[-1][0].id
        yield list(batch)


async def check_campaign(db: Database, campaign_id: int) -> bool:
    """The campaign's tracking setting; raises NotFound before a stream starts."""
    async with db.read() as session:
        return (await get_campaign(session, campaign_id)).tracking_enabled


def mbox_entry(message_bytes: bytes) -> bytes:
    """One mboxrd entry: the From_ line, the message with From_ lines quoted, a blank line."""
    body = _MBOX_FROM.sub(rb">\1", message_bytes)
    if not body.endswith(b"\n"):
        body += b"\n"
    return b"From MAILER-DAEMON Thu Jan  1 00:00:00 1970\n" + body + b"\n"


async def export_mbox(
    db: Database, config: Config, urls: TrackingUrls, campaign_id: int
) -> AsyncIterator[bytes]:
    """Every email of the campaign as an RFC 5322 message in mboxrd format (from the
    mailbox it was sent from, with its signature; SMTP_FROM's when none)."""
    async with db.read() as session:
        mailboxes = {mailbox.id: mailbox for mailbox in await session.scalars(select(Mailbox))}
    async for batch in _rows(db, campaign_id):
        chunk = bytearray()
        for content, contact, _company in batch:
            mailbox = mailboxes.get(content.mailbox_id or contact.mailbox_id or 0)
            email = LeasedEmail.of(
                content,
                contact.email,
                " ".join(p for p in (contact.first_name, contact.last_name) if p),
                content.message_id or message_id_for(config, content.id, mailbox),
                attempt=0,
                mailbox=mailbox,
            )
            message = email_message(config, urls, email)
            chunk += mbox_entry(message.as_bytes(policy=_MBOX_POLICY))
        yield bytes(chunk)


async def export_csv(
    db: Database, urls: TrackingUrls, campaign_id: int, tracking: bool
) -> AsyncIterator[bytes]:
    """One CSV row per email: the contact, the company, and the tracked content."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    yield buffer.getvalue().encode()
    async for batch in _rows(db, campaign_id):
        buffer.seek(0)
        buffer.truncate()
        for content, contact, company in batch:
            writer.writerow(
                safe_cell(cell)
                for cell in (
                    contact.email,
                    contact.first_name,
                    contact.last_name,
                    company,
                    content.tier,
                    content.subject,
                    urls.pixel(content.id) if tracking else "",
                    urls.unsubscribe(content.id),
                    content.html,
                    content.text,
                )
            )
        yield buffer.getvalue().encode()
