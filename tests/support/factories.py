"""Test data built explicitly by each test, straight into the database, and read back."""

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from webapp.campaigns.queries import industry_by_slug
from webapp.core.db import Database
from webapp.core.models import Campaign, Contact, Content, Enrollment, Link, Prospect
from webapp.web.services import Services

_sequence = itertools.count(1)


async def make_campaign(
    session: AsyncSession, name: str = "Campaign", industry: str = "casino", **fields: Any
) -> Campaign:
    industry_row = await industry_by_slug(session, industry)
    campaign = Campaign(name=name, industry_id=industry_row.id, industry=industry_row, **fields)
    session.add(campaign)
    await session.flush()
    return campaign


async def make_prospect(
    session: AsyncSession, campaign: Campaign, name: str | None = None, **fields: Any
) -> Prospect:
    number = next(_sequence)
    name = name or f"Company {number}"
    fields.setdefault("tier", 1)
    fields.setdefault("score", 50)
    prospect = Prospect(
        campaign_id=campaign.id,
        company_key=fields.pop("company_key", f"company{number}.example"),
        name=name,
        domain=fields.pop("domain", f"company{number}.example"),
        **fields,
    )
    session.add(prospect)
    await session.flush()
    return prospect


async def make_contact(
    session: AsyncSession, prospect: Prospect, email: str | None = None, **fields: Any
) -> Contact:
    number = next(_sequence)
    contact = Contact(
        campaign_id=prospect.campaign_id,
        prospect_id=prospect.id,
        email=email or f"person{number}@{prospect.domain or 'example.com'}",
        **fields,
    )
    session.add(contact)
    await session.flush()
    return contact


async def make_content(
    session: AsyncSession,
    contact: Contact,
    *,
    tier: int | None = None,
    urls: tuple[str, ...] = (),
    **fields: Any,
) -> Content:
    prospect = await session.get(Prospect, contact.prospect_id)
    assert prospect is not None
    content = Content(
        campaign_id=contact.campaign_id,
        contact_id=contact.id,
        prospect_id=contact.prospect_id,
        tier=tier or prospect.tier,
        subject=fields.pop("subject", "Hello"),
        html=fields.pop("html", "<p>Hello</p>"),
        text=fields.pop("text", "Hello"),
        **fields,
    )
    session.add(content)
    await session.flush()
    for position, url in enumerate(urls):
        session.add(Link(content_id=content.id, position=position, url=url))
    await session.flush()
    return content


async def make_recipient(
    session: AsyncSession, campaign: Campaign | None = None, **content_fields: Any
) -> Content:
    """A campaign (unless given), prospect, contact and content in one call."""
    campaign = campaign or await make_campaign(session)
    prospect = await make_prospect(session, campaign)
    contact = await make_contact(session, prospect)
    return await make_content(session, contact, **content_fields)


async def make_user(
    session: AsyncSession,
    email: str = "rep@example.com",
    password: str = "correct horse battery",
    **fields: Any,
) -> Any:
    """A dashboard user with a real (scrypt) password hash."""
    from webapp.accounts.users import create_user

    return await create_user(session, email, password, **fields)


async def add_contacts(tune: Services, count: int, tier: int = 1, **contact: Any) -> int:
    """A campaign with `count` contacts (no emails written yet); returns its id."""
    async with tune.db.write() as session:
        campaign = await make_campaign(session)
        for _ in range(count):
            prospect = await make_prospect(session, campaign, tier=tier)
            await make_contact(session, prospect, **contact)
        return campaign.id


async def contents_of(db: Database, campaign_id: int) -> list[Content]:
    async with db.read() as session:
        rows = await session.scalars(
            select(Content).where(Content.campaign_id == campaign_id).order_by(Content.id)
        )
        return list(rows)


async def enrollment_of(db: Database, contact_id: int) -> Enrollment:
    """The contact's place in its campaign's sequence, as stored."""
    async with db.read() as session:
        found = await session.scalar(select(Enrollment).where(Enrollment.contact_id == contact_id))
    assert found is not None, f"contact {contact_id} is not enrolled"
    return found
