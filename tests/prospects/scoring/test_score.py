"""Prospect scoring: seniority from titles, each criterion, tiers, and the shipped profiles."""

from __future__ import annotations

import json

import pytest

from webapp.core.errors import ValidationFailed
from webapp.prospects.scoring.profile import (
    DEFAULT_SLUG,
    load_profile,
    parse_profile,
    profile_slugs,
)
from webapp.prospects.scoring.reasons import Reason, Score
from webapp.prospects.scoring.score import ProspectFacts, score_prospect
from webapp.prospects.scoring.seniority import Seniority, seniority

SHIPPED = [
    "casino",
    "hospitality",
    "retail",
    "saas",
    "healthcare",
    "finance",
    "manufacturing",
    "logistics",
    "default",
]

TIERS = """
version = 3
[tiers]
tier1 = 70
tier2 = 40
"""


def reasons_for(profile_toml: str, **facts: object) -> list[str]:
    profile = parse_profile(TIERS + profile_toml, "test")
    facts.setdefault("company", "Acme")
    score = score_prospect(profile, ProspectFacts(**facts))  # type: ignore[arg-type]
    return [str(reason) for reason in score.reasons]


# --- seniority ------------------------------------------------------------------------------

C, VP, DIR, MGR, OTHER = (
    Seniority.C_LEVEL,
    Seniority.VP,
    Seniority.DIRECTOR,
    Seniority.MANAGER,
    Seniority.OTHER,
)


@pytest.mark.parametrize(
    ("title", "level"),
    [
        ("CEO", C),
        ("Chief Executive Officer", C),
        ("Co-Founder & CTO", C),
        ("cfo", C),
        ("Owner", C),
        ("President", C),
        ("Managing Director", C),
        ("Chairman of the Board", C),
        ("Managing Partner", C),
        ("Vice President of Marketing", VP),
        ("Vice-President, Sales", VP),
        ("VP Marketing", VP),
        ("SVP, Sales", VP),
        ("EVP Operations", VP),
        ("Head of Growth", VP),
        ("Sales Head", VP),
        ("General Manager", VP),
        ("Deputy CEO", VP),
        ("Vice Chairman", VP),
        ("Partner", VP),
        ("Director", DIR),
        ("Sr. Director, Finance", DIR),
        ("Executive Director", DIR),
        ("Chief of Staff", DIR),
        ("Assistant Vice President", DIR),
        ("AVP, Treasury", DIR),
        ("Assistant General Manager", DIR),
        ("Manager", MGR),
        ("Account Manager", MGR),
        ("Partner Account Manager", MGR),
        ("Team Lead", MGR),
        ("Associate Director", MGR),
        ("Supervisor", MGR),
        ("Assistant to the CEO", OTHER),
        ("Executive Assistant to the CFO", OTHER),
        ("CEO's Office Coordinator", OTHER),
        ("Board Member", OTHER),
        ("Non-Executive Director", OTHER),
        ("Product Owner", OTHER),
        ("Assistant Manager", OTHER),
        ("Account Executive", OTHER),
        ("Lead Generation Specialist", OTHER),
        ("Head Chef", OTHER),
        ("Marketing Intern", OTHER),
        ("Software Engineer", OTHER),
        ("", OTHER),
        (None, OTHER),
        ("Directeur Général", C),
        ("Président-Directeur Général", C),
        ("PDG", C),
        ("Geschäftsführer", C),
        ("Fundadora", C),
        ("Gerente General", VP),
        ("Vicepresidente de Ventas", VP),
        ("Leiterin Einkauf", VP),
        ("Directora Comercial", DIR),
        ("Gerente de Ventas", MGR),
        ("Jefe de Compras", MGR),
        ("Responsable Achats", MGR),
    ],
)
def test_seniority_from_title(title: str | None, level: Seniority) -> None:
    assert seniority(title) is level


# --- criteria, one at a time ----------------------------------------------------------------

EMPLOYEES = """
[[employees]]
min = 1
max = 50
points = -10
label = "1–49"
[[employees]]
min = 50
max = 1000
points = 25
[[employees]]
min = 1000
points = 10
[unknown]
employees = -5
"""


@pytest.mark.parametrize(
    ("employees", "reasons"),
    [
        (0, []),
        (1, ["−10 employees 1–49"]),
        (49, ["−10 employees 1–49"]),
        (50, ["+25 employees 50–1k"]),
        (999, ["+25 employees 50–1k"]),
        (1000, ["+10 employees 1k+"]),
        (2_000_000, ["+10 employees 1k+"]),
        (None, ["−5 employees unknown"]),
    ],
)
def test_employee_bands(employees: int | None, reasons: list[str]) -> None:
    assert reasons_for(EMPLOYEES, employees=employees) == reasons


REVENUE = """
[[revenue]]
min = 1_000_000
max = 10_000_000
points = 5
[[revenue]]
min = 10_000_000
max = 20_000_000
points = 0
[[revenue]]
min = 20_000_000
points = 20
label = "$20M and up"
"""


@pytest.mark.parametrize(
    ("revenue", "reasons"),
    [
        (999_999, []),
        (1_000_000, ["+5 revenue $1M–$10M"]),
        (15_000_000, []),
        (20_000_000, ["+20 revenue $20M and up"]),
        (None, []),
    ],
)
def test_revenue_bands(revenue: int | None, reasons: list[str]) -> None:
    assert reasons_for(REVENUE, revenue=revenue) == reasons


COUNTRIES = """
[countries]
US = 15
DE = 0
other = -5
[countries.regions.nordics]
label = "Nordics"
points = 8
codes = ["SE", "DK", "US"]
[unknown]
country = -3
"""


@pytest.mark.parametrize(
    ("country", "reasons"),
    [
        ("US", ["+15 country US"]),
        ("United States", ["+15 country US"]),
        ("u.s.a.", ["+15 country US"]),
        ("se", ["+8 country SE (Nordics)"]),
        ("Sweden", ["+8 country SE (Nordics)"]),
        ("DE", []),
        ("Deutschland", []),
        ("FR", ["−5 country FR not targeted"]),
        ("UK", ["−5 country GB not targeted"]),
        ("Atlantis", ["−5 country Atlantis not targeted"]),
        (None, ["−3 country unknown"]),
    ],
)
def test_countries_and_regions(country: str | None, reasons: list[str]) -> None:
    assert reasons_for(COUNTRIES, country=country) == reasons


SENIORITY = """
[seniority]
c_level = 20
vp = 15
director = 10
manager = 5
other = -2
"""


@pytest.mark.parametrize(
    ("titles", "reasons"),
    [
        ((), ["−2 no manager or above among contacts"]),
        (("Engineer", None), ["−2 no manager or above among contacts"]),
        (("Assistant to the CEO",), ["−2 no manager or above among contacts"]),
        (("Account Manager",), ["+5 manager-level contact"]),
        (("Account Manager", "VP Sales", "Engineer"), ["+15 VP-level contact"]),
        (("Director of IT", "Founder"), ["+20 C-level contact"]),
    ],
)
def test_best_contact_seniority_counts(titles: tuple[str | None, ...], reasons: list[str]) -> None:
    assert reasons_for(SENIORITY, contact_titles=titles) == reasons


KEYWORDS = """
[[keywords]]
label = "gaming operator"
words = ["casino", "card room", "e-sports"]
points = 10
[[keywords]]
label = "affiliate"
words = ["casino reviews", "affiliate"]
points = -15
[[keywords]]
label = "resort"
words = ["Resort"]
points = 5
"""


@pytest.mark.parametrize(
    ("facts", "reasons"),
    [
        ({"company": "Lucky Star Casino"}, ["+10 gaming operator (casino)"]),
        ({"company": "CASINOS of the West"}, ["+10 gaming operator (casino)"]),
        ({"company": "Casinoville Inc"}, []),
        ({"company": "Casino Reviews Online"}, ["−15 affiliate (casino reviews)"]),
        (
            {"company": "Casino Reviews", "notes": "also owns a casino"},
            ["+10 gaming operator (casino)", "−15 affiliate (casino reviews)"],
        ),
        (
            {"company": "Acme", "notes": "Runs two card-rooms and a casino."},
            ["+10 gaming operator (casino)"],
        ),
        ({"company": "The Card  ROOM"}, ["+10 gaming operator (card room)"]),
        ({"company": "Card Roommates"}, []),
        ({"company": "E-Sports Arena"}, ["+10 gaming operator (e-sports)"]),
        (
            {"company": "Acme", "industry": "Resorts & Casinos"},
            ["+10 gaming operator (casino)", "+5 resort (resort)"],
        ),
        (
            {"company": "Groupe Barrière", "notes": "Société: casino à Deauville"},
            ["+10 gaming operator (casino)"],
        ),
        ({"company": "Acme", "domain": "casino.com"}, []),
    ],
)
def test_keywords(facts: dict[str, str], reasons: list[str]) -> None:
    assert reasons_for(KEYWORDS, **facts) == reasons


EMAIL = """
[email]
personal = 5
role_only = -10
"""


@pytest.mark.parametrize(
    ("emails", "reasons"),
    [
        (("ana@acme.com",), ["+5 mailbox of a named person"]),
        (("info@acme.com", "ana@acme.com"), ["+5 mailbox of a named person"]),
        (("info@acme.com", "Sales@acme.com"), ["−10 role mailbox only"]),
        (("sales.uk@acme.com", "hello+web@acme.com"), ["−10 role mailbox only"]),
        (("infosec@acme.com",), ["+5 mailbox of a named person"]),
        ((), []),
    ],
)
def test_personal_address_versus_role_mailboxes(
    emails: tuple[str, ...], reasons: list[str]
) -> None:
    assert reasons_for(EMAIL, contact_emails=emails) == reasons


def test_role_mailbox_list_can_be_replaced_per_profile() -> None:
    toml = EMAIL + 'role_mailboxes = ["bookings"]\n'
    assert reasons_for(toml, contact_emails=("bookings@hotel.com",)) == ["−10 role mailbox only"]
    assert reasons_for(toml, contact_emails=("info@hotel.com",)) == ["+5 mailbox of a named person"]


def test_reasons_come_in_criterion_order_and_add_up() -> None:
    profile = parse_profile(TIERS + EMPLOYEES + SENIORITY + KEYWORDS + EMAIL, "test")
    facts = ProspectFacts(
        company="Lucky Star Casino",
        employees=300,
        contact_titles=("CFO",),
        contact_emails=("ana@luckystar.com",),
    )
    score = score_prospect(profile, facts)
    assert [str(reason) for reason in score.reasons] == [
        "+25 employees 50–1k",
        "+20 C-level contact",
        "+10 gaming operator (casino)",
        "+5 mailbox of a named person",
    ]
    assert (score.score, score.tier) == (60, 2)
    assert score_prospect(profile, facts) == score


# --- totals and tiers -----------------------------------------------------------------------


def score_with_points(points: int, tiers: str = "tier1 = 70\ntier2 = 40") -> Score:
    profile = parse_profile(f"version = 1\n[tiers]\n{tiers}\n[seniority]\nc_level = {points}", "t")
    return score_prospect(profile, ProspectFacts(company="Acme", contact_titles=("CEO",)))


@pytest.mark.parametrize(
    ("points", "tier"),
    [(100, 1), (70, 1), (69, 2), (40, 2), (39, 3), (0, 3)],
)
def test_tier_thresholds_at_their_boundaries(points: int, tier: int) -> None:
    assert score_with_points(points).tier == tier


@pytest.mark.parametrize(("points", "tier"), [(50, 1), (49, 2), (20, 2), (19, 3)])
def test_thresholds_are_configurable_per_profile(points: int, tier: int) -> None:
    assert score_with_points(points, "tier1 = 50\ntier2 = 20").tier == tier


def test_score_is_clamped_but_reasons_keep_the_real_points() -> None:
    low = score_with_points(-100)
    assert (low.score, low.tier, [reason.points for reason in low.reasons]) == (0, 3, [-100])
    toml = TIERS + "[seniority]\nc_level = 80\n[email]\npersonal = 80\n"
    high = score_prospect(
        parse_profile(toml, "t"),
        ProspectFacts(company="Acme", contact_titles=("CEO",), contact_emails=("ana@acme.com",)),
    )
    assert (high.score, high.tier) == (100, 1)


def test_reason_text_uses_a_real_minus_sign() -> None:
    assert str(Reason(25, "employees 200–1000")) == "+25 employees 200–1000"
    assert str(Reason(-10, "role mailbox only")) == "\u221210 role mailbox only"
    assert str(Reason(0, "employees unknown")) == "+0 employees unknown"


def test_score_as_json_is_what_the_prospect_stores() -> None:
    score = Score(35, 3, (Reason(25, "employees 200–1000"), Reason(-10, "role mailbox only")))
    stored = score.as_json()
    assert stored == [
        {"points": 25, "label": "employees 200–1000"},
        {"points": -10, "label": "role mailbox only"},
    ]
    assert json.loads(json.dumps(stored)) == stored


# --- shipped profiles -----------------------------------------------------------------------


def test_exactly_the_expected_profiles_are_shipped() -> None:
    assert profile_slugs() == frozenset(SHIPPED)


@pytest.mark.parametrize("slug", SHIPPED)
def test_shipped_profile_loads_and_separates_good_from_bad_prospects(slug: str) -> None:
    profile = load_profile(slug)
    assert (profile.slug, profile.version >= 1, bool(profile.description)) == (slug, True, True)
    assert profile.employees and profile.revenue and profile.seniority_points

    best_employees = max(profile.employees, key=lambda band: band.reason.points)
    best_revenue = max(profile.revenue, key=lambda band: band.reason.points)
    best_country = max(
        profile.country_reasons, key=lambda code: profile.country_reasons[code].points
    )
    positive_words = [group.words[0] for group in profile.keywords if group.points > 0]
    ideal = ProspectFacts(
        company=" ".join(["Acme", *positive_words]),
        employees=best_employees.min,
        revenue=best_revenue.min,
        country=best_country,
        contact_titles=("Chief Executive Officer",),
        contact_emails=("jane.doe@acme.com",),
    )
    poor = ProspectFacts(
        company="Acme",
        employees=2,
        revenue=50_000,
        country="ZZ",
        contact_titles=("Intern",),
        contact_emails=("info@acme.com",),
    )
    assert score_prospect(profile, ideal).tier == 1
    assert score_prospect(profile, poor).tier == 3


def test_profiles_differ_by_industry() -> None:
    facts = ProspectFacts(
        company="Harbor Freight Logistics",
        employees=800,
        country="NL",
        contact_titles=("Operations Manager",),
        contact_emails=("piet@harbor.nl",),
    )
    assert (
        score_prospect(load_profile("logistics"), facts).score
        > score_prospect(load_profile("casino"), facts).score
    )


def test_unknown_slug_falls_back_to_the_default_profile() -> None:
    assert load_profile("space-tourism") is load_profile(DEFAULT_SLUG)
    assert load_profile("../casino").slug == DEFAULT_SLUG


def test_profile_is_read_once_and_cached() -> None:
    assert load_profile("casino") is load_profile("casino")


# --- profile validation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("toml", "field"),
    [
        ("version = 1\n[tiers\n", "profile"),
        ("[tiers]\ntier1 = 70\ntier2 = 40", "version"),
        ('version = "1"\n[tiers]\ntier1 = 70\ntier2 = 40', "version"),
        ("version = 0\n[tiers]\ntier1 = 70\ntier2 = 40", "version"),
        ("version = 1", "tiers"),
        ("version = 1\n[tiers]\ntier2 = 40", "tiers.tier1"),
        ("version = 1\n[tiers]\ntier1 = 101\ntier2 = 40", "tiers.tier1"),
        ("version = 1\n[tiers]\ntier1 = 40\ntier2 = 40", "tiers.tier2"),
        ("version = 1\ncolour = 'red'\n[tiers]\ntier1 = 70\ntier2 = 40", "colour"),
        (TIERS + "[[employees]]\npoints = 5", "employees[0].min"),
        (TIERS + "[[employees]]\nmin = 1\npoints = 'ten'", "employees[0].points"),
        (TIERS + "[[employees]]\nmin = 1\npoints = true", "employees[0].points"),
        (TIERS + "[[employees]]\nmin = 10\nmax = 10\npoints = 5", "employees[0].max"),
        (TIERS + "[[employees]]\nmin = 1\nmax = 5\npoints = 5\npoinst = 1", "employees[0].poinst"),
        (
            TIERS
            + "[[revenue]]\nmin = 0\nmax = 100\npoints = 1\n[[revenue]]\nmin = 99\npoints = 2",
            "revenue[1].min",
        ),
        (TIERS + "[employees]\nmin = 1", "employees"),
        (TIERS + "[countries]\nUSA = 5", "countries.USA"),
        (TIERS + "[countries]\nUS = 500", "countries.US"),
        (
            TIERS + "[countries.regions.eu]\npoints = 5\ncodes = ['de']",
            "countries.regions.eu.codes",
        ),
        (TIERS + "[countries.regions.eu]\ncodes = ['DE']", "countries.regions.eu.points"),
        (
            TIERS
            + "[countries.regions.a]\npoints = 1\ncodes = ['DE']\n"
            + "[countries.regions.b]\npoints = 1\ncodes = ['DE']",
            "countries.regions.b.codes",
        ),
        (TIERS + "[seniority]\nceo = 5", "seniority.ceo"),
        (TIERS + "[seniority]\nvp = 1.5", "seniority.vp"),
        (TIERS + "[[keywords]]\nlabel = 'x'\npoints = 1", "keywords[0].words"),
        (TIERS + "[[keywords]]\nlabel = 'x'\nwords = []\npoints = 1", "keywords[0].words"),
        (TIERS + "[[keywords]]\nlabel = 'x'\nwords = ['--']\npoints = 1", "keywords[0].words"),
        (
            TIERS
            + "[[keywords]]\nlabel = 'a'\nwords = ['Casino']\npoints = 1\n"
            + "[[keywords]]\nlabel = 'b'\nwords = ['casino']\npoints = 1",
            "keywords[1].words",
        ),
        (TIERS + "[email]\nrole_only = -200", "email.role_only"),
        (TIERS + "[email]\nrole_mailboxes = 'info'", "email.role_mailboxes"),
        (TIERS + "[unknown]\nindustry = 1", "unknown.industry"),
    ],
)
def test_bad_profile_names_the_key(toml: str, field: str) -> None:
    with pytest.raises(ValidationFailed) as raised:
        parse_profile(toml, "broken")
    assert raised.value.field == field
    assert raised.value.message.startswith("profile broken: ")
    assert f"{field} " in raised.value.message
