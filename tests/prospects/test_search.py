"""Prospect search: a substring of company, domain, contact email or name, in any case,
the same on SQLite (covering indexes) and PostgreSQL (trigram indexes), and current
after renames, new contacts, changed emails and deletions."""

from __future__ import annotations

from sqlalchemy import delete, update

from tests.support.factories import make_campaign, make_contact, make_prospect
from webapp.core.models import Contact, Prospect
from webapp.prospects.listing import ListQuery, first_pages, list_tier, tier_counts
from webapp.web.pagination import PageRequest
from webapp.web.services import Services


async def _found(tune: Services, campaign_id: int, search: str) -> list[str]:
    query = ListQuery(sort="name", search=search)
    async with tune.db.read() as session:
        rows, _ = await list_tier(session, campaign_id, 1, query, PageRequest(50, None))
        pages, counts = await first_pages(session, campaign_id, query, 50)
        assert [p.id for p in pages[1][0]] == [p.id for p in rows]
        assert counts == await tier_counts(session, campaign_id, query)
        assert counts[1] == len(rows)
    return [row.name for row in rows]


async def test_search_finds_substrings_of_every_field_in_any_case(tune: Services) -> None:
    async with tune.db.write() as session:
        campaign = await make_campaign(session, "Search")
        other = await make_campaign(session, "Elsewhere")
        lake = await make_prospect(session, campaign, "Grand Lake Casino", domain="glc.example")
        await make_contact(session, lake, "ann.lee@glc.example", first_name="Ann", last_name="Lee")
        cafe = await make_prospect(session, campaign, "Café Royal", domain="cafe-royal.example")
        await make_contact(session, cafe, "bob@cafe-royal.example", first_name="Bob")
        odd = await make_prospect(session, campaign, 'The "100%_Club"', domain="club.example")
        await make_contact(session, odd, "x@club.example", last_name="O'Hara")
        elsewhere = await make_prospect(session, other, "Lake Elsewhere", domain="lake.example")
        await make_contact(session, elsewhere, "lake@lake.example")
        campaign_id = campaign.id
    expected = {
        "lake": ["Grand Lake Casino"],
        "LAKE CAS": ["Grand Lake Casino"],
        "ann lee": ["Grand Lake Casino"],  # first and last name together
        "lee@glc": ["Grand Lake Casino"],
        "e-roy": ["Café Royal"],  # the domain
        "CAFÉ": ["Café Royal"],
        "bob": ["Café Royal"],
        " o'h": ['The "100%_Club"'],  # an empty first name, then the last
        '"100%_': ['The "100%_Club"'],
        "%_c": ['The "100%_Club"'],
        "0%c": [],  # LIKE's wildcards are plain characters
        "la": ["Grand Lake Casino"],  # shorter than a trigram
        "e": ["Café Royal", "Grand Lake Casino", 'The "100%_Club"'],
        "royal lake": [],
        "nobody": [],
    }
    for search, names in expected.items():
        assert sorted(await _found(tune, campaign_id, search)) == sorted(names), search


async def test_search_follows_renames_new_contacts_changed_emails_and_deletions(
    tune: Services,
) -> None:
    async with tune.db.write() as session:
        campaign = await make_campaign(session, "Search")
        first = await make_prospect(session, campaign, "Sunset Resort", domain="sunset.example")
        contact = await make_contact(session, first, "amy@sunset.example", first_name="Amy")
        second = await make_prospect(session, campaign, "Harbor Club", domain="harbor.example")
        ids = (campaign.id, first.id, contact.id, second.id)
    campaign_id, first_id, contact_id, second_id = ids
    assert await _found(tune, campaign_id, "sunset") == ["Sunset Resort"]
    async with tune.db.write() as session:
        await session.execute(
            update(Prospect)
            .where(Prospect.id == first_id)
            .values(name="Moonrise Resort", domain="moonrise.example")
        )
        await session.execute(
            update(Contact)
            .where(Contact.id == contact_id)
            .values(email="amy@moonrise.example", first_name="Amelia")
        )
        harbor = await session.get(Prospect, second_id)
        assert harbor is not None
        await make_contact(session, harbor, "quinn@harbor.example", first_name="Quinn")
    assert await _found(tune, campaign_id, "sunset") == []
    assert await _found(tune, campaign_id, "moonrise") == ["Moonrise Resort"]
    assert await _found(tune, campaign_id, "amelia") == ["Moonrise Resort"]
    assert await _found(tune, campaign_id, "quinn") == ["Harbor Club"]
    async with tune.db.write() as session:
        await session.execute(delete(Contact).where(Contact.first_name == "Quinn"))
        await session.execute(delete(Prospect).where(Prospect.id == first_id))
    assert await _found(tune, campaign_id, "quinn") == []
    assert await _found(tune, campaign_id, "moonrise") == []
    assert await _found(tune, campaign_id, "harbor") == ["Harbor Club"]
