"""Transparent prospect scoring against an industry's ideal-customer profile.

Scoring adds up the points of each criterion, clamps the sum to 0–100 and
picks the tier from the profile's thresholds. Every criterion that gives
points (or takes them) adds a `Reason`, so a salesperson can see why a
prospect is tier 1. docs/scoring.md explains the criteria and the profile
format; `scoring.profile` loads and validates the profiles.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from webapp.prospects.scoring.countries import country_code
from webapp.prospects.scoring.keywords import KeywordMatcher
from webapp.prospects.scoring.profile import Band, Profile, Thresholds
from webapp.prospects.scoring.reasons import MAX_POINTS, Reason, Score
from webapp.prospects.scoring.seniority import (
    SENIORITY_LABELS,
    SENIORITY_RANK,
    seniority_rank,
)


@dataclass(frozen=True, slots=True)
class ProspectFacts:
    """What Tune knows about one prospect (a company and its contacts)."""

    company: str
    domain: str | None = None
    employees: int | None = None
    revenue: int | None = None
    country: str | None = None
    industry: str | None = None
    notes: str | None = None
    contact_titles: tuple[str | None, ...] = ()
    contact_emails: tuple[str, ...] = ()


def _nonzero(points: int, label: str) -> Reason | None:
    return Reason(points, label) if points else None


@dataclass(frozen=True, slots=True)
class CompiledProfile:
    """A profile's criteria turned into ready-made reasons and look-up tables."""

    employee_bands: tuple[Band, ...]
    employee_starts: tuple[int, ...]
    revenue_bands: tuple[Band, ...]
    revenue_starts: tuple[int, ...]
    countries: Mapping[str, Reason]
    other_country: int
    seniority_by_rank: tuple[Reason | None, ...]
    keywords: KeywordMatcher | None
    role_mailbox: re.Pattern[str]
    personal_email: Reason | None
    role_only: Reason | None
    unknown_employees: Reason | None
    unknown_revenue: Reason | None
    unknown_country: Reason | None
    thresholds: Thresholds

    @classmethod
    def build(cls, profile: Profile) -> CompiledProfile:
        roles = sorted(profile.email.role_mailboxes, key=len, reverse=True)
        by_rank = sorted(SENIORITY_RANK.items(), key=lambda item: item[1])
        return cls(
            employee_bands=profile.employees,
            employee_starts=tuple(band.min for band in profile.employees),
            revenue_bands=profile.revenue,
            revenue_starts=tuple(band.min for band in profile.revenue),
            countries=profile.country_reasons,
            other_country=profile.other_country,
            seniority_by_rank=tuple(
                _nonzero(profile.seniority_points.get(level, 0), SENIORITY_LABELS[level])
                for level, _ in by_rank
            ),
            keywords=KeywordMatcher.build(profile.keywords) if profile.keywords else None,
            # The local part is a role, alone or first ("sales@", "sales.uk@").
            role_mailbox=re.compile(
                rf"(?:{'|'.join(map(re.escape, roles))})(?:[.+_\-][^@]*)?@", re.IGNORECASE
            ),
            personal_email=_nonzero(profile.email.personal, "mailbox of a named person"),
            role_only=_nonzero(profile.email.role_only, "role mailbox only"),
            unknown_employees=_nonzero(profile.unknown_employees, "employees unknown"),
            unknown_revenue=_nonzero(profile.unknown_revenue, "revenue unknown"),
            unknown_country=_nonzero(profile.unknown_country, "country unknown"),
            thresholds=profile.thresholds,
        )


@lru_cache(maxsize=64)
def compiled(profile: Profile) -> CompiledProfile:
    """Everything scoring looks up, built once per profile (profiles hash by identity)."""
    return CompiledProfile.build(profile)


def score_prospect(profile: Profile, facts: ProspectFacts) -> Score:
    """Score one prospect: deterministic, no I/O; reasons in criterion order."""
    plan = compiled(profile)
    reasons: list[Reason] = []
    add = reasons.append

    found = _band_reason(
        plan.employee_bands, plan.employee_starts, facts.employees, plan.unknown_employees
    )
    if found is not None:
        add(found)
    found = _band_reason(
        plan.revenue_bands, plan.revenue_starts, facts.revenue, plan.unknown_revenue
    )
    if found is not None:
        add(found)

    if facts.country:
        code = country_code(facts.country)
        found = plan.countries.get(code) if code else None
        if found is not None:
            if found.points:
                add(found)
        elif plan.other_country:
            add(Reason(plan.other_country, f"country {code or facts.country} not targeted"))
    elif plan.unknown_country is not None:
        add(plan.unknown_country)

    best_rank = max(map(seniority_rank, facts.contact_titles), default=0)
    found = plan.seniority_by_rank[best_rank]
    if found is not None:
        add(found)

    if plan.keywords is not None:
        text = " | ".join(filter(None, (facts.company, facts.industry, facts.notes)))
        reasons.extend(plan.keywords.reasons(text))

    if facts.contact_emails:
        if not all(map(plan.role_mailbox.match, facts.contact_emails)):
            if plan.personal_email is not None:
                add(plan.personal_email)
        elif plan.role_only is not None:
            add(plan.role_only)

    score = min(MAX_POINTS, max(0, sum([reason.points for reason in reasons])))
    return Score(score, plan.thresholds.tier(score), tuple(reasons))


def _band_reason(
    bands: tuple[Band, ...], starts: tuple[int, ...], value: int | None, unknown: Reason | None
) -> Reason | None:
    if value is None:
        return unknown
    index = bisect_right(starts, value) - 1  # bands are sorted and do not overlap
    if index < 0 or not bands[index].contains(value):
        return None
    reason = bands[index].reason
    return reason if reason.points else None
