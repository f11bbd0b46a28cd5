"""An industry's ideal-customer profile: loading the shipped TOML files and validating them.

The file format is documented in docs/scoring.md. Unknown keys are rejected so
a typo never silently scores 0, and every error names the profile, the key and
the problem.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Any, NoReturn

from webapp.core.errors import ValidationFailed
from webapp.prospects.scoring.keywords import KeywordGroup, keyword_tokens
from webapp.prospects.scoring.reasons import MAX_POINTS, Reason, Tier
from webapp.prospects.scoring.seniority import Seniority

DEFAULT_SLUG = "default"


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Lowest scores of tier 1 and tier 2."""

    tier1: int
    tier2: int

    def tier(self, score: int) -> Tier:
        if score >= self.tier1:
            return 1
        if score >= self.tier2:
            return 2
        return 3


@dataclass(frozen=True, slots=True)
class Band:
    """min <= value < max (no max: open-ended) gives `reason.points`."""

    min: int
    max: int | None
    reason: Reason

    def contains(self, value: int) -> bool:
        return self.min <= value and (self.max is None or value < self.max)


@dataclass(frozen=True, slots=True)
class EmailRule:
    """Points for reaching a person rather than only shared role mailboxes."""

    personal: int
    role_only: int
    role_mailboxes: frozenset[str]


ROLE_MAILBOXES = frozenset(
    {
        "info",
        "sales",
        "contact",
        "contacts",
        "contactus",
        "hello",
        "hi",
        "support",
        "help",
        "helpdesk",
        "admin",
        "administrator",
        "office",
        "marketing",
        "team",
        "enquiries",
        "enquiry",
        "inquiries",
        "inquiry",
        "mail",
        "email",
        "general",
        "reception",
        "frontdesk",
        "reservations",
        "bookings",
        "booking",
        "events",
        "hr",
        "jobs",
        "careers",
        "recruiting",
        "billing",
        "accounts",
        "accounting",
        "finance",
        "invoices",
        "orders",
        "service",
        "customerservice",
        "press",
        "media",
        "pr",
        "news",
        "newsletter",
        "webmaster",
        "postmaster",
        "noreply",
        "no-reply",
        "donotreply",
        "privacy",
        "legal",
        "compliance",
        "security",
        "it",
        "ops",
        "operations",
    }
)


@dataclass(frozen=True, eq=False)
class Profile:
    """An industry's ideal-customer profile, parsed and validated (format: docs/scoring.md).

    Compared and hashed by identity: `load_profile` hands out one object per slug.
    """

    slug: str
    version: int
    thresholds: Thresholds
    description: str = ""
    employees: tuple[Band, ...] = ()
    revenue: tuple[Band, ...] = ()
    country_reasons: Mapping[str, Reason] = field(default_factory=lambda: MappingProxyType({}))
    other_country: int = 0
    seniority_points: Mapping[Seniority, int] = field(default_factory=lambda: MappingProxyType({}))
    keywords: tuple[KeywordGroup, ...] = ()
    email: EmailRule = EmailRule(0, 0, ROLE_MAILBOXES)
    unknown_employees: int = 0
    unknown_revenue: int = 0
    unknown_country: int = 0


@lru_cache(maxsize=64)
def load_profile(slug: str) -> Profile:
    """The shipped profile for an industry slug; the default profile for an unknown slug.

    Cached: each file is read and validated once per process.
    """
    if slug not in profile_slugs():
        return load_profile(DEFAULT_SLUG)
    text = resources.files(__package__ or "webapp").joinpath("profiles", f"{slug}.toml")
    return parse_profile(text.read_text(encoding="utf-8"), slug)


@lru_cache(maxsize=1)
def profile_slugs() -> frozenset[str]:
    """Slugs of the profiles shipped in `webapp/profiles`."""
    folder = resources.files(__package__ or "webapp").joinpath("profiles")
    return frozenset(
        entry.name.removesuffix(".toml")
        for entry in folder.iterdir()
        if entry.name.endswith(".toml") and entry.is_file()
    )


_TOP_KEYS = {
    "version",
    "description",
    "tiers",
    "employees",
    "revenue",
    "countries",
    "seniority",
    "keywords",
    "email",
    "unknown",
}
_COUNTRY_CODE = re.compile(r"[A-Z]{2}")


def parse_profile(text: str, slug: str) -> Profile:
    """Parse and validate profile TOML; ValidationFailed names the offending key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ValidationFailed(
            f"profile {slug}: not valid TOML ({error})", field="profile"
        ) from None
    _only_keys(data, _TOP_KEYS, "", slug)
    if "version" not in data:
        _fail(slug, "version", "is required")
    version = _integer(data["version"], "version", slug, minimum=1, maximum=10**6)
    tiers = _table(data.get("tiers"), "tiers", slug, required=True)
    _only_keys(tiers, {"tier1", "tier2"}, "tiers", slug)
    for key in ("tier1", "tier2"):
        if key not in tiers:
            _fail(slug, f"tiers.{key}", "is required")
    tier1 = _integer(tiers["tier1"], "tiers.tier1", slug, minimum=1, maximum=MAX_POINTS)
    tier2 = _integer(tiers["tier2"], "tiers.tier2", slug, minimum=1, maximum=MAX_POINTS)
    if tier2 >= tier1:
        _fail(slug, "tiers.tier2", f"must be below tiers.tier1 ({tier1})")
    description = data.get("description", "")
    if not isinstance(description, str):
        _fail(slug, "description", "must be a string")
    country_reasons, other_country = _countries(data.get("countries"), slug)
    email, unknown = _email(data.get("email"), slug), _unknown(data.get("unknown"), slug)
    return Profile(
        slug=slug,
        version=version,
        thresholds=Thresholds(tier1, tier2),
        description=description,
        employees=_bands(data.get("employees"), "employees", slug),
        revenue=_bands(data.get("revenue"), "revenue", slug),
        country_reasons=MappingProxyType(country_reasons),
        other_country=other_country,
        seniority_points=MappingProxyType(_seniority(data.get("seniority"), slug)),
        keywords=_keywords(data.get("keywords"), slug),
        email=email,
        unknown_employees=unknown["employees"],
        unknown_revenue=unknown["revenue"],
        unknown_country=unknown["country"],
    )


def _fail(slug: str, key: str, problem: str) -> NoReturn:
    raise ValidationFailed(f"profile {slug}: {key} {problem}", field=key)


def _only_keys(table: Mapping[str, Any], allowed: set[str], where: str, slug: str) -> None:
    for key in table:
        if key not in allowed:
            path = f"{where}.{key}" if where else key
            _fail(slug, path, f"is not a known key (expected one of {', '.join(sorted(allowed))})")


def _table(value: Any, key: str, slug: str, *, required: bool = False) -> dict[str, Any]:
    if value is None:
        if required:
            _fail(slug, key, "is required")
        return {}
    if not isinstance(value, dict):
        _fail(slug, key, "must be a table")
    return value


def _integer(value: Any, key: str, slug: str, *, minimum: int, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(slug, key, f"must be a whole number, got {value!r}")
    if not minimum <= value <= maximum:
        _fail(slug, key, f"must be between {minimum} and {maximum}, got {value}")
    return int(value)


def _points(value: Any, key: str, slug: str) -> int:
    return _integer(value, key, slug, minimum=-MAX_POINTS, maximum=MAX_POINTS)


def _text(value: Any, key: str, slug: str) -> str:
    if not isinstance(value, str) or not value.strip():
        _fail(slug, key, "must be a non-empty string")
    return str(value).strip()


def _bands(value: Any, key: str, slug: str) -> tuple[Band, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        _fail(slug, key, "must be an array of tables ([[" + key + "]])")
    bands: list[Band] = []
    for index, raw in enumerate(value):
        where = f"{key}[{index}]"
        entry = _table(raw, where, slug)
        _only_keys(entry, {"min", "max", "points", "label"}, where, slug)
        for required in ("min", "points"):
            if required not in entry:
                _fail(slug, f"{where}.{required}", "is required")
        low = _integer(entry["min"], f"{where}.min", slug, minimum=0, maximum=10**15)
        high = None
        if "max" in entry:
            high = _integer(entry["max"], f"{where}.max", slug, minimum=low + 1, maximum=10**15)
        points = _points(entry["points"], f"{where}.points", slug)
        label = _text(entry["label"], f"{where}.label", slug) if "label" in entry else None
        if bands:
            previous = bands[-1]
            if previous.max is None or low < previous.max:
                _fail(slug, f"{where}.min", f"overlaps {key}[{index - 1}]; list bands in order")
        band_label = label or _range_label(low, high, money=key == "revenue")
        bands.append(Band(low, high, Reason(points, f"{key} {band_label}")))
    return tuple(bands)


def _range_label(low: int, high: int | None, *, money: bool) -> str:
    sign = "$" if money else ""
    if high is None:
        return f"{sign}{_compact(low)}+"
    return f"{sign}{_compact(low)}–{sign}{_compact(high)}"


def _compact(number: int) -> str:
    for size, suffix in ((10**9, "B"), (10**6, "M"), (10**3, "k")):
        if number >= size and number % (size // 10) == 0:
            return f"{number / size:g}{suffix}"
    return f"{number:,}"


def _countries(value: Any, slug: str) -> tuple[dict[str, Reason], int]:
    table = _table(value, "countries", slug)
    reasons: dict[str, Reason] = {}
    other = 0
    regions: dict[str, Any] = {}
    for key, points in table.items():
        if key == "other":
            other = _points(points, "countries.other", slug)
        elif key == "regions":
            regions = _table(points, "countries.regions", slug)
        elif _COUNTRY_CODE.fullmatch(key):
            reasons[key] = Reason(_points(points, f"countries.{key}", slug), f"country {key}")
        else:
            _fail(slug, f"countries.{key}", "is not an ISO alpha-2 code, 'other' or 'regions'")
    region_of: dict[str, str] = {}
    for name, raw in regions.items():
        where = f"countries.regions.{name}"
        region = _table(raw, where, slug)
        _only_keys(region, {"points", "codes", "label"}, where, slug)
        for required in ("points", "codes"):
            if required not in region:
                _fail(slug, f"{where}.{required}", "is required")
        points = _points(region["points"], f"{where}.points", slug)
        label = _text(region["label"], f"{where}.label", slug) if "label" in region else name
        codes = region["codes"]
        if not isinstance(codes, list) or not codes:
            _fail(slug, f"{where}.codes", "must be a non-empty list of ISO alpha-2 codes")
        for code in codes:
            if not isinstance(code, str) or not _COUNTRY_CODE.fullmatch(code):
                _fail(slug, f"{where}.codes", f"has {code!r}, not an ISO alpha-2 code")
            if code in region_of:
                _fail(slug, f"{where}.codes", f"repeats {code}, already in {region_of[code]}")
            region_of[code] = name
            if code not in reasons:
                reasons[code] = Reason(points, f"country {code} ({label})")
    return reasons, other


def _seniority(value: Any, slug: str) -> dict[Seniority, int]:
    table = _table(value, "seniority", slug)
    _only_keys(table, {level.value for level in Seniority}, "seniority", slug)
    return {
        Seniority(key): _points(points, f"seniority.{key}", slug) for key, points in table.items()
    }


def _keywords(value: Any, slug: str) -> tuple[KeywordGroup, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        _fail(slug, "keywords", "must be an array of tables ([[keywords]])")
    groups: list[KeywordGroup] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(value):
        where = f"keywords[{index}]"
        entry = _table(raw, where, slug)
        _only_keys(entry, {"label", "words", "points"}, where, slug)
        for required in ("label", "words", "points"):
            if required not in entry:
                _fail(slug, f"{where}.{required}", "is required")
        words = entry["words"]
        if not isinstance(words, list) or not words:
            _fail(slug, f"{where}.words", "must be a non-empty list of strings")
        cleaned: list[str] = []
        for word in words:
            if not isinstance(word, str) or not keyword_tokens(word):
                _fail(slug, f"{where}.words", f"has {word!r}, not a word")
            normal = " ".join(keyword_tokens(word))
            if normal in seen:
                _fail(
                    slug, f"{where}.words", f"repeats {word!r}, already in keywords[{seen[normal]}]"
                )
            seen[normal] = index
            cleaned.append(" ".join(word.lower().split()))
        groups.append(
            KeywordGroup(
                label=_text(entry["label"], f"{where}.label", slug),
                words=tuple(cleaned),
                points=_points(entry["points"], f"{where}.points", slug),
            )
        )
    return tuple(groups)


def _email(value: Any, slug: str) -> EmailRule:
    table = _table(value, "email", slug)
    _only_keys(table, {"personal", "role_only", "role_mailboxes"}, "email", slug)
    roles = ROLE_MAILBOXES
    if "role_mailboxes" in table:
        listed = table["role_mailboxes"]
        if not isinstance(listed, list) or not all(
            isinstance(name, str) and name.strip() for name in listed
        ):
            _fail(slug, "email.role_mailboxes", "must be a list of mailbox names like 'info'")
        roles = frozenset(name.strip().lower() for name in listed)
    return EmailRule(
        personal=_points(table.get("personal", 0), "email.personal", slug),
        role_only=_points(table.get("role_only", 0), "email.role_only", slug),
        role_mailboxes=roles,
    )


def _unknown(value: Any, slug: str) -> dict[str, int]:
    table = _table(value, "unknown", slug)
    keys = ("employees", "revenue", "country")
    _only_keys(table, set(keys), "unknown", slug)
    return {key: _points(table.get(key, 0), f"unknown.{key}", slug) for key in keys}
