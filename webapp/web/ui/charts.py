"""Server-rendered inline SVG charts: no script, so the strict CSP holds.

Colours and fonts come from classes styled in `static/tune.css`; the SVG only
carries geometry. Each chart has axes with labelled ticks, a legend, and a
text alternative for screen readers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

from markupsafe import Markup, escape

WIDTH = 720
HEIGHT = 240
LEFT = 48
RIGHT = 12
TOP = 14
BOTTOM = 34
X_LABELS = 6

SERIES_LABELS = {"open": "Opens", "click": "Clicks", "reply": "Replies"}


def nice_ceiling(value: int) -> tuple[int, int]:
    """A round axis maximum at or above `value` and its tick step (4-5 ticks)."""
    if value <= 4:
        return 4, 1
    raw_step = value / 4
    magnitude = 10 ** math.floor(math.log10(raw_step))
    for factor in (1, 2, 2.5, 5, 10):
        step = factor * magnitude
        if step >= raw_step and float(step).is_integer():
            break
    step_int = int(step)
    return step_int * math.ceil(value / step_int), step_int


def _tick_label(moment: datetime, unit: str, first: bool) -> str:
    if unit == "day":
        return moment.strftime("%b %-d")
    if first or moment.hour == 0:
        return moment.strftime("%b %-d %H:00")
    return moment.strftime("%H:00")


def _fmt(number: int) -> str:
    return f"{number:,}"


def line_chart(
    starts: Sequence[datetime],
    series: dict[str, list[int]],
    unit: str,
    *,
    title: str = "Activity",
) -> Markup:
    """Lines of counts per time bucket, with y and x axes, grid lines and a legend."""
    count = len(starts)
    top_value = max((max(values, default=0) for values in series.values()), default=0)
    y_max, y_step = nice_ceiling(top_value)
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM

    def x(index: int) -> float:
        return LEFT + (plot_w * index / (count - 1) if count > 1 else plot_w / 2)

    def y(value: int) -> float:
        return TOP + plot_h - plot_h * value / y_max

    totals = ", ".join(
        f"{SERIES_LABELS.get(kind, kind)} {_fmt(sum(values))}" for kind, values in series.items()
    )
    span = "hour" if unit == "hour" else "day"
    description = (
        f"{title} per {span}, {_tick_label(starts[0], unit, True)} to "
        f"{_tick_label(starts[-1], unit, True)} UTC: {totals}."
        if starts
        else f"{title}: no data."
    )
    parts: list[str] = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(description)}" preserveAspectRatio="xMidYMid meet">',
        f"<title>{escape(description)}</title>",
    ]
    for tick in range(0, y_max + 1, y_step):
        ty = y(tick)
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{ty:.1f}" y2="{ty:.1f}"/>'
            f'<text class="tick" x="{LEFT - 6}" y="{ty + 4:.1f}" text-anchor="end">'
            f"{_fmt(tick)}</text>"
        )
    parts.append(
        f'<line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{TOP + plot_h}"/>'
        f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" '
        f'y1="{TOP + plot_h}" y2="{TOP + plot_h}"/>'
    )
    if count:
        every = max(1, math.ceil(count / X_LABELS))
        for index in range(0, count, every):
            tx = x(index)
            anchor = "start" if index == 0 else "middle"
            parts.append(
                f'<line class="axis" x1="{tx:.1f}" x2="{tx:.1f}" y1="{TOP + plot_h}" '
                f'y2="{TOP + plot_h + 4}"/>'
                f'<text class="tick" x="{tx:.1f}" y="{TOP + plot_h + 18}" '
                f'text-anchor="{anchor}">{escape(_tick_label(starts[index], unit, index == 0))}'
                "</text>"
            )
        parts.append(
            f'<text class="tick" x="{WIDTH - RIGHT}" y="{HEIGHT - 2}" text-anchor="end">'
            f"time (UTC, per {span})</text>"
        )
    for kind, values in series.items():
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        parts.append(f'<polyline class="series series-{escape(kind)}" points="{points}"/>')
        for i, v in enumerate(values):
            if v:
                parts.append(
                    f'<circle class="dot series-{escape(kind)}" cx="{x(i):.1f}" '
                    f'cy="{y(v):.1f}" r="2.5"><title>{escape(SERIES_LABELS.get(kind, kind))}: '
                    f"{_fmt(v)} ({escape(_tick_label(starts[i], unit, True))} UTC)</title></circle>"
                )
    parts.append("</svg>")
    legend = "".join(
        f'<li><span class="swatch series-{escape(kind)}" aria-hidden="true"></span>'
        f"{escape(SERIES_LABELS.get(kind, kind))} <strong>{_fmt(sum(values))}</strong></li>"
        for kind, values in series.items()
    )
    document = (
        f'<figure class="chart-figure">{"".join(parts)}'
        f'<figcaption><ul class="legend">{legend}</ul></figcaption></figure>'
    )
    return Markup(document)  # noqa: S704 - every text interpolated above is escaped
