"""The run's dashboard, ``reports/<run-id>/index.html``, and a page per cloud, ``clouds/<cloud>.html``.

One self-contained file each: inline CSS, charts as inline SVG (:mod:`.svg`), no script, so a
page opened from disk, offline or printed shows everything. Everything comes from the fold of
the record (:func:`harness.report.model.summarize`) and the survive phase's files; Jinja2
escapes every value, and phase details reach a page only through named fields.

>>> render_dashboard(Path("reports/latest"))        # doctest: +SKIP
PosixPath('reports/latest/index.html')
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from ..record import read_events
from .cloud_page import cloud_view, page_path
from .matrix import SYMBOLS, matrix, phase_order, run_verdict
from .model import RunSummary, summarize
from .sections import stack_table
from .survive_view import survive_view
from .text import clock, seconds, write_atomic
from .timeline import timeline_view

_env = Environment(
    loader=PackageLoader("harness.report", "templates"),
    autoescape=True,  # the templates end in .j2, which select_autoescape would not match
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
LEGEND = ("passed", "failed", "error", "timeout", "skipped", "rendered", "unfinished", "not-run")


def challenge_name(summary: RunSummary) -> str:
    """The challenge file's ``name:`` as run-start recorded it, else the challenge file's stem."""
    name = summary.info.get("name")
    if isinstance(name, str) and name.strip():
        return name.strip()
    path = summary.info.get("challenge")
    return f"Interop challenge ({Path(path).stem})" if isinstance(path, str) and path else "Interop challenge"


def dashboard_view(summary: RunSummary, run_dir: Path) -> dict[str, Any]:
    """Plain values for ``index.html.j2`` (no record object crosses into the template), plus
    ``_rows``/``_survive``/``_t0`` that the cloud pages reuse."""
    order = phase_order(summary)
    rows = matrix(summary, order)
    for row in rows:
        row["href"] = page_path(row["cloud"])
    timeline = timeline_view(summary, order)
    survive = survive_view(summary, run_dir)
    totals = summary.totals()
    passed = totals.get("passed", 0)
    failed = sum(totals.get(o, 0) for o in ("failed", "timeout", "error"))
    verdict, why = run_verdict(summary)
    stack_title, stack_columns, stack_rows = stack_table(summary)
    started = summary.started
    ended = summary.ended
    took = f" ({seconds(ended - started)})" if started is not None and ended is not None else ""
    return {
        "name": challenge_name(summary),
        "run_id": summary.run_id or run_dir.name,
        "stack": str(summary.info.get("stack") or "unknown"),
        "started": clock(started),
        "ended": clock(ended) + took if ended is not None else "not finished",
        "verdict": verdict,
        "verdict_why": why,
        "clouds_total": len(summary.clouds),
        "clouds_passed": passed,
        "clouds_failed": failed,
        "totals": sorted(totals.items()),
        "phases": order,
        "rows": rows,
        "legend": [(o, SYMBOLS[o]) for o in LEGEND],
        "timeline": timeline,
        "stack_title": stack_title,
        "stack_columns": stack_columns,
        "stack_rows": stack_rows,
        "survive": survive,
    }


def render_dashboard(run_dir: Path) -> Path:
    """Render ``run_dir/index.html`` and ``run_dir/clouds/<cloud>.html`` from ``run_dir/events.jsonl``;
    return the index's path. Pages are replaced atomically (see :func:`.text.write_atomic`)."""
    run_dir = Path(run_dir)
    summary = summarize(read_events(run_dir / "events.jsonl"))
    view = dashboard_view(summary, run_dir)
    survive = {s["cloud"]: s for s in view["survive"]}
    page = _env.get_template("cloud.html.j2")
    for row in view["rows"]:
        cloud = cloud_view(summary, row, run_dir, t0=view["timeline"]["t0"], survive=survive.get(row["cloud"]))
        write_atomic(run_dir / row["href"], page.render(**cloud))
    return write_atomic(run_dir / "index.html", _env.get_template("index.html.j2").render(**view))
