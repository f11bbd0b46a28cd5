"""Turning an uploaded prospect file into validated import rows.

Two doors lead here: CSV bytes (`rows_from_csv`) and a JSON array of objects
(`rows_from_json`). Both end in `normalise_row`, so a row means the same
whichever way it came in. Each record becomes an `ImportRow` or a `RowError`
naming its line; only a file that is not a readable prospect CSV at all raises
(`CsvFormatError`), and it does so when `rows_from_csv` is called, before any
row is read (except a CSV error found mid-file, which raises while iterating:
consume every row before committing).

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
  line breaks). A value over its length cap rejects the row, except notes,
  which are cut to `MAX_NOTES` characters.
- Numbers are read leniently (`parse_amount`): "1,200", "5k", "1.5M", "2bn",
  "$3.2m", "10,001+". A range such as "10-50" or "$1M-5M" counts as its
  midpoint, rounded down (30; 3,000,000): the best single guess, and it lands
  inside a vendor's size bucket like "51-200". A reversed range is an error.
- Domains are stored lowercase in ASCII (IDNA/punycode) form, without scheme,
  "www.", port, path, query or trailing dot. Without a domain, a row takes its
  email's domain unless that is a free-mail provider (`is_free_mail`).
- Person names: when first and last name are both empty, a "name" column is
  split at the first space ("Ana de la Cruz" → "Ana" / "de la Cruz"), or at a
  comma as "Last, First".
"""

from __future__ import annotations

import codecs
import csv
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from typing import TYPE_CHECKING

from webapp.core.errors import UnsupportedMediaType, ValidationFailed

if TYPE_CHECKING:
    from _csv import Reader

MAX_COMPANY = 200
MAX_NAME = 100
MAX_TITLE = 200
MAX_COUNTRY = 100
MAX_INDUSTRY = 100
MAX_NOTES = 2000
MAX_EMAIL = 254
MAX_DOMAIN = 253
MAX_AMOUNT = 10**15
AMOUNT_HINT = "expected a number like 1200, 5k, 1.5M or 10-50"

DELIMITERS = (",", ";", "\t", "|")
HEADER_SAMPLE_CHARS = 65_536
SNIFF_SAMPLE_CHARS = 2_048

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
    "industry": ("industry", "sector", "vertical"),
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

FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "aol.com",
        "msn.com",
        "proton.me",
        "pm.me",
        "protonmail.com",
        "protonmail.ch",
        "mail.com",
        "email.com",
        "web.de",
        "t-online.de",
        "freenet.de",
        "mail.ru",
        "inbox.ru",
        "bk.ru",
        "list.ru",
        "qq.com",
        "163.com",
        "126.com",
        "sina.com",
        "naver.com",
        "daum.net",
        "rediffmail.com",
        "libero.it",
        "virgilio.it",
        "laposte.net",
        "orange.fr",
        "wanadoo.fr",
        "free.fr",
        "seznam.cz",
        "wp.pl",
        "o2.pl",
        "interia.pl",
        "tutanota.com",
        "tuta.io",
        "zohomail.com",
        "comcast.net",
        "att.net",
        "verizon.net",
        "btinternet.com",
        "bigpond.com",
        "shaw.ca",
        "rogers.com",
        "sympatico.ca",
        "bol.com.br",
        "uol.com.br",
        "terra.com.br",
    }
)
# Providers with a domain per country (yahoo.co.uk, gmx.de, outlook.fr, …).
FREE_MAIL_BRANDS = frozenset(
    {"yahoo", "ymail", "rocketmail", "hotmail", "outlook", "live", "gmx", "yandex", "aol"}
)

_HEADER_KEY = re.compile(r"[^0-9a-z]+")
_WHITESPACE = re.compile(r"\s+")
_LINE = re.compile(r"[^\r\n]*(?:\r\n?|\n)|[^\r\n]+")
_NON_ASCII_BYTE = re.compile(rb"[\x80-\xff]")
_BINARY_CHARS = re.compile(r"[\x00-\x08\x0e-\x19\x1b-\x1f\x7f]")
_SCHEME = re.compile(r"^(?:[a-z][a-z0-9+.\-]*:)?//|^mailto:")
_HOST_END = re.compile(r"[/?#\\]")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_TOP_LABEL = re.compile(r"[a-z]{2,63}|xn--[a-z0-9-]{1,59}")
_EMAIL_LOCAL = re.compile(r"[^\s@\"(),:;<>\[\]\\.]+(?:\.[^\s@\"(),:;<>\[\]\\.]+)*")

_MULTIPLIERS = {
    "k": 10**3,
    "thousand": 10**3,
    "m": 10**6,
    "mm": 10**6,
    "mn": 10**6,
    "mio": 10**6,
    "million": 10**6,
    "b": 10**9,
    "bn": 10**9,
    "billion": 10**9,
    "t": 10**12,
    "tn": 10**12,
    "trillion": 10**12,
}
_CURRENCY = re.compile(
    r"[$€£¥₹]|\b(?:usd|us|eur|gbp|chf|cad|aud|jpy|inr|sek|nok|dkk)\b|\b(?:employees|people|staff)\b"
)
_AMOUNT = (
    r"(\d{1,3}(?:[, \u00a0\u202f]\d{3})+(?:\.\d+)?|\d+(?:\.\d+|,\d{1,2})?|\.\d+)"
    r"(?:e([+-]?\d{1,2}))?"
    r"\s*(k|thousand|mm|mn|mio|million|m|bn|billion|b|tn|trillion|t)?"
)
_AMOUNT_OR_RANGE = re.compile(
    rf"{_AMOUNT}(?:\s*(?:-|–|—|to)\s*{_AMOUNT})?\s*\+?",
    re.IGNORECASE,
)


class CsvFormatError(UnsupportedMediaType):
    """The upload is not a prospect CSV Tune can read (binary, empty, no usable header)."""

    code = "not_csv"


@dataclass(frozen=True, slots=True)
class ImportRow:
    """One valid contact and the company it belongs to.

    Rows with the same `company_key` are one prospect.
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


@dataclass(frozen=True, slots=True)
class RowError:
    """A record that was not imported, and why, in words for the person who uploaded it."""

    line: int
    reason: str


class _Rejected(Exception):
    """Internal: the row is rejected for the reason given."""


def expected_columns() -> str:
    """The column names a prospect CSV may use, for error messages."""
    optional = ", ".join(name for name in COLUMN_ALIASES if name != "email")
    return f"an email column (required) and optionally {optional}"


def decode_csv(data: bytes) -> str:
    """Decode uploaded bytes: UTF-8 (with or without BOM), UTF-16/32 with BOM, else cp1252.

    Raises CsvFormatError for binary data: NUL or other control characters that
    no text export contains.
    """
    if not data or data.isspace():
        raise CsvFormatError(f"the file is empty; expected a CSV with {expected_columns()}")
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        text = _decode_or_reject(data, "utf-32")
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = _decode_or_reject(data, "utf-16")
    elif data.startswith(codecs.BOM_UTF8):
        text = _decode_or_reject(data, "utf-8-sig")
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as error:
            if _NON_ASCII_BYTE.search(data, 0, error.start):
                # Valid multi-byte UTF-8 before this point: reading it all as
                # cp1252 would garble every accented name in the file.
                raise CsvFormatError(
                    f"the file is UTF-8 up to byte {error.start} but not after it; "
                    "save it again as UTF-8"
                ) from None
            text = _decode_single_byte(data)
    if "\x00" in text or _looks_binary(text[:65_536]):
        raise CsvFormatError(
            f"the file looks like binary data, not text; expected a CSV with {expected_columns()}"
        )
    return text


def _decode_or_reject(data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        raise CsvFormatError(
            f"the file starts with a {encoding} mark but is not {encoding}"
        ) from None


def _decode_single_byte(data: bytes) -> str:
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        # The five bytes cp1252 leaves undefined; Latin-1 maps every byte.
        return data.decode("latin-1")


def _looks_binary(sample: str) -> bool:
    return len(_BINARY_CHARS.findall(sample)) * 100 > len(sample)


def header_field(column: str) -> str | None:
    """The canonical field a column header (or JSON key) means, None when Tune ignores it."""
    key = _HEADER_KEY.sub("_", column.casefold()).strip("_")
    return FIELD_FOR_ALIAS.get(key)


def iter_csv_records(text: str) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line where the record starts, {canonical field: trimmed value}) per record.

    The header is read and checked at once (CsvFormatError when no column is
    recognised or there is no email column); the records stream from the text
    line by line.
    """
    delimiter = _detect_delimiter(text)
    reader = csv.reader(_lines(text), delimiter=delimiter, skipinitialspace=True, strict=False)
    header = _first_record(reader)
    if header is None:
        raise CsvFormatError(f"the file has no header row; expected {expected_columns()}")
    columns = [(index, header_field(name)) for index, name in enumerate(header)]
    fields = [(index, field) for index, field in columns if field is not None]
    if not fields:
        raise CsvFormatError(
            f"no recognised column in the header {_shorten(', '.join(header))!r}; "
            f"expected {expected_columns()}"
        )
    if not any(field == "email" for _, field in fields):
        raise CsvFormatError(f"the header has no email column; expected {expected_columns()}")
    return _records(reader, fields)


def _records(reader: Reader, fields: list[tuple[int, str]]) -> Iterator[tuple[int, dict[str, str]]]:
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise CsvFormatError(f"line {start}: unreadable CSV ({error})") from None
        if not any(value.strip() for value in row):
            continue
        record: dict[str, str] = {}
        for index, field in fields:
            if not record.get(field):  # the first non-empty column of a field wins
                record[field] = row[index].strip() if index < len(row) else ""
        yield start, record


def _first_record(reader: Reader) -> list[str] | None:
    try:
        for row in reader:
            if any(value.strip() for value in row):
                return row
    except csv.Error as error:
        raise CsvFormatError(f"the header is not readable CSV ({error})") from None
    return None


def _lines(text: str) -> Iterator[str]:
    """Lines with their endings, lazily: the csv module needs them that way for quoted newlines."""
    for match in _LINE.finditer(text):
        yield match.group()


def _detect_delimiter(text: str) -> str:
    """The delimiter that splits the header into the most recognised columns.

    csv.Sniffer alone is wrong on one-column files and is fooled by quotes in
    the data, so it only breaks a tie between candidates (then comma wins). It
    sees a small sample: its regexes take quadratic time on hostile input.
    """
    header_sample = text[:HEADER_SAMPLE_CHARS]

    def recognised(delimiter: str) -> int:
        reader = csv.reader(_lines(header_sample), delimiter=delimiter, skipinitialspace=True)
        try:
            header = _first_record(reader) or []
        except CsvFormatError:
            header = []
        return sum(1 for name in header if header_field(name) is not None)

    counts = {delimiter: recognised(delimiter) for delimiter in DELIMITERS}
    best = max(counts.values())
    tied = [delimiter for delimiter in DELIMITERS if counts[delimiter] == best]
    if len(tied) == 1:
        return tied[0]
    sample = text[:SNIFF_SAMPLE_CHARS]
    if len(text) > SNIFF_SAMPLE_CHARS and "\n" in sample:
        sample = sample[: sample.rindex("\n") + 1]
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters="".join(tied)).delimiter
    except csv.Error:
        sniffed = ","
    return sniffed if sniffed in tied else tied[0]


def rows_from_csv(data: bytes) -> Iterator[ImportRow | RowError]:
    """Validated rows of an uploaded CSV; raises CsvFormatError at once if it is not one."""
    records = iter_csv_records(decode_csv(data))
    return (normalise_row(line, record) for line, record in records)


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
    for key, value in raw.items():
        field = key if key in COLUMN_ALIASES else header_field(str(key))
        if field is None:
            continue
        if value is None:
            cleaned: str | int | float = ""
        elif isinstance(value, str):
            cleaned = value.strip()
            if cleaned.casefold() in EMPTY_MARKERS:
                cleaned = ""
        elif isinstance(value, int | float) and not isinstance(value, bool):
            cleaned = value
        else:
            raise _Rejected(f"{field} must be text or a number, got {_json_type(value)}")
        if values.get(field, "") == "":  # the first non-empty key of a field wins
            values[field] = cleaned
    return values


def _normalise(line: int, values: dict[str, str | int | float]) -> ImportRow:
    email = _email(_text(values, "email"))
    domain = _domain(_text(values, "domain"))
    if domain is None:
        email_domain = email.rpartition("@")[2]
        if not is_free_mail(email_domain):
            domain = normalise_domain(email_domain)
    company = _single_line(values, "company") or (domain and display_domain(domain))
    if company is None:
        raise _Rejected("company is required (or a website, or a work email address)")
    first_name = _single_line(values, "first_name")
    last_name = _single_line(values, "last_name")
    if first_name is None and last_name is None:
        full_name = _WHITESPACE.sub(" ", _text(values, "name"))
        first_name, last_name = split_name(full_name)
        _check_length("first_name", first_name, MAX_NAME)
        _check_length("last_name", last_name, MAX_NAME)
    country = _single_line(values, "country")
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
        title=_single_line(values, "title"),
        country=country,
        industry=_single_line(values, "industry"),
        notes=notes,
        employees=_amount(values, "employees"),
        revenue=_amount(values, "revenue"),
    )


def _text(values: Mapping[str, str | int | float], field: str) -> str:
    value = values.get(field, "")
    return value if isinstance(value, str) else str(value)


def _single_line(values: Mapping[str, str | int | float], field: str) -> str | None:
    """A trimmed one-line value with whitespace collapsed, None when empty; rejects overlong."""
    text = _WHITESPACE.sub(" ", _text(values, field)).strip()
    _check_length(field, text, TEXT_LIMITS[field])
    return text or None


def _check_length(field: str, value: str | None, limit: int) -> None:
    if value is not None and len(value) > limit:
        raise _Rejected(f"{field} is longer than {limit} characters ({len(value)})")


def _shorten(value: str, limit: int = 80) -> str:
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
        and _ascii_host(host) is not None
    )
    if not valid:
        raise _Rejected(f"invalid email {_shorten(value)!r}")
    return email


def _domain(value: str) -> str | None:
    if not value:
        return None
    domain = normalise_domain(value)
    if domain is None:
        raise _Rejected(f"invalid domain {_shorten(value)!r}")
    return domain


def normalise_domain(value: str) -> str | None:
    """ "acme.com" from "https://www.Acme.com:443/about?x=1"; None when it is not a domain name.

    Returns the lowercase ASCII form (punycode for international names), so the
    same company typed two ways gets one key.
    """
    host = _SCHEME.sub("", value.strip().lower(), count=1)
    host = _HOST_END.split(host, maxsplit=1)[0].rpartition("@")[2]
    host = host.partition(":")[0].rstrip(".")
    if host.startswith("www.") and host.count(".") >= 2:
        host = host[4:]
    return _ascii_host(host)


def _ascii_host(host: str) -> str | None:
    """The lowercase ASCII form of a bare host name, None unless it is a plausible domain."""
    if not host or len(host) > MAX_DOMAIN:
        return None
    try:
        host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return None
    labels = host.split(".")
    if len(labels) < 2 or len(host) > MAX_DOMAIN:
        return None
    if not all(_LABEL.fullmatch(label) for label in labels):
        return None
    if not _TOP_LABEL.fullmatch(labels[-1]):
        return None
    return host


def display_domain(domain: str) -> str:
    """The readable (Unicode) form of a normalised domain: "münchen.de" for "xn--mnchen-3ya.de"."""
    try:
        return domain.encode("ascii").decode("idna")
    except UnicodeError:
        return domain


def is_free_mail(domain: str) -> bool:
    """True for consumer mailbox providers, whose domain says nothing about the employer."""
    domain = domain.lower().rstrip(".")
    if domain in FREE_MAIL_DOMAINS:
        return True
    brand, _, suffix = domain.partition(".")
    if brand not in FREE_MAIL_BRANDS or not suffix:
        return False
    # brand.tld or brand.co.uk / brand.com.au, not brand.example-company.com
    parts = suffix.split(".")
    return len(parts) == 1 or (len(parts) == 2 and parts[0] in {"co", "com", "ne", "or"})


def _amount(values: Mapping[str, str | int | float], field: str) -> int | None:
    value = values.get(field, "")
    try:
        return parse_amount(value)
    except ValueError as error:
        shown = _shorten(value) if isinstance(value, str) else value
        raise _Rejected(f"invalid {field} {shown!r}: {error}") from None


def parse_amount(value: str | int | float) -> int | None:
    """A whole non-negative number from a human-written amount; None when empty.

    Accepts thousands separators ("1,200", "1 200"), a decimal comma ("1,5M"),
    suffixes (k, M/mm/mn, B/bn, T, and the words), currency signs and codes,
    a trailing "+" ("10,001+") and ranges ("10-50", "$1M-5M": the midpoint,
    rounded down). Raises ValueError saying what was expected.
    """
    if isinstance(value, bool):
        raise ValueError("expected a number")
    if isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("expected a finite number")
        number = Decimal(repr(value))
    else:
        if not value.strip():
            return None
        text = _CURRENCY.sub(" ", value.strip().lower()).strip()
        if text.startswith("-"):
            raise ValueError("must not be negative")
        match = _AMOUNT_OR_RANGE.fullmatch(text)
        if match is None:
            raise ValueError(AMOUNT_HINT)
        low_digits, low_exponent, low_suffix, high_digits, high_exponent, high_suffix = (
            match.groups()
        )
        if high_digits is None:
            number = _decimal(low_digits, low_exponent, low_suffix)
        else:
            # "1-5M": a suffix on the upper end only applies to both.
            low = _decimal(low_digits, low_exponent, low_suffix or high_suffix)
            high = _decimal(high_digits, high_exponent, high_suffix)
            if low > high:
                raise ValueError("the range is reversed")
            number = (low + high) / 2
    if number < 0:
        raise ValueError("must not be negative")
    whole = int(number.to_integral_value(rounding=ROUND_FLOOR))
    if whole > MAX_AMOUNT:
        raise ValueError("too large")
    return whole


def _decimal(digits: str, exponent: str | None, suffix: str | None) -> Decimal:
    if "," in digits and not re.search(r",\d{3}\b", digits):
        digits = digits.replace(",", ".")
    digits = re.sub(r"[, \u00a0\u202f]", "", digits)
    try:
        number = Decimal(digits)
    except InvalidOperation:
        raise ValueError(AMOUNT_HINT) from None
    if exponent is not None:
        number = number.scaleb(int(exponent))
    if suffix:
        number *= _MULTIPLIERS[suffix.lower()]
    return number
