"""Domain names by IDNA 2008 with UTS #46: an international name keeps its identity."""

from __future__ import annotations

import pytest

from webapp.prospects.rows.domains import display_domain, normalise_domain


@pytest.mark.parametrize(
    ("typed", "stored", "shown"),
    [
        ("faß.de", "xn--fa-hia.de", "faß.de"),  # IDNA 2003 made this fass.de, another domain
        ("https://www.München.DE/impressum", "xn--mnchen-3ya.de", "münchen.de"),
        ("ÖBB.at", "xn--bb-eka.at", "öbb.at"),
        ("xn--mnchen-3ya.de", "xn--mnchen-3ya.de", "münchen.de"),
        ("fass.de", "fass.de", "fass.de"),
        ("Acme.COM.", "acme.com", "acme.com"),
    ],
)
def test_international_domains(typed: str, stored: str, shown: str) -> None:
    assert normalise_domain(typed) == stored
    assert display_domain(stored) == shown


@pytest.mark.parametrize("typed", ["a..b", "-acme.com", "acme", "☃", "exa mple.com"])
def test_what_is_not_a_domain(typed: str) -> None:
    assert normalise_domain(typed) is None
