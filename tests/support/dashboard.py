"""A dashboard with data: one campaign across three tiers, emails written, a browser's agent."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from tests.support.factories import make_campaign, make_contact, make_prospect
from webapp.core.models import Content
from webapp.outbound.contents import TrackingUrls, generate_contents
from webapp.web.services import Services

BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0"}


async def seed(tune: Services) -> dict[str, Any]:
    """A campaign with three tiers of prospects, written emails and a few events."""
    async with tune.db.write() as session:
        campaign = await make_campaign(session, "Casino push")
        bellagio = await make_prospect(
            session,
            campaign,
            "Bellagio",
            tier=1,
            score=90,
            employees=8200,
            country="United States",
            score_reasons=[{"points": 30, "label": "large casino"}, {"points": -5, "label": "far"}],
        )
        hot = await make_prospect(
            session, campaign, "Hot Springs Resort", tier=1, score=40, hot=True
        )
        second = await make_prospect(session, campaign, "Second Tier Inc", tier=2, score=60)
        ceo = await make_contact(
            session,
            bellagio,
            "ada@bellagio.example",
            first_name="Ada",
            last_name="King",
            title="CEO",
        )
        await make_contact(session, bellagio, "intern@bellagio.example", title="Intern")
        await make_contact(session, hot, "sam@hotsprings.example", first_name="Sam")
        await make_contact(session, second, "lee@second.example", first_name="Lee")
        ids = {
            "campaign": campaign.id,
            "bellagio": bellagio.id,
            "hot": hot.id,
            "second": second.id,
            "ceo": ceo.id,
        }
    urls = TrackingUrls(tune.config.base_url, tune.signer)
    await generate_contents(tune.db, ids["campaign"], urls)
    async with tune.db.read() as session:
        content = await session.scalar(select(Content).where(Content.contact_id == ids["ceo"]))
        assert content is not None
        ids["content"] = content.id
    return ids
