"""The CSV record's straight-line check makes exactly the row or error `normalise_row` makes."""

from __future__ import annotations

import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webapp.prospects.rows.fields import (
    COLUMN_ALIASES,
    EMPTY_MARKERS,
    ImportRow,
    RowError,
    normalise_row,
)
from webapp.prospects.rows.quick import MARKER_SPELLINGS, normalise_record

FIELDS = tuple(COLUMN_ALIASES)

EMAILS = (
    "ana@acme.com",
    "Ana.Lopez@ACME.com",
    "p0.12@company000012.example",
    "ana@münchen.de",
    "ana@xn--mnchen-3ya.de",
    "ana@faß.de",
    "ana@gmail.com",
    "bob@yahoo.co.uk",
    "bob@sales.yahoo.example.com",
    "ana@www.acme.com",
    "ana@www.com",
    "ana@WWW.Acme.COM",
    "ana@@acme.com",
    "ana.@acme.com",
    ".ana@acme.com",
    "a..b@acme.com",
    '"ana"@acme.com',
    "ana@acme",
    "ana@localhost",
    "ana@10.0.0.1",
    "ana@-acme.com",
    "ana@acme.c0m",
    "ana@acme.com.",
    "İstanbul@acme.com",
    "ana@İstanbul.com",
    "x" * 64 + "@acme.com",
    "x" * 65 + "@acme.com",
    "a@" + "b" * 250 + ".com",
    "ana@ac me.com",
    "ana@☃.net",
    "ana@xn--.com",
    "not-an-email",
    "",
)
DOMAINS = (
    "acme.com",
    "https://www.Acme.com:443/about?x=1",
    "www.acme.com",
    "www.com",
    "münchen.de",
    "faß.de",
    "xn--mnchen-3ya.de",
    "xn--zz.com",
    "mailto:ana@acme.com",
    "acme",
    "localhost",
    "ex ample.com",
    "http://",
    "ACME.COM.",
    "☃.net",
    "a" * 64 + ".com",
    "",
)
AMOUNTS = (
    "",
    "45",
    "1,200",
    "3k",
    "51-200",
    "$1M-5M",
    "1.5B",
    "8bn",
    "lots",
    "50-10",
    "-5",
    "1e99",
)
MARKERS = ("-", "—", "n/a", "N/A", "#N/A", "#n/A", "null", "NULL", "Null", "nUlL", "n/A", "na")
TEXTS = (
    "Acme",
    "Acme  Corp",
    "Acme\tCorp",
    "Société Générale",
    "CEO",
    "us",
    "US",
    "Us",
    "USA",
    "ßa",
    "ǅz",
    "Ana de la Cruz",
    "Cruz, Ana",
    "Ana",
    ",",
    "a\nb",
    "nul\x00l",
    "lone \ud800 surrogate",
    "x" * 101,
    "x" * 201,
    "ſ",
    "K",
    "",
)
FIELD_VALUES = {
    "email": EMAILS,
    "domain": DOMAINS,
    "employees": AMOUNTS,
    "revenue": AMOUNTS,
    "notes": (*TEXTS, "x" * 2001 + "  y", "  keep\n\nlines  "),
}

any_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
odd_text = st.text(max_size=8)  # lone surrogates and NUL included


def values_for(field: str) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(FIELD_VALUES.get(field, TEXTS)),
        st.sampled_from(MARKERS),
        st.sampled_from(EMAILS + DOMAINS + AMOUNTS),
        any_text,
        odd_text,
        any_text.map(lambda text: f"{text}@acme.com"),
        any_text.map(lambda text: f"ana@{text}.com"),
    ).map(str.strip)


records = st.lists(st.sampled_from(FIELDS), unique=True).flatmap(
    lambda fields: st.fixed_dictionaries({field: values_for(field) for field in fields})
)


def same(line: int, record: dict[str, str]) -> None:
    expected, got = normalise_row(line, dict(record)), normalise_record(line, dict(record))
    assert type(got) is type(expected)
    assert repr(got) == repr(expected)


@pytest.mark.slow
@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(line=st.integers(2, 10**6), record=records)
def test_any_record_gives_what_normalise_row_gives(line: int, record: dict[str, str]) -> None:
    same(line, record)


@pytest.mark.parametrize("email", EMAILS)
@pytest.mark.parametrize("domain", DOMAINS)
def test_every_email_with_every_website(email: str, domain: str) -> None:
    same(2, {"company": "Acme", "domain": domain, "email": email, "country": "us"})
    same(3, {"domain": domain, "email": email})


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("value", (*TEXTS, *MARKERS, *AMOUNTS))
def test_every_field_with_every_value(field: str, value: str) -> None:
    record = {"company": "Acme", "email": "ana@acme.com", field: value}
    same(2, record)
    same(3, {field: value, "first_name": "Ana", "name": "Bob Lee", "email": "ana@acme.com"})


def test_common_rows_take_the_quick_path() -> None:
    row = normalise_record(
        7,
        {
            "company": "Acme  Casino",
            "domain": "https://www.Acme.com/x",
            "email": "Ana@Acme.com",
            "first_name": "Ana",
            "last_name": "N/A",
            "title": "CEO",
            "employees": "1,200",
            "revenue": "$2M",
            "country": "gb",
        },
    )
    assert row == ImportRow(
        line=7,
        company="Acme Casino",
        domain="acme.com",
        company_key="acme.com",
        email="ana@acme.com",
        first_name="Ana",
        title="CEO",
        country="GB",
        employees=1200,
        revenue=2_000_000,
    )


def test_rejections_and_warnings_are_normalise_rows() -> None:
    rejected = normalise_record(4, {"company": "Acme", "email": "nope"})
    assert rejected == RowError(4, "invalid email 'nope'")
    warned = normalise_record(5, {"company": "Acme", "email": "a@acme.com", "employees": "lots"})
    assert isinstance(warned, ImportRow) and warned.employees is None
    assert warned.warnings == (
        "invalid employees 'lots': expected a number like 1200, 5k, 1.5M or 10-50; left blank",
    )


@pytest.mark.slow
def test_marker_spellings_are_every_text_casefolding_to_a_marker() -> None:
    """No character but the markers' own (in either case) casefolds to part of a marker."""
    parts = {m[i:j] for m in EMPTY_MARKERS for i in range(len(m)) for j in range(i + 1, len(m) + 1)}
    folding = {
        chr(point)
        for point in range(sys.maxunicode + 1)
        if not 0xD800 <= point <= 0xDFFF and chr(point).casefold() in parts
    }
    assert folding == {char for spelling in MARKER_SPELLINGS for char in spelling}
    assert {spelling.casefold() for spelling in MARKER_SPELLINGS} == EMPTY_MARKERS
