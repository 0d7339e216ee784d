"""Server-rendered SVG charts: grouped bars per day and a horizontal funnel.

No script runs in the page (the Content-Security-Policy forbids inline code), so the charts are plain markup with
their colours from ``dashboard.css`` (``.series-0`` ...). Each chart is decorative for assistive technology
(``aria-hidden``): the template puts the same numbers in a table next to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 640
HEIGHT = 220
MARGIN_LEFT = 48
MARGIN_BOTTOM = 28
MARGIN_TOP = 12
#: Colour classes (see dashboard.css), one per series, chosen for contrast on white and for colour blindness.
SERIES_CLASSES = 6


@dataclass(slots=True)
class Series:
    """One named row of values, one per day."""

    name: str
    values: Sequence[float]


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above ``value`` (the top of the axis); 1 for nothing."""
    if value <= 0:
        return 1.0
    step = 1.0
    while step * 10 <= value:
        step *= 10
    while step > value:
        step /= 10
    for factor in (1, 2, 5, 10):
        if step * factor >= value:
            return step * factor
    return step * 10


def _number(value: float) -> str:
    return f"{value:g}" if value >= 1 or value == 0 else f"{value:.2f}"


def bars(days: Sequence[str], series: Sequence[Series], *, label: str) -> Markup:
    """Grouped bars: one group per day, one bar per series, a y axis from 0 to a round maximum."""
    top = nice_ceiling(max((v for s in series for v in s.values), default=0.0))
    plot_w = WIDTH - MARGIN_LEFT - 8
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    group_w = plot_w / max(len(days), 1)
    bar_w = max(group_w * 0.8 / max(len(series), 1), 1.0)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" preserveAspectRatio="xMinYMin meet" aria-hidden="true"'
        f' focusable="false" data-label="{escape(label)}">'
    ]
    for fraction in (0.0, 0.5, 1.0):
        y = MARGIN_TOP + plot_h * (1 - fraction)
        parts.append(f'<line class="grid" x1="{MARGIN_LEFT}" x2="{WIDTH - 8}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text class="axis" x="{MARGIN_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">')
        parts.append(f"{escape(_number(top * fraction))}</text>")
    for i, day in enumerate(days):
        x0 = MARGIN_LEFT + i * group_w + group_w * 0.1
        for j, one in enumerate(series):
            value = float(one.values[i]) if i < len(one.values) else 0.0
            h = plot_h * value / top
            parts.append(
                f'<rect class="bar series-{j % SERIES_CLASSES}" x="{x0 + j * bar_w:.1f}" y="{MARGIN_TOP + plot_h - h:.1f}"'
                f' width="{bar_w:.1f}" height="{h:.1f}"><title>{escape(day)} · {escape(one.name)}: '
                f"{escape(_number(value))}</title></rect>"
            )
        # Label at most ~8 days so the dates never overlap.
        if len(days) <= 8 or i % max(len(days) // 7, 1) == 0:
            parts.append(
                f'<text class="axis" x="{x0 + group_w * 0.4:.1f}" y="{HEIGHT - 8}" text-anchor="middle">'
                f"{escape(day[5:])}</text>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def funnel(steps: Sequence[tuple[str, int]]) -> Markup:
    """Horizontal bars, widest first: how many contacts reached each step."""
    top = max((n for _, n in steps), default=0) or 1
    row_h = 34
    height = row_h * len(steps) + 8
    label_w = 150
    parts = [f'<svg class="chart funnel" viewBox="0 0 {WIDTH} {height}" aria-hidden="true" focusable="false">']
    for i, (name, count) in enumerate(steps):
        y = 4 + i * row_h
        w = (WIDTH - label_w - 60) * count / top
        parts.append(f'<text class="axis" x="{label_w - 8}" y="{y + 20}" text-anchor="end">{escape(name)}</text>')
        parts.append(
            f'<rect class="bar series-{i % SERIES_CLASSES}" x="{label_w}" y="{y}" width="{w:.1f}" height="26"/>'
        )
        parts.append(f'<text class="axis" x="{label_w + w + 6:.1f}" y="{y + 20}">{count}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
