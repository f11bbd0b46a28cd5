"""Jinja filters that format figures and times the same way on every page."""

from __future__ import annotations

from datetime import datetime

from quart import Quart

from webapp.prospects.rows.domains import display_domain


def install(app: Quart) -> None:
    app.add_template_filter(fmt_number, "num")
    app.add_template_filter(fmt_percent, "pct")
    app.add_template_filter(fmt_time, "utc")
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
