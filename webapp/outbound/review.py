"""The send review: who a "Send tier N" reaches, who it leaves out and why, and the emails.

Before anything is queued a rep sees how many contacts will get the email, how
many are left out and why (unsubscribed, on the suppression list after a bounce
or complaint, a prospect without any contact address, already queued or sent),
and the emails themselves exactly as the sender will build them: the stored
drafts, with their tracked links, pixel, unsubscribe link and headers, through
the sender's own `email_message`. The counts follow the rules of
`sending.queue.queue_campaign`, so the number reviewed is the number queued when
nothing changed in between.

A test send (`send_test`) delivers one contact's email to the rep's own address
through the same relay, marked as a test: its links lead to the original URLs,
it has no pixel and an inert unsubscribe link, and it never enters the queue or
the statistics.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from html import escape
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.campaigns.queries import get_campaign
from webapp.campaigns.timeline import preview_html
from webapp.core.config import Config
from webapp.core.errors import NotFound, ServiceUnavailable
from webapp.core.models import Contact, Content, Link, Prospect, Suppression
from webapp.outbound.contents import TrackingUrls, links_of
from webapp.outbound.sending.queue import LeasedEmail, message_domain, message_id_for
from webapp.outbound.sending.sender import email_message
from webapp.outbound.smtp.message import build_message
from webapp.outbound.smtp.outcomes import DeliveryOutcome
from webapp.outbound.smtp.relay import Relay, SmtpRelay
from webapp.outbound.smtp.url import parse_smtp_url
from webapp.outbound.text import html_to_text
from webapp.outbound.tokens import TokenSigner

EXCLUSIONS = {
    "unsubscribed": "unsubscribed",
    "suppressed": "bounced or complained before (suppression list)",
    "no_email": "prospect without a contact address",
    "already_sent": "already queued or sent",
}
"""Why a contact does not get this send, in the order the page lists them."""
TEST_HEADER = "X-Tune-Test"


@dataclass
class ReviewCounts:
    """What confirming "Send" would do now."""

    campaign_id: int
    tier: int | None
    recipients: int = 0
    """Contacts whose email would be queued."""
    excluded: dict[str, int] = field(default_factory=lambda: dict.fromkeys(EXCLUSIONS, 0))
    unwritten: int = 0
    """Recipients whose email is not written yet (written from the template on send)."""

    @property
    def excluded_total(self) -> int:
        return sum(self.excluded.values())


def _first_emails(campaign_id: int) -> ColumnElement[bool]:
    return and_(
        Content.contact_id == Contact.id,
        Content.campaign_id == campaign_id,
        Content.step == 1,
    )


def _reason() -> ColumnElement[Any]:
    return case(
        (and_(Content.id.is_not(None), Content.send_status != "draft"), "already_sent"),
        (Contact.unsubscribed_at.is_not(None), "unsubscribed"),
        (func.lower(Contact.email).in_(select(Suppression.email)), "suppressed"),
        else_="recipient",
    )


async def review_counts(session: AsyncSession, campaign_id: int, tier: int | None) -> ReviewCounts:
    """Recipients and exclusions of a send of `tier` (or every tier), as queueing decides."""
    await get_campaign(session, campaign_id)
    counts = ReviewCounts(campaign_id, tier)
    per_contact = (
        select(
            _reason().label("reason"),
            Content.id.is_(None).label("unwritten"),
            func.coalesce(Content.tier, Prospect.tier).label("tier"),
        )
        .select_from(Contact)
        .join(Prospect, Prospect.id == Contact.prospect_id)
        .outerjoin(Content, _first_emails(campaign_id))
        .where(Contact.campaign_id == campaign_id)
        .subquery()
    )
    query = select(
        per_contact.c.reason,
        func.count(),
        func.sum(case((per_contact.c.unwritten, 1), else_=0)),
    ).group_by(per_contact.c.reason)
    if tier is not None:
        query = query.where(per_contact.c.tier == tier)
    for reason, count, unwritten in await session.execute(query):
        if reason == "recipient":
            counts.recipients = int(count)
            counts.unwritten = int(unwritten or 0)
        else:
            counts.excluded[str(reason)] = int(count)
    no_contact = select(func.count()).where(
        Prospect.campaign_id == campaign_id,
        ~exists().where(Contact.prospect_id == Prospect.id),
    )
    if tier is not None:
        no_contact = no_contact.where(Prospect.tier == tier)
    counts.excluded["no_email"] = int(await session.scalar(no_contact) or 0)
    return counts


@dataclass(frozen=True)
class ReviewedEmail:
    """One contact's email as it will be sent, and whether this send reaches them."""

    content: Content
    contact: Contact
    message: EmailMessage
    links: list[Link]
    excluded: str | None
    """The key of `EXCLUSIONS` that leaves this contact out, or None."""

    @property
    def headers(self) -> str:
        """The message's headers as they go to the relay (only Date is set again on send)."""
        return "\n".join(f"{name}: {value}" for name, value in self.message.items())

    def part(self, subtype: str) -> str:
        """The decoded text of the message's `plain` or `html` part, as sent."""
        body = self.message.get_body((subtype,))
        return str(body.get_content()) if body is not None else ""


def _recipient_query(campaign_id: int, tier: int | None) -> Select[Any]:
    query = (
        select(Content, Contact, _reason().label("reason"))
        .join(Contact, Contact.id == Content.contact_id)
        .where(Content.campaign_id == campaign_id, Content.step == 1)
    )
    if tier is not None:
        query = query.where(Content.tier == tier)
    return query


async def reviewed_emails(
    session: AsyncSession,
    config: Config,
    urls: TrackingUrls,
    campaign_id: int,
    tier: int | None,
    *,
    limit: int = 3,
    contact_id: int | None = None,
) -> list[ReviewedEmail]:
    """The first `limit` emails this send queues (in queue order), or one contact's email."""
    query = _recipient_query(campaign_id, tier)
    if contact_id is not None:
        query = query.where(Content.contact_id == contact_id)
    else:
        query = query.where(
            Content.send_status == "draft",
            Contact.unsubscribed_at.is_(None),
            func.lower(Contact.email).not_in(select(Suppression.email)),
        )
    rows = (await session.execute(query.order_by(Content.id).limit(limit))).all()
    links = await links_of(session, [content.id for content, _, _ in rows])
    return [
        ReviewedEmail(
            content=content,
            contact=contact,
            message=as_sent(config, urls, content, contact),
            links=links[content.id],
            excluded=None if reason == "recipient" else str(reason),
        )
        for content, contact, reason in rows
    ]


async def recipient_choices(
    session: AsyncSession, campaign_id: int, tier: int | None, limit: int = 500
) -> list[Contact]:
    """Contacts whose written email the picker offers: the first `limit` recipients."""
    query = _recipient_query(campaign_id, tier).where(Content.send_status == "draft")
    rows = (await session.execute(query.order_by(Content.id).limit(limit))).all()
    return [contact for _, contact, reason in rows if reason == "recipient"]


def as_sent(config: Config, urls: TrackingUrls, content: Content, contact: Contact) -> EmailMessage:
    """The MIME message the sender would build for this email now (only Date differs)."""
    name = " ".join(part for part in (contact.first_name, contact.last_name) if part)
    message_id = content.message_id or message_id_for(config, content.id)
    leased = LeasedEmail.of(content, contact.email, name, message_id, content.attempts)
    return email_message(config, urls, leased)


def untracked_text(text: str, content_id: int, links: list[Link], urls: TrackingUrls) -> str:
    """The text part with tracked links back to their original URLs and no unsubscribe."""
    for link in links:
        text = text.replace(urls.click(content_id, link.position), link.url)
    return text.replace(urls.unsubscribe(content_id), "(the unsubscribe link; inactive in a test)")


def message_for_test(
    config: Config,
    urls: TrackingUrls,
    signer: TokenSigner,
    email: ReviewedEmail,
    to_address: str,
) -> EmailMessage:
    """A contact's email addressed to `to_address`, marked as a test and tracking nothing."""
    content = email.content
    note = f"Test of the email to {email.contact.email}: not sent to them, not tracked."
    html = _with_banner(preview_html(content.html, email.links, signer), note)
    text = untracked_text(content.text, content.id, email.links, urls) or html_to_text(html)
    return build_message(
        sender=config.smtp_from,
        recipient=to_address,
        subject=f"[Test] {content.subject}",
        html=html,
        text=f"{note}\n\n{text}",
        message_id=make_msgid("tune-test", domain=message_domain(config.smtp_from)),
        headers={TEST_HEADER: f"test of the email to {formataddr(('', email.contact.email))}"},
    )


_BODY_TAG = re.compile(r"<body\b[^>]*>", re.IGNORECASE)


def _with_banner(html: str, note: str) -> str:
    """The HTML with a visible line at the top saying it is a test."""
    banner = (
        '<p style="margin:0 0 16px;padding:8px 12px;background:#fff7e6;'
        'border:1px solid #f5c26b;font-family:Arial,sans-serif;font-size:13px;">'
        f"{escape(note)}</p>"
    )
    body = _BODY_TAG.search(html)
    if body is None:
        return banner + html
    return html[: body.end()] + banner + html[body.end() :]


async def send_test(config: Config, relay: Relay | None, message: EmailMessage) -> None:
    """Deliver a test message through `relay` (the sender's own), or a one-off connection
    to SMTP_URL when this process runs no sender. Raises when it was not accepted."""
    if relay is None:
        if not config.smtp_url:
            raise ServiceUnavailable("no mail server is configured (SMTP_URL)")
        async with SmtpRelay(parse_smtp_url(config.smtp_url), pool_size=1) as own:
            result = await own.send(message)
    else:
        result = await relay.send(message)
    if result.outcome is not DeliveryOutcome.SENT:
        code = f"{result.code} " if result.code else ""
        raise ServiceUnavailable(f"the mail server did not take the test: {code}{result.detail}")


async def contact_by_email(session: AsyncSession, campaign_id: int, address: str) -> int | None:
    """The id of the campaign's contact with this address (any case), if there is one."""
    found = await session.scalar(
        select(Contact.id).where(
            Contact.campaign_id == campaign_id,
            func.lower(Contact.email) == address.strip().lower(),
        )
    )
    return int(found) if found is not None else None


async def contact_in_campaign(session: AsyncSession, campaign_id: int, contact_id: int) -> Contact:
    contact = await session.get(Contact, contact_id)
    if contact is None or contact.campaign_id != campaign_id:
        raise NotFound(f"contact {contact_id} is not in campaign {campaign_id}")
    return contact
