"""Reading human-written amounts: employee counts and revenue.

"1,200", "5k", "1.5M", "2bn", "$3.2m", "10,001+" are all numbers. A range
such as "10-50" or "$1M-5M" counts as its midpoint, rounded down (30;
3,000,000): the best single guess, and it lands inside a vendor's size bucket
like "51-200". A reversed range is an error.
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from functools import lru_cache

MAX_AMOUNT = 10**15
AMOUNT_HINT = "expected a number like 1200, 5k, 1.5M or 10-50"

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
        return _parse_text(value.strip())
    return _whole(number)


@lru_cache(maxsize=4096)
def _parse_text(value: str) -> int | None:
    """`parse_amount` of a trimmed string; cached, as a file repeats the same sizes."""
    if not value:
        return None
    text = _CURRENCY.sub(" ", value.lower()).strip()
    if text.startswith("-"):
        raise ValueError("must not be negative")
    match = _AMOUNT_OR_RANGE.fullmatch(text)
    if match is None:
        raise ValueError(AMOUNT_HINT)
    low_digits, low_exponent, low_suffix, high_digits, high_exponent, high_suffix = match.groups()
    if high_digits is None:
        number = _decimal(low_digits, low_exponent, low_suffix)
    else:
        # "1-5M": a suffix on the upper end only applies to both.
        low = _decimal(low_digits, low_exponent, low_suffix or high_suffix)
        high = _decimal(high_digits, high_exponent, high_suffix)
        if low > high:
            raise ValueError("the range is reversed")
        number = (low + high) / 2
    return _whole(number)


def _whole(number: Decimal) -> int:
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
