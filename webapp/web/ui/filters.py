"""Jinja filters that format figures, money, names and times the same way on every page.

Times are rendered server-side as `<time datetime="…">` in UTC; `static/times.js`
turns them into relative words ("3 min ago") and the viewer's local time (in the
title), so a page without scripts still reads correctly.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from markupsafe import Markup
from quart import Quart

from webapp.core.text import possessive
from webapp.prospects.rows.domains import display_domain

MINUS = "\u2212"
CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹"}
"""Currencies written with a symbol; any other ISO code is written after the amount."""
_SCALES = ((1_000_000_000_000, "T"), (1_000_000_000, "B"), (1_000_000, "M"), (1_000, "K"))


def install(app: Quart) -> None:
    app.add_template_filter(fmt_number, "num")
    app.add_template_filter(fmt_percent, "pct")
    app.add_template_filter(fmt_time, "utc")
    app.add_template_filter(fmt_money, "money")
    app.add_template_filter(possessive, "possessive")
    app.add_template_filter(when, "when")
    app.add_template_filter(fmt_reason, "reason")
    app.add_template_filter(display_domain, "display_domain")
    app.add_template_filter(fmt_duration, "duration")


def fmt_number(value: int | float | None) -> str:
    """1234 → "1,234"; None → "–"."""
    if value is None:
        return "–"
    return f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"


def fmt_percent(value: float | None) -> str:
    """0.1234 → "12.3%"; None (nothing sent) → "–"."""
    return "–" if value is None else f"{value * 100:.1f}%"


def fmt_time(value: datetime | None) -> str:
    return "–" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def fmt_money(value: int | float | None, currency: str | None = "USD") -> str:
    """20_700_000_000 → "$20.7B", 950 → "$950", 1_500_000 with "EUR" → "€1.5M";
    a currency without a symbol follows the amount ("1.2M CHF"); None → "–"."""
    if value is None:
        return "–"
    sign = MINUS if value < 0 else ""
    amount = abs(value)
    text = f"{amount:,.0f}"
    for position, (size, suffix) in enumerate(_SCALES):
        if amount < size:
            continue
        scaled = f"{amount / size:.1f}"
        if float(scaled) >= 1000 and position > 0:  # 999.96M rounds up: say $1B
            size, suffix = _SCALES[position - 1]
            scaled = f"{amount / size:.1f}"
        text = f"{scaled.removesuffix('.0')}{suffix}"
        break
    code = (currency or "").upper()
    symbol = CURRENCY_SYMBOLS.get(code)
    if symbol is not None:
        return f"{sign}{symbol}{text}"
    return f"{sign}{text} {code}" if code else f"{sign}{text}"


def when(value: datetime | None) -> Markup:
    """A `<time>` in UTC that `static/times.js` turns relative and local; "–" for None."""
    if value is None:
        return Markup("–")
    stamp = value.isoformat(timespec="seconds")
    return Markup('<time datetime="{}" data-relative>{}</time>').format(stamp, fmt_time(value))


def fmt_reason(reason: Mapping[str, Any]) -> str:
    """A stored score reason as the list shows it: "+20 revenue $500M–$5B", "−10 …"."""
    points = int(reason.get("points", 0))
    sign = MINUS if points < 0 else "+"
    return f"{sign}{abs(points)} {reason.get('label', '')}"


def fmt_duration(seconds: float | None) -> str:
    """3725 → "1 h 3 min"; 90000 → "1 d 1 h"; under a minute → "under a minute"."""
    if seconds is None:
        return "–"
    minutes = int(seconds // 60)
    if minutes < 1:
        return "under a minute"
    days, minutes = divmod(minutes, 1440)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"
