"""Reading what a user gives for a sequence step: delays, conditions, flags, variants, tiers.

Every parser raises `ValidationFailed` naming the field, so the API answers its
one error shape and the dashboard shows the message beside the field.
"""

from __future__ import annotations

from datetime import timedelta

import isodate

from webapp.core.errors import ValidationFailed
from webapp.prospects.queries import parse_tier
from webapp.sequences.variants import LABELS

CONDITIONS = ("no_reply", "no_reply_no_open", "opened_no_reply", "clicked_no_reply")
MAX_DELAY = timedelta(days=365)
ALL_TIERS = 0
"""The tier of a step's all-tier template (written `all`)."""


def parse_delay(value: object) -> tuple[str, int]:
    """An ISO 8601 duration in days, hours, minutes or seconds ("P3D", "PT4H", "PT5S")."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed("delay: an ISO 8601 duration such as P3D or PT4H", field="delay")
    text = value.strip().upper()
    try:
        parsed = isodate.parse_duration(text)
    except (isodate.ISO8601Error, ValueError):
        raise ValidationFailed(
            f"delay: {value!r} is not an ISO 8601 duration (P3D, PT4H, PT30S)", field="delay"
        ) from None
    if not isinstance(parsed, timedelta):
        raise ValidationFailed("delay: give months and years as days (P30D)", field="delay")
    if parsed < timedelta(0) or parsed > MAX_DELAY:
        raise ValidationFailed("delay: between PT0S and P365D", field="delay")
    return text, int(parsed.total_seconds())


def parse_condition(value: object) -> str:
    if value not in CONDITIONS:
        raise ValidationFailed(f"condition: one of {', '.join(CONDITIONS)}", field="condition")
    return str(value)


def parse_bool(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationFailed(f"{field}: true or false", field=field)
    return value


def parse_variant(value: object) -> int:
    """A variant label, A to D."""
    if not isinstance(value, str) or value.upper() not in LABELS:
        raise ValidationFailed(f"variant: one of {', '.join(LABELS)}", field="variant")
    return LABELS.index(value.upper())


def parse_step_tier(value: object) -> int:
    """1, 2, 3, or `all` (0)."""
    if isinstance(value, str) and value.lower() == "all":
        return ALL_TIERS
    try:
        return parse_tier(value)
    except ValidationFailed:
        raise ValidationFailed("tier must be 1, 2, 3 or all", field="tier") from None
