"""Charts as inline SVG, drawn on the server: no script, a <title> and <desc> for assistive
technology, and colours with at least 3:1 contrast against white (WCAG 1.4.11). Every chart is
shown beside a table of the same figures, so nothing is only in the picture.

Every chart fills its container's width (a viewBox, width 100%; the height follows) with text
large enough to read when a phone's 375 px screen shows it at its narrowest (the stylesheet
keeps charts at least 32rem wide there, the figure scrolling sideways). The y axis's labels
share one number format: the same decimals and the same unit (k, M) on every tick.

Pure: numbers in, markup out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 720, 340
LEFT, RIGHT, TOP, BOTTOM = 80, 16, 20, 56
FONT = 16  # user units; at the narrowest (32rem wide) about 11 px on screen
# Dark enough on white for graphics (>= 3:1), and told apart by dash pattern too.
COLOURS = ("#1f5fa8", "#b3261e", "#1b7f3b", "#6b3fa0")
DASHES = ("", "8 4", "2 3", "12 3 2 3")


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 x 10^k at or above `value` (an axis's top)."""
    if value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        top = step * 10.0**exponent
        if top >= value * (1 - 1e-9):
            return top
    return 10.0 ** (exponent + 1)  # pragma: no cover - the loop always returns


def tick_labels(top: float, ticks: int = 4) -> list[str]:
    """The labels of an axis from 0 to `top` in `ticks` steps, in one format: one unit for all
    (none below 100,000, then k, then M), and as many decimals as the finest step needs."""
    scale, suffix = (1.0, "")
    if top >= 100_000_000:
        scale, suffix = 1_000_000.0, "M"
    elif top >= 100_000:
        scale, suffix = 1000.0, "k"
    values = [top * k / ticks / scale for k in range(ticks + 1)]
    places = next(
        (
            d
            for d in range(4)
            if all(abs(round(v, d) - v) <= 1e-9 * max(1.0, abs(v)) for v in values)
        ),
        3,
    )
    return [f"{v:,.{places}f}{suffix}" for v in values]


def _fmt(value: float) -> str:
    """A single value (a bar's tooltip): thousands grouped, at most two decimals."""
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:,.2f}"


def _frame(chart_id: str, title: str, desc: str, body: list[str]) -> Markup:
    head = (
        f'<svg class="dl-chart" id="{escape(chart_id)}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        'width="100%" preserveAspectRatio="xMidYMid meet" '
        f'role="img" aria-labelledby="{escape(chart_id)}-t {escape(chart_id)}-d" '
        f'xmlns="http://www.w3.org/2000/svg" font-family="sans-serif">'
        f'<title id="{escape(chart_id)}-t">{escape(title)}</title>'
        f'<desc id="{escape(chart_id)}-d">{escape(desc)}</desc>'
    )
    return Markup(head + "".join(body) + "</svg>")  # noqa: S704 - every value above is escaped


def _axes(labels: Sequence[str], top: float, y_label: str) -> list[str]:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    out = [
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}" '
        'stroke="#333" stroke-width="1"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" stroke="#333" '
        'stroke-width="1"/>',
    ]
    for k, text in enumerate(tick_labels(top)):
        y = TOP + plot_h - plot_h * k / 4
        if k:
            out.append(
                f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_w}" y2="{y:.1f}" '
                'stroke="#d0d0d0" stroke-width="1"/>'
            )
        out.append(
            f'<text x="{LEFT - 6}" y="{y + 5:.1f}" text-anchor="end" font-size="{FONT}" '
            f'fill="#222">{escape(text)}</text>'
        )
    step = max(1, math.ceil(len(labels) / 6))
    for i, label in enumerate(labels):
        if i % step and i != len(labels) - 1:
            continue
        x = _x(i, len(labels))
        out.append(
            f'<text x="{x:.1f}" y="{TOP + plot_h + 24}" text-anchor="middle" font-size="{FONT}" '
            f'fill="#222">{escape(label)}</text>'
        )
    out.append(
        f'<text x="{LEFT}" y="{HEIGHT - 6}" font-size="{FONT}" fill="#222">{escape(y_label)}</text>'
    )
    return out


def _x(i: int, n: int) -> float:
    plot_w = WIDTH - LEFT - RIGHT
    if n <= 1:
        return LEFT + plot_w / 2
    return LEFT + plot_w * i / (n - 1)


def _y(value: float, top: float) -> float:
    plot_h = HEIGHT - TOP - BOTTOM
    return TOP + plot_h - plot_h * (value / top)


def line_chart(
    chart_id: str,
    title: str,
    desc: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    y_label: str = "",
    reference: tuple[float, str] | None = None,
    y_max: float | None = None,
) -> Markup:
    """Lines over `labels` (one point per label; None leaves a gap), with an optional dashed
    reference line (e.g. a quota) that the axis always includes. `y_max` fixes the axis's top
    for a measure with a known range (the HHI's 10,000), else it is a round number above the
    data."""
    values = [v for s in series for v in s.values if v is not None]
    peak = max([*values, reference[0] if reference else 0.0, 0.0])
    top = y_max if y_max is not None else nice_ceiling(peak * 1.05 if peak else 1.0)
    body = _axes(labels, top, y_label)
    if reference is not None:
        y = _y(reference[0], top)
        body.append(
            f'<line class="dl-chart-ref" x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" '
            f'y2="{y:.1f}" stroke="#444" stroke-width="2" stroke-dasharray="2 4"/>'
            f'<text x="{WIDTH - RIGHT - 4}" y="{y - 6:.1f}" text-anchor="end" font-size="{FONT}" '
            f'fill="#222">{escape(reference[1])}</text>'
        )
    for n, s in enumerate(series):
        colour, dash = COLOURS[n % len(COLOURS)], DASHES[n % len(DASHES)]
        runs: list[list[tuple[float, float]]] = [[]]
        for i, v in enumerate(s.values):
            if v is None:
                runs.append([])
            else:
                runs[-1].append((_x(i, len(labels)), _y(v, top)))
        for run in runs:
            if not run:
                continue
            points = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
            dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
            body.append(
                f'<polyline points="{points}" fill="none" stroke="{colour}" '
                f'stroke-width="2.5"{dash_attr}><title>{escape(s.name)}</title></polyline>'
            )
            body.extend(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>' for x, y in run
            )
    if len(series) > 1:
        body.extend(_legend(series))
    return _frame(chart_id, title, desc, body)


def bar_chart(
    chart_id: str,
    title: str,
    desc: str,
    labels: Sequence[str],
    values: Sequence[float],
    *,
    y_label: str = "",
) -> Markup:
    peak = max([*values, 0.0])
    top = nice_ceiling(peak * 1.05 if peak else 1.0)
    body = _axes(labels, top, y_label)
    plot_w = WIDTH - LEFT - RIGHT
    slot = plot_w / max(1, len(labels))
    width = max(1.0, slot * 0.7)
    for i, (label, v) in enumerate(zip(labels, values, strict=True)):
        x = LEFT + slot * i + (slot - width) / 2
        y = _y(v, top)
        body.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" '
            f'height="{HEIGHT - BOTTOM - y:.1f}" fill="{COLOURS[0]}">'
            f"<title>{escape(label)}: {escape(_fmt(v))}</title></rect>"
        )
    return _frame(chart_id, title, desc, body)


def _legend(series: Sequence[Series]) -> list[str]:
    out = []
    x = LEFT + 8
    for n, s in enumerate(series):
        colour, dash = COLOURS[n % len(COLOURS)], DASHES[n % len(DASHES)]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(
            f'<line x1="{x}" y1="{TOP + 10}" x2="{x + 28}" y2="{TOP + 10}" stroke="{colour}" '
            f'stroke-width="2.5"{dash_attr}/>'
            f'<text x="{x + 34}" y="{TOP + 15}" font-size="{FONT}" fill="#222">'
            f"{escape(s.name)}</text>"
        )
        x += 44 + 9 * len(s.name)
    return out
