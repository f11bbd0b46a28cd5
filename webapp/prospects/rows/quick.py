"""The common CSV record checked in straight-line code: the same row `normalise_row` makes.

Why this exists: checking and normalising a row was about four fifths of the
CPU time of reading a big CSV (`rows.parallel`), and most of that was the
layering of `rows.fields` (a lambda, a try and three small calls per optional
field, a second pass over the record for aliases and types that a CSV record
has already had), not the checks themselves.

`normalise_record` takes a CSV record as `rows.csv` makes it (canonical field
names, each once, trimmed text) and handles the common case: every value
storable, a valid email, and no value rejected or left blank with a warning.
Anything else (a character the database cannot store, a bad email, a missing
or overlong company, any value that would carry a warning) is handed to
`normalise_row`, which reads the record again from the start, so every
rejection and warning, with its wording and order, comes from one place. The
checks it makes itself are the ones `normalise_row` makes, through the same
cached functions (`ascii_host`, `normalise_domain`, `is_free_mail`, the
amounts' parser), which pay off because a file repeats its companies, domains,
titles, countries and sizes from row to row.
"""

from __future__ import annotations

from itertools import chain, product

from webapp.prospects.rows.amounts import parse_amount
from webapp.prospects.rows.domains import (
    ascii_host,
    display_domain,
    is_free_mail,
    normalise_domain,
)
from webapp.prospects.rows.fields import (
    _EMAIL_LOCAL,
    _UNSTORABLE,
    _WHITESPACE,
    EMPTY_MARKERS,
    MAX_COMPANY,
    MAX_COUNTRY,
    MAX_EMAIL,
    MAX_INDUSTRY,
    MAX_NAME,
    MAX_NOTES,
    MAX_TITLE,
    ImportRow,
    RowError,
    _collapsed,
    normalise_row,
    split_name,
)

_new_row = ImportRow._make


def _spellings(marker: str) -> set[str]:
    """Every way of writing `marker` that casefolds to it: its ASCII letters in either case
    (no other character casefolds to a marker's letters; a test checks every code point)."""
    variants = [{char, char.upper()} for char in marker]
    return {"".join(chars) for chars in product(*variants)}


MARKER_SPELLINGS = frozenset(chain.from_iterable(map(_spellings, EMPTY_MARKERS)))
"""The values `rows.fields` reads as empty (`EMPTY_MARKERS` after casefolding), written out."""


class _Slow(Exception):
    """Internal: the record is not the common case; `normalise_row` reads it."""


def normalise_record(line: int, record: dict[str, str]) -> ImportRow | RowError:
    """`normalise_row(line, record)` for a CSV record (`rows.csv`): the same row or error."""
    try:
        return _common(line, record)
    except _Slow:
        return normalise_row(line, record)


def _common(line: int, record: dict[str, str]) -> ImportRow:
    joined = "".join(record.values())
    if "\x00" in joined or (not joined.isascii() and _UNSTORABLE.search(joined) is not None):
        raise _Slow  # a character the database cannot store: rejected
    values = record
    if not MARKER_SPELLINGS.isdisjoint(record.values()):
        values = {field: "" if text in MARKER_SPELLINGS else text for field, text in record.items()}
    get = values.get
    email = get("email", "").lower()
    local, at, host = email.rpartition("@")
    if not (
        at
        and len(email) <= MAX_EMAIL
        and len(local) <= 64
        and _EMAIL_LOCAL.fullmatch(local) is not None
        and ascii_host(host) is not None
    ):
        raise _Slow  # empty or invalid: rejected
    domain = None
    text = get("domain", "")
    if text:
        domain = normalise_domain(text)
        if domain is None:
            raise _Slow  # a bad website: a warning
    if domain is None and not is_free_mail(host):
        domain = normalise_domain(host)
    company = _line(get("company", ""), MAX_COMPANY)
    if company is None:
        if not domain:
            raise _Slow  # no company: rejected
        company = display_domain(domain)
    first_name = _line(get("first_name", ""), MAX_NAME)
    last_name = _line(get("last_name", ""), MAX_NAME)
    if first_name is None and last_name is None:
        first_name, last_name = split_name(_WHITESPACE.sub(" ", get("name", "")))
        if (first_name is not None and len(first_name) > MAX_NAME) or (
            last_name is not None and len(last_name) > MAX_NAME
        ):
            raise _Slow  # an overlong name: a warning
    country = _line(get("country", ""), MAX_COUNTRY)
    if country is not None and len(country) == 2 and country.isalpha():
        country = country.upper()
    try:
        employees = parse_amount(get("employees", ""))
        revenue = parse_amount(get("revenue", ""))
    except ValueError:
        raise _Slow from None  # a bad amount: a warning
    return _new_row(
        (
            line,
            company,
            domain,
            domain or company.casefold(),
            email,
            first_name,
            last_name,
            _line(get("title", ""), MAX_TITLE),
            country,
            _line(get("industry", ""), MAX_INDUSTRY),
            get("notes", "")[:MAX_NOTES].strip() or None,
            employees,
            revenue,
            (),
        )
    )


def _line(text: str, limit: int) -> str | None:
    """`fields._single_line`'s value, None when empty; an overlong value is not the common case."""
    if not text:
        return None
    value = _collapsed(text)
    if len(value) > limit:
        raise _Slow
    return value or None
