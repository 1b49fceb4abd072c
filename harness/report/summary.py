"""The first, plain HTML summary of a run: clouds x phases, rendered from ``events.jsonl``.

>>> render_summary(Path("reports/latest"))        # doctest: +SKIP
PosixPath('reports/latest/index.html')

Only named fields of the record reach the page (outcome, duration, error text, run id and
times); phase ``details`` are not rendered, and everything is HTML-escaped by Jinja2.
"""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from ..record import read_events
from ..stacks import REGISTRY, load_stack
from .model import RunSummary, summarize

_env = Environment(
    loader=PackageLoader("harness.report", "templates"),
    autoescape=True,  # the templates end in .j2, which select_autoescape would not match
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render_summary(run_dir: Path) -> Path:
    """Render ``run_dir/index.html`` from ``run_dir/events.jsonl`` and return its path."""
    run_dir = Path(run_dir)
    summary = summarize(read_events(run_dir / "events.jsonl"))
    html = _env.get_template("summary.html.j2").render(**summary_view(summary, run_dir.name))
    out = run_dir / "index.html"
    tmp = run_dir / f".index.html.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, out)  # a browser refreshing mid-render sees the old page or the new one
    return out


def summary_view(summary: RunSummary, default_run_id: str) -> dict[str, Any]:
    """Plain values for the template: no record object crosses into it."""
    rows = []
    for cloud in summary.clouds:
        cells = []
        for phase in summary.phases:
            result = summary.result(cloud, phase)
            if result is None:
                cells.append({"outcome": "not-run", "label": "not run", "error": None})
            elif result.outcome == "unfinished":
                cells.append({
                    "outcome": "unfinished",
                    "label": f"unfinished (started {_time(result.start)})",
                    "error": None,
                })
            else:
                duration = "" if result.duration is None else f" {result.duration:.2f} s"
                cells.append({
                    "outcome": result.outcome,
                    "label": f"{result.outcome}{duration}",
                    "error": result.error if result.outcome != "passed" else None,
                })
        rows.append({"cloud": cloud, "outcome": summary.cloud_outcome(cloud).replace(" ", "-"), "cells": cells})
    totals = summary.totals()
    passed = totals.get("passed", 0)
    stack_title, stack_columns, stack_rows = stack_view(summary)
    return {
        "checks": checks_view(summary),
        "security_groups": security_group_view(summary),
        "stack_title": stack_title,
        "stack_columns": stack_columns,
        "stack_rows": stack_rows,
        "run_id": summary.run_id or default_run_id,
        "started": _time(summary.started),
        "ended": _time(summary.ended) if summary.ended is not None else "not finished",
        "phases": summary.phases,
        "rows": rows,
        "clouds_total": len(summary.clouds),
        "clouds_passed": passed,
        "clouds_failed": len(summary.clouds) - passed,
        "totals": sorted(totals.items()),
    }


def _figure(value: Any, unit: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "-"
    return f"{value:g} {unit or ''}".strip()


def checks_view(summary: RunSummary) -> list[dict[str, Any]]:
    """The survive phase's verdicts, per cloud: named fields only, as text."""
    return [{"cloud": str(c.get("cloud", "")), "scope": str(c.get("scope", "")), "check": str(c.get("check", "")),
             "outcome": str(c.get("outcome", "")), "value": _figure(c.get("value"), c.get("unit")),
             "threshold": _figure(c.get("threshold"), c.get("unit")), "reason": str(c.get("reason", ""))}
            for c in summary.checks]


def security_group_view(summary: RunSummary) -> list[dict[str, Any]]:
    """Each cloud's security-group rules and audit verdict, as the phase recorded them.

    Only these listed fields are taken from the phase details: rule descriptions and addresses,
    never anything else a phase might have put there.
    """
    view = []
    for cloud in summary.clouds:
        result = summary.result(cloud, "security-groups")
        if result is None or result.outcome != "passed":
            continue
        details = result.details or {}
        view.append({
            "cloud": cloud,
            "harness": ", ".join(map(str, details.get("harness", []) or [])),
            "rules": [str(r) for r in details.get("rules", [])],
            "audit": str(details.get("audit", "")),
        })
    return view


def stack_view(summary: RunSummary) -> tuple[str, list[str], list[dict[str, Any]]]:
    """The run's stack's own table: (title, columns, rows), rows as ``{cloud, cells}``.

    The stack builds each cloud's row from that cloud's phase details; a run whose stack is
    not registered here (a record from elsewhere) has no such table.
    """
    name = summary.info.get("stack")
    if not isinstance(name, str) or name not in REGISTRY:
        return "", [], []
    stack = load_stack(name)
    if stack.report_rows is None:
        return "", [], []
    rows, columns = [], {}
    for cloud in summary.clouds:
        details = {phase: (result.details or {}) for (c, phase), result in summary.results.items() if c == cloud}
        cells = stack.report_rows(details)
        if cells:
            columns.update(dict.fromkeys(cells))
            rows.append({"cloud": cloud, "cells": cells})
    return stack.report_title or stack.name, list(columns), rows


def _time(ts: float | None) -> str:
    if ts is None:
        return "unknown"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
