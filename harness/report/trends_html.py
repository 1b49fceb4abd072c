"""``reports/history.html`` (each cloud's phases over the last runs) and a comparison page.

One self-contained file, no script: each chart is inline SVG written here (``role="img"``, a
``<title>`` and a ``<desc>`` that says what it shows), and its numbers are also in a table.
A passed phase is a dot on its line; a phase that did not pass is a cross and breaks the line.

>>> render_history(Path("reports"), last=20)          # doctest: +SKIP
PosixPath('reports/history.html')
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from .files import write_atomic
from .trends import HISTORY_FILE, Comparison, change_text, load_history

HISTORY_HTML = "history.html"
DEFAULT_LAST = 20
# distinguishable in colour and, for those who cannot tell the colours apart, by dash pattern
_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")
_DASHES = ("", "6 3", "2 2", "8 3 2 3")
W, H, LEFT, RIGHT, TOP, BOTTOM = 640, 220, 56, 16, 14, 34

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:.2em .5em;text-align:right}
th:first-child,td:first-child,#runs td,#runs th,#compare td:nth-child(-n+2),#compare th:nth-child(-n+2){text-align:left}
.passed{background:#e6f4ea}.failed,.error,.timeout,.unfinished{background:#fce8e6}.skipped{background:#f1f3f4}
.slower{background:#fce8e6}.faster{background:#e6f4ea}.same{background:#fff}.n-a{background:#f1f3f4}
.legend span{display:inline-block;margin-right:1em}.swatch{display:inline-block;width:1.5em;height:.3em;
vertical-align:middle;margin-right:.3em}svg{max-width:100%;height:auto}
@media print{section{break-inside:avoid}}
"""


def render_history(reports_dir: Path, last: int = DEFAULT_LAST) -> Path:
    """Write ``reports_dir/history.html`` from ``reports_dir/history.jsonl``; returns its path."""
    runs = load_history(Path(reports_dir) / HISTORY_FILE)
    return write_atomic(Path(reports_dir) / HISTORY_HTML, history_html(runs[-last:] if last > 0 else runs, len(runs)))


def history_html(runs: list[dict[str, Any]], total: int | None = None) -> str:
    """The page for ``runs`` (oldest first)."""
    total = len(runs) if total is None else total
    phases = _phase_order(runs)
    body = [f"<h1>Interop runs: history</h1><p>The last {len(runs)} of {total} runs, oldest first.</p>"]
    if not runs:
        body.append("<p>No run in the history yet.</p>")
    else:
        body.append(_runs_table(runs))
    clouds = sorted({cloud for run in runs for cloud in run.get("clouds") or {}})
    for cloud in clouds:
        series = [((run.get("clouds") or {}).get(cloud) or {}).get("phases") or {} for run in runs]
        mine = [p for p in phases if any(p in s for s in series)]
        body.append(f'<section id="cloud-{escape(cloud)}"><h2>{escape(cloud)}</h2>')
        body.append(chart_svg(cloud, mine, series, phases))
        body.append(_legend(mine, phases))
        body.append(_cloud_table(cloud, mine, series))
        body.append("</section>")
    return _page("Interop runs: history", "".join(body))


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_CSS}</style></head>'
            f"<body>{body}</body></html>\n")


def _phase_order(runs: list[dict[str, Any]]) -> list[str]:
    """Phases in their pipeline order as the runs recorded them; every cloud's chart shares colours."""
    order: dict[str, None] = {}
    for run in runs:
        for cloud in (run.get("clouds") or {}).values():
            order.update(dict.fromkeys((cloud or {}).get("phases") or {}))
    return list(order)


def _when(ts: object) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC") if isinstance(ts, (int, float)) else "-"


def _runs_table(runs: list[dict[str, Any]]) -> str:
    rows = []
    for number, run in enumerate(runs, start=1):
        clouds = run.get("clouds") or {}
        passed = sum(1 for c in clouds.values() if (c or {}).get("outcome") == "passed")
        rows.append(f"<tr><td>#{number}</td><td>{escape(str(run['run_id']))}</td>"
                    f"<td>{escape(str(run.get('challenge') or '-'))}</td>"
                    f"<td>{escape(str(run.get('stack') or '-'))}</td>"
                    f"<td>{_when(run.get('started'))}</td><td>{passed} of {len(clouds)}</td></tr>")
    return ('<table id="runs"><caption>Runs</caption><tr><th>#</th><th>run</th><th>challenge</th><th>stack</th>'
            f"<th>started</th><th>clouds passed</th></tr>{''.join(rows)}</table>")


def _style(phase: str, phases: list[str]) -> tuple[str, str]:
    index = phases.index(phase)
    return _COLOURS[index % len(_COLOURS)], _DASHES[(index // len(_COLOURS)) % len(_DASHES)]


def _nice_ceiling(value: float) -> float:
    """1, 2 or 5 times a power of ten, at least ``value``: round numbers on the axis."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= value)


def chart_svg(cloud: str, phases: list[str], series: list[dict[str, Any]], palette: list[str]) -> str:
    """Durations of ``cloud``'s phases (lines) over the runs of ``series`` (x, oldest first)."""
    durations = [p.get("duration") for s in series for p in s.values() if isinstance(p.get("duration"), (int, float))]
    top = _nice_ceiling(max(durations, default=0.0))
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM

    def x(i: int) -> float:
        return LEFT + (plot_w / 2 if len(series) == 1 else plot_w * i / (len(series) - 1))

    def y(seconds: float) -> float:
        return TOP + plot_h * (1 - seconds / top)

    ident = f"chart-{_ident(cloud)}"
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {W} {H}" width="{W}" height="{H}" '
             f'aria-labelledby="{ident}-t {ident}-d"><title id="{ident}-t">{escape(cloud)}: phase durations over '
             f'{len(series)} runs</title><desc id="{ident}-d">{escape(_describe(phases, series))}</desc>']
    for tick in (0.0, top / 2, top):  # y axis: 0, half, top, with grid lines
        parts.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#ddd"/>'
                     f'<text x="{LEFT - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" font-size="11">{tick:g} s</text>')
    for i in range(len(series)):
        parts.append(f'<text x="{x(i):.1f}" y="{H - BOTTOM + 16}" text-anchor="middle" font-size="11">#{i + 1}</text>')
    parts.append(f'<text x="{LEFT + plot_w / 2:.0f}" y="{H - 4}" text-anchor="middle" font-size="11">run</text>')
    for phase in phases:
        colour, dash = _style(phase, palette)
        dashes = f' stroke-dasharray="{dash}"' if dash else ""
        segment: list[str] = []
        marks: list[str] = []
        for i, s in enumerate(series + [{}]):  # the sentinel closes the last segment
            point = s.get(phase) or {}
            seconds = point.get("duration")
            if point.get("outcome") == "passed" and isinstance(seconds, (int, float)):
                segment.append(f"{x(i):.1f},{y(seconds):.1f}")
                marks.append(f'<circle cx="{x(i):.1f}" cy="{y(seconds):.1f}" r="3" fill="{colour}"/>')
                continue
            if len(segment) > 1:
                parts.append(f'<polyline points="{" ".join(segment)}" fill="none" stroke="{colour}" '
                             f'stroke-width="2"{dashes}/>')
            segment = []
            if point and isinstance(seconds, (int, float)):  # did not pass: a cross where it stopped
                cx, cy = x(i), y(seconds)
                marks.append(f'<path d="M{cx - 4:.1f},{cy - 4:.1f}l8,8m0,-8l-8,8" stroke="#c5221f" '
                             f'stroke-width="2"/>')
        parts += marks
    parts.append("</svg>")
    return "".join(parts)


def _ident(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text)


def _describe(phases: list[str], series: list[dict[str, Any]]) -> str:
    said = []
    for phase in phases:
        points = [s.get(phase) or {} for s in series]
        ok = [p["duration"] for p in points
              if p.get("outcome") == "passed" and isinstance(p.get("duration"), (int, float))]
        bad = sum(1 for p in points if p and p.get("outcome") != "passed")
        text = f"{phase} {min(ok):.1f} to {max(ok):.1f} s" if ok else f"{phase} never passed"
        said.append(text + (f", did not pass in {bad} runs" if bad else ""))
    return "Seconds per phase, one line per phase, runs oldest first: " + "; ".join(said) + "."


def _legend(phases: list[str], palette: list[str]) -> str:
    items = []
    for phase in phases:
        colour, _ = _style(phase, palette)
        items.append(f'<span><span class="swatch" style="background:{colour}"></span>{escape(phase)}</span>')
    return f'<p class="legend" aria-hidden="true">{"".join(items)}</p>'


def _cloud_table(cloud: str, phases: list[str], series: list[dict[str, Any]]) -> str:
    head = "".join(f"<th>#{i + 1}</th>" for i in range(len(series)))
    rows = []
    for phase in phases:
        cells = []
        for s in series:
            point = s.get(phase)
            if not point:
                cells.append("<td>-</td>")
                continue
            outcome = str(point.get("outcome"))
            seconds = point.get("duration")
            shown = f"{seconds:.2f} s" if isinstance(seconds, (int, float)) else ""
            label = shown if outcome == "passed" else f"{outcome} {shown}".strip()
            cells.append(f'<td class="{escape(outcome)}">{escape(label)}</td>')
        rows.append(f"<tr><th scope=\"row\">{escape(phase)}</th>{''.join(cells)}</tr>")
    return (f'<table class="phases"><caption>{escape(cloud)}: seconds per phase</caption>'
            f"<tr><th>phase</th>{head}</tr>{''.join(rows)}</table>")


def comparison_html(comparison: Comparison) -> str:
    """The comparison as a page: one row per cloud and phase, coloured by verdict."""
    noise = comparison.noise
    rows = []
    for c in comparison.changes:
        a, b = (f"{x['duration']:.2f} s {'' if x.get('outcome') == 'passed' else x.get('outcome')}".strip()
                if x and isinstance(x.get("duration"), (int, float)) else "-" for x in (c.before, c.after))
        rows.append(f'<tr class="{c.verdict.replace("/", "-")}"><td>{escape(c.cloud)}</td><td>{escape(c.phase)}</td>'
                    f"<td>{escape(a)}</td><td>{escape(b)}</td><td>{escape(change_text(c))}</td>"
                    f"<td>{escape(c.note or c.verdict)}</td></tr>")
    counts = ", ".join(f"{n} {escape(v)}" for v, n in sorted(comparison.counts().items()))
    body = (f"<h1>{escape(comparison.run_a)} &rarr; {escape(comparison.run_b)}</h1>"
            f"<p>Same when within {noise.relative:.0%} of run A's time, and at least {noise.absolute_s:g} s. "
            f"Only phases that passed in both runs are compared. {counts}</p>"
            '<table id="compare"><tr><th>cloud</th><th>phase</th><th>A</th><th>B</th><th>change</th>'
            f"<th>verdict</th></tr>{''.join(rows)}</table>")
    return _page(f"Compare {comparison.run_a} and {comparison.run_b}", body)
