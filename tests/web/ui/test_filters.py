"""The Jinja filters every page formats with: money, possessives, times, score reasons."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from webapp.core.text import possessive
from webapp.web.ui.filters import fmt_money, fmt_reason, when


@pytest.mark.parametrize(
    ("value", "currency", "shown"),
    [
        (20_700_000_000, "USD", "$20.7B"),
        (2_000_000_000, "USD", "$2B"),
        (90_000_000, "USD", "$90M"),
        (1_500_000, "eur", "€1.5M"),
        (950, "USD", "$950"),
        (12_345, "GBP", "£12.3K"),
        (999_960_000, "USD", "$1B"),
        (999_999, "USD", "$1M"),
        (3_200_000, "CHF", "3.2M CHF"),
        (3_200_000, None, "3.2M"),
        (-4_000_000, "USD", "\u2212$4M"),
        (None, "USD", "–"),
    ],
)
def test_money_reads_like_money(value: int | None, currency: str | None, shown: str) -> None:
    assert fmt_money(value, currency) == shown


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("Choice Hotels", "Choice Hotels'"),
        ("Acme", "Acme's"),
        ("MGM RESORTS", "MGM RESORTS'"),
        ("Bellagio ", "Bellagio's"),
        ("", ""),
        (None, ""),
    ],
)
def test_possessive_of_names_ending_in_s(name: str | None, shown: str) -> None:
    assert possessive(name) == shown


def test_times_are_a_utc_time_element_the_page_script_makes_relative() -> None:
    moment = datetime(2026, 11, 29, 23, 5, 7, 123456, tzinfo=UTC)
    html = str(when(moment))
    assert html == (
        '<time datetime="2026-11-29T23:05:07+00:00" data-relative>2026-11-29 23:05 UTC</time>'
    )
    assert str(when(None)) == "–"


def test_score_reasons_carry_their_sign() -> None:
    assert fmt_reason({"points": 20, "label": "C-level contact"}) == "+20 C-level contact"
    assert fmt_reason({"points": -10, "label": "role mailbox only"}) == "\u221210 role mailbox only"
