"""Countries as people type them: aliases, ISO alpha-2 and alpha-3 codes, and every country."""

from __future__ import annotations

import pytest

from webapp.prospects.scoring.countries import country_code
from webapp.prospects.scoring.profile import parse_profile
from webapp.prospects.scoring.score import ProspectFacts, score_prospect


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("DEU", "DE"),
        ("FRA", "FR"),
        ("GBR", "GB"),
        ("usa", "US"),
        ("UK", "GB"),
        ("Deutschland", "DE"),
        ("Holland", "NL"),
        ("de", "DE"),
        ("Kazakhstan", "KZ"),
        ("Côte d’Ivoire", "CI"),
        ("Bolivia", "BO"),
        ("Korea, Republic of", "KR"),
        ("Tanzania", "TZ"),
        ("Iceland", "IS"),
        ("Uruguay", "UY"),
    ],
)
def test_country_names_and_codes(typed: str, code: str) -> None:
    assert country_code(typed) == code


def test_an_unknown_name_has_no_code() -> None:
    assert country_code("Atlantis") is None


def test_an_alpha3_country_scores_like_its_alpha2_code() -> None:
    profile = parse_profile(
        "version = 1\n[tiers]\ntier1 = 70\ntier2 = 40\n[countries]\nDE = 15\nother = -5\n", "t"
    )
    labels = [str(r) for r in score_prospect(profile, ProspectFacts("A", country="DEU")).reasons]
    assert labels == ["+15 country DE"]
