"""Email content: per-tier templates, and the email written for each contact.

Generating content renders the tier's template for every contact that has no
first email yet (idempotent on campaign + contact + step 1; later steps of a
sequence are written by `webapp.sequences.scheduler` when they fall due), then
rewrites the HTML for tracking: every http(s) link goes through `/t/c/<token>`, a pixel
`/t/o/<token>.gif` is appended (unless the campaign has tracking off), and an
unsubscribe link `/t/u/<token>` with RFC 8058 one-click headers is added.
Work is done in batches, one transaction each, so 100,000 contacts never sit
in memory at once; each batch is rendered in a template worker process
(`templates/isolation.py`), never on the event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.campaigns.queries import get_campaign
from webapp.core.db import Database
from webapp.core.models import Campaign, Contact, Content, EmailTemplateRow, Link, Prospect
from webapp.outbound.rewrite import rewrite_html
from webapp.outbound.signature import NAME_PLACEHOLDER, PLACEHOLDER
from webapp.outbound.templates.defaults import DEFAULT_TEMPLATES, SAMPLE_CONTEXT
from webapp.outbound.templates.isolation import check_template, render_emails
from webapp.outbound.templates.sandbox import EmailTemplate
from webapp.outbound.text import html_to_text
from webapp.outbound.tokens import TokenSigner
from webapp.prospects.queries import parse_tier

BATCH_SIZE = 500


@dataclass(frozen=True)
class TrackingUrls:
    """Builds the public tracking URLs of a content from signed tokens."""

    base_url: str
    signer: TokenSigner

    def pixel(self, content_id: int) -> str:
        return f"{self.base_url}/t/o/{self.signer.open_token(content_id)}.gif"

    def click(self, content_id: int, position: int) -> str:
        return f"{self.base_url}/t/c/{self.signer.click_token(content_id, position)}"

    def honeypot(self, content_id: int) -> str:
        return f"{self.base_url}/t/c/{self.signer.honeypot_token(content_id)}"

    def unsubscribe(self, content_id: int) -> str:
        return f"{self.base_url}/t/u/{self.signer.unsubscribe_token(content_id)}"

    def headers(self, content_id: int) -> dict[str, str]:
        """RFC 8058 one-click unsubscribe headers for the email of this content."""
        return self.unsubscribe_headers(self.unsubscribe(content_id))

    @staticmethod
    def unsubscribe_headers(unsubscribe_url: str) -> dict[str, str]:
        """The same headers for the content's unsubscribe URL, already signed."""
        return {
            "List-Unsubscribe": f"<{unsubscribe_url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        }


async def add_default_templates(session: AsyncSession, campaign: Campaign) -> None:
    """A new campaign starts with a template per tier, so content can be generated at once."""
    for tier, template in DEFAULT_TEMPLATES.items():
        session.add(
            EmailTemplateRow(
                campaign_id=campaign.id, tier=tier, subject=template.subject, html=template.html
            )
        )
    await session.flush()


async def templates_of(session: AsyncSession, campaign_id: int) -> dict[int, EmailTemplateRow]:
    rows = await session.scalars(
        select(EmailTemplateRow).where(EmailTemplateRow.campaign_id == campaign_id)
    )
    return {row.tier: row for row in rows}


async def save_template(
    session: AsyncSession,
    campaign_id: int,
    tier: object,
    subject: str,
    html: str,
    template_format: str | None = None,
) -> EmailTemplateRow:
    """Validate (syntax errors name their line) and store one tier's template.

    `template_format` is "html" or "markdown"; None keeps the template's current one
    (callers that edit only subject and body, like the step template API).
    The tier's first emails written but not yet queued (drafts) were written from the
    old template: they are discarded, so the send review and the send use the new one.
    """
    tier_number = parse_tier(tier)
    await get_campaign(session, campaign_id)
    row = (await templates_of(session, campaign_id)).get(tier_number)
    body_format = template_format or (row.format if row is not None else "html")
    await check_template(subject, html, template_format=body_format)
    if row is None:
        row = EmailTemplateRow(
            campaign_id=campaign_id,
            tier=tier_number,
            subject=subject,
            html=html,
            format=body_format,
        )
        session.add(row)
    else:
        row.subject, row.html, row.format = subject, html, body_format
    await discard_drafts(session, campaign_id, tier_number)
    await session.flush()
    return row


async def discard_drafts(session: AsyncSession, campaign_id: int, tier: int) -> int:
    """Delete the tier's unqueued first emails (nothing was sent, tracked or linked to them
    but their link rows); they are written again from the current template.

    Any event of a draft (a click on a previewed link) goes with it through the events'
    key to their email; none is left naming a deleted link, which on PostgreSQL no key
    would clear (migration 0022)."""
    drafts = select(Content.id).where(
        Content.campaign_id == campaign_id,
        Content.tier == tier,
        Content.step == 1,
        Content.send_status == "draft",
    )
    await session.execute(
        delete(Link).where(Link.content_id.in_(drafts)).execution_options(synchronize_session=False)
    )
    result = await session.execute(
        delete(Content)
        .where(Content.id.in_(drafts.scalar_subquery()))
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def merge_context(
    campaign: Campaign, prospect: Prospect, contact: Contact, sender_name: str
) -> dict[str, Any]:
    """The merge fields a template can use; plain dicts, so the sandbox sees no ORM objects."""
    return {
        "contact": {
            "first_name": contact.first_name,
            "last_name": contact.last_name,
            "name": " ".join(p for p in (contact.first_name, contact.last_name) if p),
            "title": contact.title,
            "email": contact.email,
        },
        "prospect": {
            "name": prospect.name,
            "domain": prospect.domain,
            "country": prospect.country,
            "employees": prospect.employees,
            "industry": prospect.industry,
            "tier": prospect.tier,
        },
        "campaign": {"name": campaign.name, "industry": campaign.industry.name},
        # The signature (and, in written emails, the name) are filled in with the sending
        # mailbox's at send time (outbound/signature.py).
        "sender": {"name": sender_name, "signature": PLACEHOLDER},
    }


def sender_name_of(smtp_from: str) -> str:
    name, address = parseaddr(smtp_from)
    return name or address


async def sample_context(
    session: AsyncSession, campaign: Campaign, tier: int, sender_name: str
) -> tuple[dict[str, Any], str]:
    """Merge fields for previewing a tier's template, and the address they belong to.

    A real contact of the tier (the best one) when there is one, else Tune's sample contact.
    """
    row = (
        await session.execute(
            select(Contact, Prospect)
            .join(Prospect, Prospect.id == Contact.prospect_id)
            .where(Prospect.campaign_id == campaign.id, Prospect.tier == tier)
            .order_by(Prospect.hot.desc(), Prospect.score.desc(), Contact.id)
            .limit(1)
        )
    ).first()
    if row is None:
        return SAMPLE_CONTEXT, str(SAMPLE_CONTEXT["contact"]["email"])
    contact, prospect = row
    context = merge_context(campaign, prospect, contact, sender_name)
    # A preview has no mailbox yet: it shows the sample signature.
    context["sender"]["signature"] = SAMPLE_CONTEXT["sender"]["signature"]
    return context, contact.email


@dataclass
class GenerateSummary:
    created: int = 0
    existing: int = 0

    def as_json(self) -> dict[str, int]:
        return {"created": self.created, "existing": self.existing}


async def generate_contents(
    db: Database,
    campaign_id: int,
    urls: TrackingUrls,
    progress: Callable[[int], None] | None = None,
) -> GenerateSummary:
    """Write the email of every contact that has none yet, in batches.

    `{{ sender.name }}` and `{{ sender.signature }}` are written as placeholders, filled
    in with the sending mailbox's at send time (`webapp.outbound.signature`)."""
    summary = GenerateSummary()
    async with db.read() as session:
        await get_campaign(session, campaign_id)
        summary.existing = (
            await session.scalar(
                select(func.count())
                .select_from(Content)
                .where(Content.campaign_id == campaign_id, Content.step == 1)
            )
            or 0
        )
    after = 0
    while True:
        async with db.write() as session:
            campaign = await get_campaign(session, campaign_id)
            templates = {
                tier: EmailTemplate(row.subject, row.html, row.format)
                for tier, row in (await templates_of(session, campaign_id)).items()
            }
            rows = (
                await session.execute(
                    select(Contact, Prospect)
                    .join(Prospect, Prospect.id == Contact.prospect_id)
                    .outerjoin(
                        Content,
                        (Content.contact_id == Contact.id)
                        & (Content.campaign_id == campaign_id)
                        & (Content.step == 1),
                    )
                    .where(
                        Contact.campaign_id == campaign_id, Contact.id > after, Content.id.is_(None)
                    )
                    .order_by(Contact.id)
                    .limit(BATCH_SIZE)
                )
            ).all()
            if not rows:
                break
            after = rows[-1][0].id
            created = await _write_batch(session, campaign, templates, rows, urls)
        summary.created += created
        if progress:
            progress(created)
    return summary


async def _write_batch(
    session: AsyncSession,
    campaign: Campaign,
    templates: dict[int, EmailTemplate],
    rows: Any,
    urls: TrackingUrls,
) -> int:
    rendered = []
    texts: list[str | None] = []
    emails = await render_emails(
        {**DEFAULT_TEMPLATES, **templates},
        [
            (prospect.tier, merge_context(campaign, prospect, contact, NAME_PLACEHOLDER))
            for contact, prospect in rows
        ],
    )
    for (contact, prospect), email in zip(rows, emails, strict=True):
        content = Content(
            campaign_id=campaign.id,
            contact_id=contact.id,
            prospect_id=prospect.id,
            tier=prospect.tier,
            subject=email.subject,
            html="",
            text="",
        )
        session.add(content)
        rendered.append((content, email.html))
        texts.append(email.text)
    await apply_tracking(session, campaign, rendered, urls, texts)
    return len(rendered)


async def apply_tracking(
    session: AsyncSession,
    campaign: Campaign,
    rendered: list[tuple[Content, str]],
    urls: TrackingUrls,
    texts: Sequence[str | None] | None = None,
) -> None:
    """Give new contents (added to the session) their tracked HTML, text and links.

    `texts[i]`, when given and not None, is the plain-text part of `rendered[i]` as its
    template wrote it (Markdown); its links are tracked like the HTML's. Otherwise the
    text part is derived from the tracked HTML.
    """
    await session.flush()  # assigns the ids the tokens carry
    tracking = campaign.tracking_enabled
    for index, (content, html) in enumerate(rendered):

        def track_link(url: str, position: int, content_id: int = content.id) -> str:
            return urls.click(content_id, position) if tracking else url

        result = rewrite_html(
            html,
            track_link=track_link,
            pixel_url=urls.pixel(content.id) if tracking else None,
            unsubscribe_url=urls.unsubscribe(content.id),
            honeypot_url=urls.honeypot(content.id) if tracking else None,
        )
        content.html = result.html
        text = texts[index] if texts is not None else None
        if text is None:
            content.text = html_to_text(result.html)
        else:
            content.text = track_text(text, result.links, track_link, urls.unsubscribe(content.id))
        if tracking:
            for position, url in enumerate(result.links):
                session.add(Link(content_id=content.id, position=position, url=url))
    await session.flush()


def track_text(
    text: str, links: list[str], track_link: Callable[[str, int], str], unsubscribe_url: str
) -> str:
    """A written text part with its links tracked, in the order the HTML part has them,
    and the unsubscribe link at the end (as the HTML part's footer has it)."""
    pieces: list[str] = []
    cursor = 0
    for position, url in enumerate(links):
        found = text.find(url, cursor)
        if found < 0:
            continue
        pieces.append(text[cursor:found])
        pieces.append(track_link(url, position))
        cursor = found + len(url)
    pieces.append(text[cursor:])
    return f"{''.join(pieces).rstrip()}\n\n--\nUnsubscribe: {unsubscribe_url}\n"


async def links_of(session: AsyncSession, content_ids: list[int]) -> dict[int, list[Link]]:
    result: dict[int, list[Link]] = {cid: [] for cid in content_ids}
    if content_ids:
        rows = await session.scalars(
            select(Link)
            .where(Link.content_id.in_(content_ids))
            .order_by(Link.content_id, Link.position)
        )
        for link in rows:
            result[link.content_id].append(link)
    return result
