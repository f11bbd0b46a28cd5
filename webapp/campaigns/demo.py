"""A realistic demo campaign (casino industry), generated deterministically from a seed.

`demo_rows(seed, prospects)` invents casino resorts, card rooms, gaming groups
and a few affiliate sites from word lists, each with 1–3 contacts whose titles
range from C-level to staff. The facts are drawn per intended tier so that the
casino profile puts prospects in all three tiers. No network, no randomness
beyond `random.Random(seed)`: the same seed always gives the same rows.
`create_demo_campaign` imports them through the normal import path and writes
every contact's email, so the campaign is ready to send and track.
"""

from __future__ import annotations

import random
import re
import unicodedata
from typing import Any

from sqlalchemy import func, select

from webapp.core.db import Database
from webapp.core.models import Campaign

DEFAULT_SEED = 7
DEFAULT_PROSPECTS = 300
DEMO_NAME = "Demo: casino resorts"

_PREFIXES = (
    "Golden", "Silver", "Royal", "Lucky", "Crystal", "Desert", "Emerald", "Grand", "Blue Water",
    "Red Rock", "Starlight", "Sapphire", "Diamond", "Harbor", "Eagle", "Thunder", "Northern",
    "Sunset", "Coral", "Jade", "Ivory", "Summit", "Riverbend", "Lakeside", "Pinnacle", "Majestic",
    "Phoenix", "Aurora", "Cascade", "Monarch", "Silver Creek", "Black Hawk", "Twin Pines",
    "Seven Winds", "Copper", "Obsidian", "Velvet", "Neon", "Horseshoe", "Paradise",
)  # fmt: skip
_NOUNS = (
    "Palace", "Crown", "Horizon", "Oasis", "Mirage", "Lagoon", "Canyon", "Sands", "Peak",
    "Springs", "Bay", "Fortune", "Star", "Moon", "Tiger", "Dragon", "Falcon", "Ridge", "Isle",
    "Park", "Landing", "Point", "Valley", "Shores", "Heights",
)  # fmt: skip
_KINDS = {
    1: ("Casino Resort", "Resort & Casino", "Gaming Group", "Casino & Hotel", "Casinos"),
    2: ("Casino", "Card Room", "Racino", "Gaming Hall", "Casino & Racetrack", "Bingo Hall"),
    3: ("Slots Lounge", "Gaming Club", "Casino Reviews", "Bonus Codes", "Poker Club", "Bingo"),
}
_INDUSTRY_OF_KIND = {
    "Casino Resort": "Casino resort", "Resort & Casino": "Casino resort",
    "Casino & Hotel": "Casino resort", "Gaming Group": "Casino operator",
    "Casinos": "Casino operator", "Casino": "Casino", "Card Room": "Card room",
    "Racino": "Racetrack casino", "Casino & Racetrack": "Racetrack casino",
    "Gaming Hall": "Gaming hall", "Slots Lounge": "Gaming hall", "Gaming Club": "Gaming hall",
    "Bingo Hall": "Bingo", "Bingo": "Bingo", "Poker Club": "Poker room",
    "Casino Reviews": "Affiliate marketing", "Bonus Codes": "Affiliate marketing",
}  # fmt: skip
"""Each company's own industry, as a data vendor would give it (not one label for all,
which would tell the scoring nothing and give every company the same keyword points)."""
_MARKETS = {
    1: (("US", ".com"), ("US", ".com"), ("CA", ".ca"), ("GB", ".co.uk"), ("AU", ".com.au"),
        ("MO", ".mo"), ("SG", ".sg")),
    2: (("MT", ".com.mt"), ("ES", ".es"), ("MX", ".mx"), ("PH", ".ph"), ("PE", ".pe"),
        ("FR", ".fr"), ("US", ".com"), ("DE", ".de"), ("PA", ".com.pa")),
    3: (("IN", ".in"), ("NG", ".ng"), ("VN", ".vn"), ("ZA", ".co.za"), ("KE", ".co.ke"),
        ("", ".net"), ("CO", ".co")),
}  # fmt: skip
# (title, weight) per intended tier: senior buyers for tier 1, mixed for 2, junior for 3.
_TITLES = {
    "c_level": ("Chief Marketing Officer", "CEO", "Chief Operating Officer", "President",
                "General Counsel & Chief Compliance Officer", "Founder"),
    "vp": ("VP Marketing", "Vice President of Player Development", "SVP Casino Operations",
           "Head of Marketing", "General Manager", "VP Customer Experience"),
    "director": ("Director of Marketing", "Director of Player Development",
                 "Director of Slot Operations", "Director of Hotel Sales", "Director of CRM"),
    "manager": ("Marketing Manager", "Player Development Manager", "Casino Host Manager",
                "Promotions Manager", "Loyalty Program Manager", "Shift Manager"),
    "other": ("Marketing Coordinator", "Casino Host", "Marketing Specialist",
              "Executive Assistant to the CEO", "Slot Technician", "Guest Services Agent"),
}  # fmt: skip
_LEVELS_BY_TIER = {
    1: (("c_level", 3), ("vp", 4), ("director", 2), ("manager", 1)),
    2: (("director", 3), ("manager", 4), ("vp", 1), ("other", 2)),
    3: (("manager", 2), ("other", 6), ("director", 1)),
}
_FIRST = (
    "Ana", "Ben", "Carla", "David", "Elena", "Frank", "Grace", "Hiro", "Isabel", "James", "Kate",
    "Luis", "Maria", "Nina", "Omar", "Priya", "Quinn", "Rosa", "Sam", "Tara", "Uma", "Victor",
    "Wei", "Ximena", "Yusuf", "Zoe", "Marco", "Chloe", "Raj", "Lena", "Tom", "Aisha",
)  # fmt: skip
_LAST = (
    "Garcia", "Smith", "Chen", "Müller", "Rossi", "Silva", "Kowalski", "Nguyen", "Okafor", "Patel",
    "Santos", "Johnson", "Lee", "Martin", "Dubois", "Kim", "Fernández", "Walker", "Cohen", "Ito",
    "Brown", "Murphy", "Novak", "Haddad", "Reyes", "Taylor", "Larsen", "O'Brien", "Costa", "Weber",
)  # fmt: skip
_NOTES = {
    1: ("Flagship property with hotel towers and convention space.",
        "Group of four regional casinos; new loyalty program launching.",
        "Tribal gaming enterprise, expanding its resort.", None, None),
    2: ("Single property with a sportsbook lounge.", "Family-owned since 1978.", None, None),
    3: ("Small card room, weekends only.", "Affiliate site reviewing online casinos.", None),
}  # fmt: skip
_TIER_SHARE = ((1, 0.25), (2, 0.40), (3, 0.35))
_SLUG = re.compile(r"[^a-z0-9]+")


def demo_rows(seed: int = DEFAULT_SEED, prospects: int = DEFAULT_PROSPECTS) -> list[dict[str, Any]]:
    """Import rows (one per contact, CSV column names) for `prospects` invented companies."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    names: set[str] = set()
    for number in range(prospects):
        tier = _pick_tier(rng)
        name, kind = _company_name(rng, tier, names, number)
        country, tld = rng.choice(_MARKETS[tier])
        domain = _SLUG.sub("", name.lower().replace("&", "and")) + tld
        company = {
            "company": name,
            "domain": domain,
            "country": country or None,
            "industry": _INDUSTRY_OF_KIND[kind],
            "notes": rng.choice(_NOTES[tier]),
            **_size(rng, tier),
        }
        role_only = tier == 3 and rng.random() < 0.3
        used: set[str] = set()
        for _ in range(1 if role_only else rng.choice((1, 1, 2, 2, 3))):
            rows.append({**company, **_contact(rng, tier, domain, used, role_only)})
    return rows


def _pick_tier(rng: random.Random) -> int:
    draw = rng.random()
    for tier, share in _TIER_SHARE:
        if draw < share:
            return tier
        draw -= share
    return 3


def _company_name(rng: random.Random, tier: int, taken: set[str], number: int) -> tuple[str, str]:
    """A company name not taken yet, and the kind of business it names."""
    for _ in range(50):
        kind = rng.choice(_KINDS[tier])
        name = f"{rng.choice(_PREFIXES)} {rng.choice(_NOUNS)} {kind}"
        if name not in taken:
            taken.add(name)
            return name, kind
    kind = rng.choice(_KINDS[tier])
    name = f"{rng.choice(_PREFIXES)} {kind} {number}"
    taken.add(name)
    return name, kind


def _size(rng: random.Random, tier: int) -> dict[str, int | None]:
    employees: int | None
    revenue: int | None
    if tier == 1:
        employees = rng.choice((rng.randint(1000, 4999), rng.randint(300, 999), 6500))
        revenue = rng.choice((rng.randint(60, 480) * 10**6, rng.randint(5, 40) * 10**8))
    elif tier == 2:
        employees = rng.choice((rng.randint(200, 999), rng.randint(60, 199)))
        revenue = rng.choice((rng.randint(6, 45) * 10**6, rng.randint(50, 200) * 10**6, None))
    else:
        employees = rng.choice((rng.randint(3, 45), rng.randint(50, 120), None))
        revenue = rng.choice((rng.randint(2, 48) * 10**5, None))
    return {"employees": employees, "revenue": revenue}


def _contact(
    rng: random.Random, tier: int, domain: str, used: set[str], role_only: bool
) -> dict[str, Any]:
    if role_only:
        return {"email": f"info@{domain}", "first_name": None, "last_name": None, "title": None}
    levels, weights = zip(*_LEVELS_BY_TIER[tier], strict=True)
    level = rng.choices(levels, weights)[0]
    while True:
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        local = f"{_ascii(first)}.{_ascii(last)}"
        if local not in used:
            used.add(local)
            break
    return {
        "email": f"{local}@{domain}",
        "first_name": first,
        "last_name": last,
        "title": rng.choice(_TITLES[level]),
    }


def _ascii(name: str) -> str:
    plain = unicodedata.normalize("NFKD", name.lower()).encode("ascii", "ignore").decode()
    return _SLUG.sub("", plain)


async def has_campaigns(db: Database) -> bool:
    async with db.read() as session:
        return bool(await session.scalar(select(func.count()).select_from(Campaign)))


async def create_demo_campaign(
    db: Database,
    urls: Any,
    *,
    seed: int = DEFAULT_SEED,
    prospects: int = DEFAULT_PROSPECTS,
) -> int:
    """Create the demo campaign, import its prospects, write its emails; returns its id.

    `urls` is the `contents.TrackingUrls` the emails' tracking links are built with.
    """
    from webapp.campaigns.queries import create_campaign
    from webapp.outbound.contents import generate_contents
    from webapp.prospects.importer import import_prospects
    from webapp.prospects.rows.fields import rows_from_json

    rows = demo_rows(seed, prospects)
    async with db.write() as session:
        campaign_id = (await create_campaign(session, DEMO_NAME, "casino")).id
    await import_prospects(
        db, campaign_id, lambda: rows_from_json(rows), source=f"demo (seed {seed})"
    )
    await generate_contents(db, campaign_id, urls)
    return campaign_id
