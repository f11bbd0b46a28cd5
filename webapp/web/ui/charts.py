"""Server-rendered inline SVG charts: no script, so the strict CSP holds.

Colours and fonts come from classes styled in `static/tune.css`; the SVG only
carries geometry. Each chart has axes with labelled ticks, a legend, and a
text alternative for screen readers.

A chart is drawn twice, wide (720 units) and narrow (360 units, fewer ticks);
the stylesheet shows the one that fits the screen, so axis text stays about
11–12 px tall on a phone instead of shrinking with a wide drawing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime

from markupsafe import Markup, escape

WIDTH = 720
NARROW_WIDTH = 360
HEIGHT = 240
LEFT = 48
RIGHT = 12
TOP = 14
BOTTOM = 34
X_LABELS = 6
NARROW_X_LABELS = 3

SERIES_LABELS = {"open": "Opens", "click": "Clicks", "reply": "Replies"}
RATE_LABELS = {"open": "Opened", "click": "Clicked", "reply": "Replied"}


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


def _fmt(number: float) -> str:
    return f"{number:,}" if isinstance(number, int) else f"{number:,.1f}"


def _points(values: Sequence[float | None], scale: float) -> list[float | None]:
    return [None if value is None else value * scale for value in values]


def line_chart(
    starts: Sequence[datetime],
    series: dict[str, list[int]] | dict[str, list[float | None]],
    unit: str,
    *,
    title: str = "Activity",
    rates: bool = False,
) -> Markup:
    """Lines per time bucket (counts, or `rates` as shares 0–1 shown in %), drawn wide
    and narrow, with axes, grid lines and one legend."""
    scale = 100.0 if rates else 1.0
    scaled = {kind: _points(values, scale) for kind, values in series.items()}
    labels = RATE_LABELS if rates else SERIES_LABELS
    if rates:
        latest = {
            kind: next((v for v in reversed(values) if v is not None), None)
            for kind, values in scaled.items()
        }
        summary = ", ".join(
            f"{labels.get(kind, kind)} {'–' if value is None else f'{value:.1f}%'}"
            for kind, value in latest.items()
        )
    else:
        summary = ", ".join(
            f"{labels.get(kind, kind)} {_fmt(sum(v for v in values if v is not None))}"
            for kind, values in scaled.items()
        )
    span = "hour" if unit == "hour" else "day"
    what = f"{title} (share of emails sent)" if rates else title
    description = (
        f"{what} per {span}, {_tick_label(starts[0], unit, True)} to "
        f"{_tick_label(starts[-1], unit, True)} UTC: {summary}."
        if starts
        else f"{what}: no data."
    )
    wide = _svg(starts, scaled, unit, description, WIDTH, X_LABELS, rates=rates)
    narrow = _svg(starts, scaled, unit, description, NARROW_WIDTH, NARROW_X_LABELS, rates=rates)
    if rates:
        legend_values = {
            kind: "–" if value is None else f"{value:.1f}%" for kind, value in latest.items()
        }
    else:
        legend_values = {
            kind: _fmt(int(sum(v for v in values if v is not None)))
            for kind, values in scaled.items()
        }
    legend = "".join(
        f'<li><span class="swatch series-{escape(kind)}" aria-hidden="true"></span>'
        f"{escape(labels.get(kind, kind))} <strong>{escape(value)}</strong></li>"
        for kind, value in legend_values.items()
    )
    document = (
        f'<figure class="chart-figure">{wide}{narrow}'
        f'<figcaption><ul class="legend">{legend}</ul></figcaption></figure>'
    )
    return Markup(document)  # noqa: S704 - every text interpolated above is escaped


def _svg(
    starts: Sequence[datetime],
    series: dict[str, list[float | None]],
    unit: str,
    description: str,
    width: int,
    x_labels: int,
    *,
    rates: bool,
) -> str:
    count = len(starts)
    top_value = max(
        (max((v for v in values if v is not None), default=0) for values in series.values()),
        default=0,
    )
    y_max, y_step = nice_ceiling(math.ceil(top_value))
    if rates and y_max > 100:  # a share never passes 100 %
        y_max, y_step = 100, 25
    plot_w = width - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM

    def x(index: int) -> float:
        return LEFT + (plot_w * index / (count - 1) if count > 1 else plot_w / 2)

    def y(value: float) -> float:
        return TOP + plot_h - plot_h * value / y_max

    size = "wide" if width == WIDTH else "narrow"
    hidden = ' aria-hidden="true"' if size == "narrow" else ""
    parts: list[str] = [
        f'<svg class="chart chart-{size}" viewBox="0 0 {width} {HEIGHT}" role="img" '
        f'aria-label="{escape(description)}" preserveAspectRatio="xMidYMid meet"{hidden}>',
        f"<title>{escape(description)}</title>",
    ]
    suffix = "%" if rates else ""
    for tick in range(0, y_max + 1, y_step):
        ty = y(tick)
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{width - RIGHT}" y1="{ty:.1f}" y2="{ty:.1f}"/>'
            f'<text class="tick" x="{LEFT - 6}" y="{ty + 4:.1f}" text-anchor="end">'
            f"{_fmt(tick)}{suffix}</text>"
        )
    parts.append(
        f'<line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{TOP + plot_h}"/>'
        f'<line class="axis" x1="{LEFT}" x2="{width - RIGHT}" '
        f'y1="{TOP + plot_h}" y2="{TOP + plot_h}"/>'
    )
    span = "hour" if unit == "hour" else "day"
    if count:
        every = max(1, math.ceil(count / x_labels))
        for index in range(0, count, every):
            tx = x(index)
            anchor = "start" if index == 0 else "end" if tx > width - RIGHT - 40 else "middle"
            parts.append(
                f'<line class="axis" x1="{tx:.1f}" x2="{tx:.1f}" y1="{TOP + plot_h}" '
                f'y2="{TOP + plot_h + 4}"/>'
                f'<text class="tick" x="{tx:.1f}" y="{TOP + plot_h + 18}" '
                f'text-anchor="{anchor}">{escape(_tick_label(starts[index], unit, index == 0))}'
                "</text>"
            )
        parts.append(
            f'<text class="tick" x="{width - RIGHT}" y="{HEIGHT - 2}" text-anchor="end">'
            f"time (UTC, per {span})</text>"
        )
    labels = RATE_LABELS if rates else SERIES_LABELS
    for kind, values in series.items():
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values) if v is not None)
        parts.append(f'<polyline class="series series-{escape(kind)}" points="{points}"/>')
        for i, v in enumerate(values):
            if v:
                parts.append(
                    f'<circle class="dot series-{escape(kind)}" cx="{x(i):.1f}" '
                    f'cy="{y(v):.1f}" r="2.5"><title>{escape(labels.get(kind, kind))}: '
                    f"{_fmt(v if rates else int(v))}{suffix} "
                    f"({escape(_tick_label(starts[i], unit, True))} UTC)</title></circle>"
                )
    parts.append("</svg>")
    return "".join(parts)
