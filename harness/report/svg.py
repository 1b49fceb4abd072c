"""Charts as inline SVG, written here: a Gantt of phases and a line chart with marked moments.

No JavaScript and no chart library: the measured options (research/anchors-reports.md) put
hand-written SVG at ~244 KB for 50 clouds where pygal needs 1.15 MB and a remote script, and
SVG prints as vectors and can be made accessible. Every chart is ``role="img"`` with a
``<title>`` and a ``<desc>``; every bar and mark has its own ``<title>`` (the browser's tooltip).
Colours come from the page's stylesheet through classes (``bar passed``), so the page's legend,
its print style and the charts agree; the numbers are also in tables beside the charts.

>>> str(gantt([Lane("lab1", (Bar(0, 2, "passed", "identity passed in 2 s"),))], span=2,
...           ident="t", title="Phases", desc="one phase"))[:36]
'<svg xmlns="http://www.w3.org/2000/s'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

from .text import number

FAILED = ("failed", "error", "timeout")
_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400)


@dataclass(frozen=True)
class Bar:
    """``[start, end)`` in seconds on the chart's axis; ``css`` is its class (an outcome, ``wait``)."""

    start: float
    end: float
    css: str
    label: str


@dataclass(frozen=True)
class Lane:
    """One row of the Gantt: its bars, and the overlays drawn over them (rendezvous waits)."""

    label: str
    bars: tuple[Bar, ...]
    overlays: tuple[Bar, ...] = ()


@dataclass(frozen=True)
class Series:
    label: str
    css: str
    points: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Mark:
    """A moment on the x axis (a fault step), drawn as a vertical line with a short label."""

    at: float
    label: str
    title: str


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _tick_step(span: float, most: int = 10) -> float:
    return next((s for s in _STEPS if span / s <= most), _STEPS[-1])


def _tick_label(value: float) -> str:
    if value >= 3600 and value % 3600 == 0:
        return f"{value / 3600:g} h"
    if value >= 120:  # one unit along an axis: 2 min, 2.5 min, 3 min
        return f"{value / 60:g} min"
    return f"{value:g} s"


def _open(ident: str, width: int, height: int, title: str, desc: str, css: str) -> list[str]:
    return [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart {css}" id="{_e(ident)}" role="img" '
            f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
            f'aria-labelledby="{_e(ident)}-title {_e(ident)}-desc">',
            f'<title id="{_e(ident)}-title">{_e(title)}</title><desc id="{_e(ident)}-desc">{_e(desc)}</desc>']


def _x_axis(parts: list[str], x0: int, y: float, plot_w: float, span: float, offset: float = 0.0,
            top: float | None = None) -> None:
    """Ticks and labels along ``y``; grid lines up to ``top`` when given."""
    step = _tick_step(span)
    first = -(-offset // step) * step  # the first multiple of the step at or after the offset
    value = first
    while value <= offset + span + 1e-9:
        x = x0 + (value - offset) / span * plot_w
        if top is not None:
            parts.append(f'<line class="grid" x1="{x:.1f}" y1="{top:.1f}" x2="{x:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text class="tick" x="{x:.1f}" y="{y + 12:.1f}" text-anchor="middle">'
                     f'{_tick_label(value)}</text>')
        value += step


def gantt(lanes: Sequence[Lane], *, span: float, ident: str, title: str, desc: str, width: int = 960,
          label_width: int = 120, row: int = 16) -> Markup:
    """Every lane's bars on one time axis ``[0, span]`` seconds; overlays hatched over them."""
    span = max(span, 1e-3)
    plot_w = width - label_width - 20
    top = 8
    height = top + row * len(lanes) + 24
    parts = _open(ident, width, height, title, desc, "gantt")
    parts.append(f'<defs><pattern id="{_e(ident)}-hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
                 'patternTransform="rotate(45)"><rect width="3" height="6" class="hatch"/></pattern></defs>')
    axis_y = top + row * len(lanes) + 2
    _x_axis(parts, label_width, axis_y, plot_w, span, top=top)

    def x(t: float) -> float:
        return label_width + max(0.0, min(t, span)) / span * plot_w

    for i, lane in enumerate(lanes):
        y = top + i * row
        parts.append(f'<g class="lane" data-lane="{_e(lane.label)}">'
                     f'<text class="label" x="{label_width - 6}" y="{y + row - 4}" text-anchor="end">'
                     f'{_e(lane.label)}</text>')
        for bar in lane.bars:
            x1, x2 = x(bar.start), x(bar.end)
            w = max(x2 - x1, 1.0)  # a 50 ms phase still shows
            parts.append(f'<rect class="bar {_e(bar.css)}" x="{x1:.1f}" y="{y + 2}" width="{w:.1f}" height="{row - 4}">'
                         f'<title>{_e(bar.label)}</title></rect>')
            if bar.css in FAILED:  # not colour alone: a failed bar carries a cross after it
                parts.append(f'<text class="glyph" x="{x1 + w + 1:.1f}" y="{y + row - 4}">✗</text>')
        for bar in lane.overlays:
            x1, x2 = x(bar.start), x(bar.end)
            parts.append(f'<rect class="overlay {_e(bar.css)}" fill="url(#{_e(ident)}-hatch)" x="{x1:.1f}" '
                         f'y="{y + 2}" width="{max(x2 - x1, 1.0):.1f}" height="{row - 4}">'
                         f'<title>{_e(bar.label)}</title></rect>')
        parts.append("</g>")
    parts.append("</svg>")
    return Markup("".join(parts))


def line_chart(series: Sequence[Series], *, x_range: tuple[float, float], ident: str, title: str, desc: str,
               y_label: str, bands: Sequence[Bar] = (), marks: Sequence[Mark] = (), width: int = 720,
               height: int = 200) -> Markup:
    """Lines over ``x_range`` (seconds), with shaded bands and labelled vertical marks."""
    left, right, top, bottom = 44, 10, 22, 20
    plot_w, plot_h = width - left - right, height - top - bottom
    x0, x1 = x_range
    span = max(x1 - x0, 1e-3)
    y_max = max((y for s in series for _, y in s.points), default=0.0)
    y_step = _nice(y_max / 4) if y_max > 0 else 1.0
    y_top = max(y_step * 4, y_step * -(-y_max // y_step))

    def x(t: float) -> float:
        return left + (min(max(t, x0), x1) - x0) / span * plot_w

    def y(v: float) -> float:
        return top + plot_h - v / y_top * plot_h

    parts = _open(ident, width, height, title, desc, "lines")
    for band in bands:
        parts.append(f'<rect class="band {_e(band.css)}" x="{x(band.start):.1f}" y="{top}" '
                     f'width="{max(x(band.end) - x(band.start), 1.0):.1f}" height="{plot_h}">'
                     f'<title>{_e(band.label)}</title></rect>')
    value = 0.0
    while value <= y_top + 1e-9:
        parts.append(f'<line class="grid" x1="{left}" y1="{y(value):.1f}" x2="{left + plot_w}" y2="{y(value):.1f}"/>'
                     f'<text class="tick" x="{left - 4}" y="{y(value) + 3:.1f}" text-anchor="end">'
                     f'{number(value)}</text>')
        value += y_step
    parts.append(f'<text class="axis-label" x="{left}" y="{top - 8}">{_e(y_label)}</text>')
    _x_axis(parts, left, top + plot_h, plot_w, span, offset=x0)
    for i, mark in enumerate(marks):
        mx = x(mark.at)
        label_y = top + 9 + (i % 3) * 10  # steps close together: stagger their labels
        parts.append(f'<g class="mark"><title>{_e(mark.title)}</title>'
                     f'<line x1="{mx:.1f}" y1="{top}" x2="{mx:.1f}" y2="{top + plot_h}"/>'
                     f'<text x="{mx + 2:.1f}" y="{label_y}">{_e(mark.label)}</text></g>')
    for s in series:
        pixels = _simplified([(round(x(px)), round(y(py))) for px, py in s.points])
        points = " ".join(f"{px},{py}" for px, py in pixels)
        parts.append(f'<polyline class="line {_e(s.css)}" points="{points}"><title>{_e(s.label)}</title></polyline>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _simplified(points: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Whole pixels, without the points that draw nothing: repeats, and the inner points of a
    horizontal run (a throughput line is flat at 0 failures most of the time). 50 charts of 300
    samples went from 354 KB of coordinates at 0.1 px to a third of that."""
    out: list[tuple[int, int]] = []
    for i, p in enumerate(points):
        if out and p == out[-1]:
            continue
        nxt = points[i + 1] if i + 1 < len(points) else None
        if len(out) >= 1 and nxt is not None and out[-1][1] == p[1] == nxt[1]:
            continue
        out.append(p)
    return out


def _nice(raw: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above ``raw``."""
    power = 1.0
    while power * 10 <= raw:
        power *= 10
    while power > raw and power > 1e-6:
        power /= 10
    for factor in (1, 2, 5, 10):
        if power * factor >= raw:
            return power * factor
    return power * 10
