"""Turning one uploaded record (a CSV line or a JSON object) into a validated import row.

Both doors (`rows.csv.rows_from_csv` and `rows_from_json`) end in
`normalise_row`, so a row means the same whichever way it came in (a CSV
record goes through `rows.quick.normalise_record` first, which makes the
same row faster for the common record and hands it here otherwise). Each
record becomes an `ImportRow` or a `RowError` naming its line.

Decisions the rest of Tune relies on:

- Column names match case-insensitively, ignoring spaces, dashes and other
  punctuation ("E-mail Address" is `email_address`), through `COLUMN_ALIASES`.
  Unknown columns are ignored.
- When several columns mean the same field ("Email" and "E-mail", or two
  "Email" columns), the first non-empty one, left to right, wins. JSON objects
  follow the same rule in key order.
- Blank records (every field empty) are skipped; they are not errors.
- "-", "—", "n/a", "#N/A" and "null" count as empty.
- Strings are trimmed and inner runs of whitespace collapsed (notes keep their
  line breaks). Notes are cut to `MAX_NOTES` characters.
- A bad optional value (a headcount of "lots", a website that is not a domain,
  a title over its length cap) is left blank with a warning on the row
  (`ImportRow.warnings`); the contact is imported. Only a bad email, a missing
  or overlong company, or a character the database cannot store rejects it.
- A value holding a character the database cannot store (NUL, or a lone
  surrogate) rejects the row, naming the field.
- Numbers are read leniently (`rows.amounts.parse_amount`).
- Domains are stored lowercase in ASCII form (`rows.domains`). Without a
  (valid) domain, a row takes its email's domain unless that is a free-mail
  provider.
- Person names: when first and last name are both empty, a "name" column is
  split at the first space ("Ana de la Cruz" → "Ana" / "de la Cruz"), or at a
  comma as "Last, First".
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple, TypeVar

from webapp.core.errors import ValidationFailed
from webapp.prospects.rows.amounts import parse_amount
from webapp.prospects.rows.domains import (
    ascii_host,
    display_domain,
    is_free_mail,
    normalise_domain,
)

MAX_COMPANY = 200
MAX_NAME = 100
MAX_TITLE = 200
MAX_COUNTRY = 100
MAX_INDUSTRY = 100
MAX_NOTES = 2000
MAX_EMAIL = 254

COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "company": (
        "company",
        "company_name",
        "organization",
        "organisation",
        "organization_name",
        "account",
        "account_name",
    ),
    "domain": (
        "domain",
        "website",
        "url",
        "web",
        "site",
        "homepage",
        "company_domain",
        "company_website",
        "company_url",
        "website_url",
    ),
    "employees": (
        "employees",
        "employee_count",
        "headcount",
        "number_of_employees",
        "num_employees",
        "no_of_employees",
        "company_size",
    ),
    "first_name": ("first_name", "firstname", "given_name", "forename"),
    "last_name": ("last_name", "lastname", "surname", "family_name"),
    "name": ("name", "full_name", "fullname", "contact_name"),
    "email": ("email", "email_address", "e_mail", "e_mail_address", "work_email"),
    "title": ("title", "job_title", "jobtitle", "position", "role"),
    "country": ("country", "country_code", "hq_country"),
    "revenue": ("revenue", "annual_revenue", "turnover"),
    "industry": (
        "industry",
        "sector",
        "vertical",
        "industry_type",
        "industry_name",
        "business_type",
        "segment",
        "market_segment",
        "naics_description",
        "sic_description",
    ),
    "notes": ("notes", "note", "comments", "comment"),
}
FIELD_FOR_ALIAS: dict[str, str] = {
    alias: field for field, aliases in COLUMN_ALIASES.items() for alias in aliases
}
TEXT_LIMITS: dict[str, int] = {
    "company": MAX_COMPANY,
    "first_name": MAX_NAME,
    "last_name": MAX_NAME,
    "title": MAX_TITLE,
    "country": MAX_COUNTRY,
    "industry": MAX_INDUSTRY,
}
EMPTY_MARKERS = frozenset({"-", "—", "n/a", "#n/a", "null"})
_LONGEST_MARKER = max(map(len, EMPTY_MARKERS))

_T = TypeVar("_T")

_HEADER_KEY = re.compile(r"[^0-9a-z]+")
_WHITESPACE = re.compile(r"\s+")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
"""NUL, which PostgreSQL text cannot hold, and lone surrogates, which no encoder writes."""
_EMAIL_LOCAL = re.compile(r"[^\s@\"(),:;<>\[\]\\.]+(?:\.[^\s@\"(),:;<>\[\]\\.]+)*")


class ImportRow(NamedTuple):
    """One valid contact and the company it belongs to.

    Rows with the same `company_key` are one prospect. A named tuple, not a
    dataclass: an import makes one per row in the process that writes (from
    the plain tuple `rows.parallel` sends), and a tuple is made in a fraction
    of the time a frozen dataclass's `__init__` takes (0.2 against 3.2 µs).
    """

    line: int
    company: str
    domain: str | None
    company_key: str
    email: str
    first_name: str | None = None
    last_name: str | None = None
    title: str | None = None
    country: str | None = None
    industry: str | None = None
    notes: str | None = None
    employees: int | None = None
    revenue: int | None = None
    warnings: tuple[str, ...] = ()
    """Bad optional values left blank, in words for the person who uploaded the file."""


@dataclass(frozen=True, slots=True)
class RowError:
    """A record that was not imported, and why, in words for the person who uploaded it."""

    line: int
    reason: str
    record: tuple[str, ...] | None = dataclasses.field(default=None, compare=False)
    """The row's cells as they were in the file (CSV only), for the rejected rows' download."""


class _Rejected(Exception):
    """Internal: the row is rejected for the reason given."""


def expected_columns() -> str:
    """The column names a prospect CSV may use, for error messages."""
    optional = ", ".join(name for name in COLUMN_ALIASES if name != "email")
    return f"an email column (required) and optionally {optional}"


def header_field(column: str) -> str | None:
    """The canonical field a column header (or JSON key) means, None when Tune ignores it."""
    key = _HEADER_KEY.sub("_", column.casefold()).strip("_")
    return FIELD_FOR_ALIAS.get(key)


def rows_from_json(items: object) -> Iterator[ImportRow | RowError]:
    """Validated rows of a JSON array of objects; `line` is the 1-based position in the array.

    Raises ValidationFailed at once when `items` is not an array.
    """
    if not isinstance(items, list):
        raise ValidationFailed(
            f"expected a JSON array of prospect objects, got {_json_type(items)}", field="rows"
        )
    return _json_rows(items)


def _json_rows(items: list[object]) -> Iterator[ImportRow | RowError]:
    for position, item in enumerate(items, start=1):
        if isinstance(item, dict):
            yield normalise_row(position, item)
        else:
            yield RowError(position, f"expected an object, got {_json_type(item)}")


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "true/false"}
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)


def normalise_row(line: int, raw: Mapping[str, object]) -> ImportRow | RowError:
    """Check and normalise one record (from CSV or JSON); never raises for bad data."""
    try:
        return _normalise(line, _canonical_values(raw))
    except _Rejected as rejected:
        return RowError(line, str(rejected))


def _canonical_values(raw: Mapping[str, object]) -> dict[str, str | int | float]:
    values: dict[str, str | int | float] = {}
    # One search over the whole record: most records hold no unstorable character.
    texts = [value for value in raw.values() if isinstance(value, str)]
    check = _UNSTORABLE.search("".join(texts)) is not None
    for key, value in raw.items():
        field = key if key in COLUMN_ALIASES else header_field(str(key))
        if field is None:
            continue
        if value is None:
            cleaned: str | int | float = ""
        elif isinstance(value, str):
            unstorable = _UNSTORABLE.search(value) if check else None
            if unstorable is not None:
                raise _Rejected(
                    f"{field} contains a character that cannot be stored "
                    f"(U+{ord(unstorable.group()):04X} at position {unstorable.start() + 1})"
                )
            cleaned = value.strip()
            if len(cleaned) <= _LONGEST_MARKER and cleaned.casefold() in EMPTY_MARKERS:
                cleaned = ""
        elif isinstance(value, int | float) and not isinstance(value, bool):
            cleaned = value
        else:
            raise _Rejected(f"{field} must be text or a number, got {_json_type(value)}")
        if values.get(field, "") == "":  # the first non-empty key of a field wins
            values[field] = cleaned
    return values


def _normalise(line: int, values: dict[str, str | int | float]) -> ImportRow:
    warnings: list[str] = []
    email = _email(_text(values, "email"))
    domain = _optional(warnings, lambda: _domain(_text(values, "domain")))
    if domain is None:
        email_domain = email.rpartition("@")[2]
        if not is_free_mail(email_domain):
            domain = normalise_domain(email_domain)
    company = _single_line(values, "company") or (domain and display_domain(domain))
    if company is None:
        raise _Rejected("company is required (or a website, or a work email address)")
    first_name = _optional(warnings, lambda: _single_line(values, "first_name"))
    last_name = _optional(warnings, lambda: _single_line(values, "last_name"))
    if first_name is None and last_name is None:
        full_name = _WHITESPACE.sub(" ", _text(values, "name"))
        first_name, last_name = split_name(full_name)
        first_name = _optional(warnings, lambda: _check_length("first_name", first_name, MAX_NAME))
        last_name = _optional(warnings, lambda: _check_length("last_name", last_name, MAX_NAME))
    country = _optional(warnings, lambda: _single_line(values, "country"))
    if country is not None and len(country) == 2 and country.isalpha():
        country = country.upper()
    notes = _text(values, "notes")[:MAX_NOTES].strip() or None
    return ImportRow(
        line=line,
        company=company,
        domain=domain,
        company_key=domain or company.casefold(),
        email=email,
        first_name=first_name,
        last_name=last_name,
        title=_optional(warnings, lambda: _single_line(values, "title")),
        country=country,
        industry=_optional(warnings, lambda: _single_line(values, "industry")),
        notes=notes,
        employees=_optional(warnings, lambda: _amount(values, "employees")),
        revenue=_optional(warnings, lambda: _amount(values, "revenue")),
        warnings=tuple(warnings),
    )


def _optional(warnings: list[str], read: Callable[[], _T | None]) -> _T | None:
    """An optional value, or None with a warning when it is bad: the contact is still imported."""
    try:
        return read()
    except _Rejected as bad:
        warnings.append(f"{bad}; left blank")
        return None


def _text(values: Mapping[str, str | int | float], field: str) -> str:
    value = values.get(field, "")
    return value if isinstance(value, str) else str(value)


def _single_line(values: Mapping[str, str | int | float], field: str) -> str | None:
    """A trimmed one-line value with whitespace collapsed, None when empty; rejects overlong."""
    text = _collapsed(_text(values, field))
    _check_length(field, text, TEXT_LIMITS[field])
    return text or None


@lru_cache(maxsize=16_384)
def _collapsed(text: str) -> str:
    """`text` trimmed with inner whitespace collapsed; cached, as companies and titles repeat."""
    return _WHITESPACE.sub(" ", text).strip()


def _check_length(field: str, value: str | None, limit: int) -> str | None:
    if value is not None and len(value) > limit:
        raise _Rejected(f"{field} is longer than {limit} characters ({len(value)})")
    return value


def shorten(value: str, limit: int = 80) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def split_name(full_name: str) -> tuple[str | None, str | None]:
    """("Ana", "de la Cruz") from "Ana de la Cruz"; "Cruz, Ana" is read as last, first."""
    if "," in full_name:
        last, _, first = full_name.partition(",")
    else:
        first, _, last = full_name.partition(" ")
    return first.strip() or None, last.strip() or None


def _email(value: str) -> str:
    if not value:
        raise _Rejected("email is required")
    email = value.lower()
    local, at, host = email.rpartition("@")
    valid = (
        at == "@"
        and len(email) <= MAX_EMAIL
        and len(local) <= 64
        and _EMAIL_LOCAL.fullmatch(local) is not None
        and ascii_host(host) is not None
    )
    if not valid:
        raise _Rejected(f"invalid email {shorten(value)!r}")
    return email


def _domain(value: str) -> str | None:
    if not value:
        return None
    domain = normalise_domain(value)
    if domain is None:
        raise _Rejected(f"invalid domain {shorten(value)!r}")
    return domain


def _amount(values: Mapping[str, str | int | float], field: str) -> int | None:
    value = values.get(field, "")
    try:
        return parse_amount(value)
    except ValueError as error:
        shown = shorten(value) if isinstance(value, str) else value
        raise _Rejected(f"invalid {field} {shown!r}: {error}") from None
