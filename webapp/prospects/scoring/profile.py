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
from typing import Annotated, NoReturn

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import ErrorDetails

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
    """Slugs of the profiles shipped in `webapp/prospects/scoring/profiles`."""
    folder = resources.files(__package__ or "webapp").joinpath("profiles")
    return frozenset(
        entry.name.removesuffix(".toml")
        for entry in folder.iterdir()
        if entry.name.endswith(".toml") and entry.is_file()
    )


MAX_AMOUNT = 10**15
ISO_ALPHA2 = re.compile(r"[A-Z]{2}")

Points = Annotated[int, Field(ge=-MAX_POINTS, le=MAX_POINTS)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class _Table(BaseModel):
    """A TOML table: exact types (no "1" for 1, no true for 1), unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", strict=True)


class _Tiers(_Table):
    tier1: Annotated[int, Field(ge=1, le=MAX_POINTS)]
    tier2: Annotated[int, Field(ge=1, le=MAX_POINTS)]

    @field_validator("tier2")
    @classmethod
    def _below_tier1(cls, tier2: int, info: ValidationInfo) -> int:
        tier1 = info.data.get("tier1")
        if tier1 is not None and tier2 >= tier1:
            raise ValueError(f"must be below tiers.tier1 ({tier1})")
        return tier2


class _Band(_Table):
    min: Annotated[int, Field(ge=0, le=MAX_AMOUNT)]
    max: Annotated[int, Field(le=MAX_AMOUNT)] | None = None
    points: Points
    label: Text | None = None

    @field_validator("max")
    @classmethod
    def _above_min(cls, high: int | None, info: ValidationInfo) -> int | None:
        low = info.data.get("min")
        if high is not None and low is not None and high <= low:
            raise ValueError(f"must be above min ({low}), got {high}")
        return high


class _Region(_Table):
    points: Points
    codes: Annotated[list[str], Field(min_length=1)]
    label: Text | None = None

    @field_validator("codes")
    @classmethod
    def _are_codes(cls, codes: list[str]) -> list[str]:
        for code in codes:
            if not ISO_ALPHA2.fullmatch(code):
                raise ValueError(f"has {code!r}, not an ISO alpha-2 code")
        return codes


class _Countries(_Table):
    """ISO alpha-2 codes (the extra keys) with their points, `other` and `regions`."""

    model_config = ConfigDict(extra="allow", strict=True)
    __pydantic_extra__: dict[str, Points]

    other: Points = 0
    regions: dict[str, _Region] = {}


class _Seniority(_Table):
    c_level: Points = 0
    vp: Points = 0
    director: Points = 0
    manager: Points = 0
    other: Points = 0


class _Keywords(_Table):
    label: Text
    words: Annotated[list[str], Field(min_length=1)]
    points: Points

    @field_validator("words")
    @classmethod
    def _are_words(cls, words: list[str]) -> list[str]:
        for word in words:
            if not keyword_tokens(word):
                raise ValueError(f"has {word!r}, not a word")
        return words


class _Email(_Table):
    personal: Points = 0
    role_only: Points = 0
    role_mailboxes: list[Text] | None = None


class _Unknown(_Table):
    employees: Points = 0
    revenue: Points = 0
    country: Points = 0


class _ProfileFile(_Table):
    version: Annotated[int, Field(ge=1, le=10**6)]
    description: str = ""
    tiers: _Tiers
    employees: list[_Band] = []
    revenue: list[_Band] = []
    countries: _Countries = Field(default_factory=lambda: _Countries.model_validate({}))
    seniority: _Seniority = Field(default_factory=_Seniority)
    keywords: list[_Keywords] = []
    email: _Email = Field(default_factory=_Email)
    unknown: _Unknown = Field(default_factory=_Unknown)


def parse_profile(text: str, slug: str) -> Profile:
    """Parse and validate profile TOML; ValidationFailed names the profile, key and problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ValidationFailed(
            f"profile {slug}: not valid TOML ({error})", field="profile"
        ) from None
    try:
        spec = _ProfileFile.model_validate(data)
    except PydanticValidationError as error:
        first = error.errors()[0]
        _fail(slug, _key(first["loc"]), _problem(first))
    return Profile(
        slug=slug,
        version=spec.version,
        thresholds=Thresholds(spec.tiers.tier1, spec.tiers.tier2),
        description=spec.description,
        employees=_bands(spec.employees, "employees", slug),
        revenue=_bands(spec.revenue, "revenue", slug),
        country_reasons=MappingProxyType(_countries(spec.countries, slug)),
        other_country=spec.countries.other,
        seniority_points=MappingProxyType(
            {level: getattr(spec.seniority, level.value) for level in Seniority}
        ),
        keywords=_keywords(spec.keywords, slug),
        email=EmailRule(
            personal=spec.email.personal,
            role_only=spec.email.role_only,
            role_mailboxes=ROLE_MAILBOXES
            if spec.email.role_mailboxes is None
            else frozenset(name.lower() for name in spec.email.role_mailboxes),
        ),
        unknown_employees=spec.unknown.employees,
        unknown_revenue=spec.unknown.revenue,
        unknown_country=spec.unknown.country,
    )


def _fail(slug: str, key: str, problem: str) -> NoReturn:
    raise ValidationFailed(f"profile {slug}: {key} {problem}", field=key)


def _key(loc: tuple[int | str, ...]) -> str:
    """("employees", 0, "min") → "employees[0].min", the key as the TOML file spells it."""
    key = ""
    for part in loc:
        key += f"[{part}]" if isinstance(part, int) else f".{part}" if key else str(part)
    return key


def _problem(error: ErrorDetails) -> str:
    kind, given = error["type"], error.get("input")
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a known key"
    if kind in {"model_type", "dict_type"}:
        return "must be a table"
    if kind == "list_type":
        return "must be an array"
    if kind == "string_type":
        return f"must be a string, got {given!r}"
    if kind in {"string_too_short", "too_short"}:
        return "must not be empty"
    if kind in {"int_type", "int_from_float"}:
        return f"must be a whole number, got {given!r}"
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    return f"{str(error['msg']).removeprefix('Input ')}, got {given!r}"


def _bands(specs: list[_Band], key: str, slug: str) -> tuple[Band, ...]:
    bands: list[Band] = []
    for index, spec in enumerate(specs):
        if bands and (bands[-1].max is None or spec.min < bands[-1].max):
            _fail(slug, f"{key}[{index}].min", f"overlaps {key}[{index - 1}]; list bands in order")
        label = spec.label or _range_label(spec.min, spec.max, money=key == "revenue")
        bands.append(Band(spec.min, spec.max, Reason(spec.points, f"{key} {label}")))
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


def _countries(spec: _Countries, slug: str) -> dict[str, Reason]:
    reasons: dict[str, Reason] = {}
    for code, points in (spec.__pydantic_extra__ or {}).items():
        if not ISO_ALPHA2.fullmatch(code):
            _fail(slug, f"countries.{code}", "is not an ISO alpha-2 code, 'other' or 'regions'")
        reasons[code] = Reason(points, f"country {code}")
    region_of: dict[str, str] = {}
    for name, region in spec.regions.items():
        for code in region.codes:
            if code in region_of:
                where = f"countries.regions.{name}.codes"
                _fail(slug, where, f"repeats {code}, already in {region_of[code]}")
            region_of[code] = name
            if code not in reasons:
                reasons[code] = Reason(region.points, f"country {code} ({region.label or name})")
    return reasons


def _keywords(specs: list[_Keywords], slug: str) -> tuple[KeywordGroup, ...]:
    seen: dict[str, int] = {}
    groups: list[KeywordGroup] = []
    for index, spec in enumerate(specs):
        for word in spec.words:
            normal = " ".join(keyword_tokens(word))
            if normal in seen:
                where = f"keywords[{index}].words"
                _fail(slug, where, f"repeats {word!r}, already in keywords[{seen[normal]}]")
            seen[normal] = index
        words = tuple(" ".join(word.lower().split()) for word in spec.words)
        groups.append(KeywordGroup(label=spec.label, words=words, points=spec.points))
    return tuple(groups)
