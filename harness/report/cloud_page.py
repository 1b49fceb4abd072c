"""A page per cloud, ``clouds/<cloud>.html``, that a vendor can hand to a customer: its phases,
its Ansible plays, its security groups with their audit, its errors in full, its survive figures
and links to its raw artifacts (relative, so the run directory can be moved or archived).

>>> cloud_view(summary, row, run_dir, survive=None)["plays"][0]        # doctest: +SKIP
{'label': 'configure', 'play': 'Check the hosts', 'start': '+3.00 s', 'took': '2.98 s'}
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .model import RunSummary
from .sections import security_groups, stack_table
from .text import as_text, clock, file_name, seconds

ARTIFACT_LIMIT = 200  # links listed per cloud; a run with more says how many it left out
# where a cloud's raw files are, relative to the run directory
ARTIFACT_DIRS = ("artifacts", "survive")


def page_path(cloud: str) -> str:
    """The cloud page's path relative to the run directory (what index.html links to)."""
    return f"clouds/{file_name(cloud)}.html"


def artifacts(run_dir: Path, cloud: str) -> tuple[list[dict[str, str]], int]:
    """Links to the cloud's raw files (``artifacts/<cloud>/``, ``survive/<cloud>/``), sorted, and
    how many more there are than :data:`ARTIFACT_LIMIT`."""
    if "/" in cloud or cloud.startswith("."):
        return [], 0
    found: list[str] = []
    for top in ARTIFACT_DIRS:
        base = run_dir / top / cloud
        for root, dirs, files in os.walk(base):
            dirs.sort()
            found += [os.path.relpath(os.path.join(root, f), run_dir) for f in sorted(files)]
    found.sort()
    links = [{"name": path, "href": "../" + path} for path in found[:ARTIFACT_LIMIT]]
    return links, max(0, len(found) - ARTIFACT_LIMIT)


def plays(summary: RunSummary, cloud: str, t0: float | None) -> list[dict[str, str]]:
    """The cloud's Ansible plays, from the ``ansible-play`` notes, in record order."""
    out = []
    for note in summary.notes:
        if note.get("note") != "ansible-play" or note.get("cloud") != cloud:
            continue
        start = note.get("start")
        at = f"+{seconds(start - t0)}" if isinstance(start, (int, float)) and t0 is not None else "-"
        out.append({"label": str(note.get("label") or note.get("phase") or ""), "play": str(note.get("play", "")),
                    "start": at, "took": seconds(note.get("duration"))})
    return out


def other_notes(summary: RunSummary, cloud: str) -> list[dict[str, str]]:
    """Timings the phases noted besides plays and fault steps (a join time, say), as text."""
    out = []
    for note in summary.notes:
        if note.get("cloud") != cloud or note.get("note") in ("ansible-play", "fault"):
            continue
        value = note.get("seconds")
        extra = {k: v for k, v in note.items() if k in ("members", "name")}
        out.append({"phase": str(note.get("phase", "")), "note": str(note.get("note", "")),
                    "value": seconds(value) if isinstance(value, (int, float)) else "-",
                    "details": as_text(extra) if extra else ""})
    return out


def cloud_view(summary: RunSummary, row: dict[str, Any], run_dir: Path, *, t0: float | None,
               survive: dict[str, Any] | None) -> dict[str, Any]:
    """Plain values for ``cloud.html.j2``; ``row`` is the cloud's matrix row (cells with reasons)."""
    cloud = row["cloud"]
    phases = []
    for cell in row["cells"]:
        result = summary.result(cloud, cell["phase"])
        start = result.start if result is not None else None
        phases.append({**cell, "start": clock(start) if start is not None else "-",
                       "offset": f"+{seconds(start - t0)}" if start is not None and t0 is not None else "-"})
    errors = [{"phase": c["phase"], "outcome": c["outcome"], "reason": c["full"]}
              for c in row["cells"] if c["outcome"] not in ("passed", "not-run") and c["full"]]
    title, columns, stack_rows = stack_table(summary, [cloud])
    links, more = artifacts(run_dir, cloud)
    verdicts = [c for c in summary.checks if c.get("cloud") == cloud]
    return {
        "cloud": cloud,
        "outcome": row["outcome"],
        "run_id": summary.run_id or run_dir.name,
        "phases": phases,
        "errors": errors,
        "plays": plays(summary, cloud, t0),
        "notes": other_notes(summary, cloud),
        "security_groups": security_groups(summary, cloud),
        "stack_title": title,
        "stack_cells": [(column, stack_rows[0]["cells"].get(column, [])) for column in columns] if stack_rows else [],
        "survive": survive,
        "checks_total": len(verdicts),
        "checks_passed": sum(1 for c in verdicts if c.get("outcome") == "passed"),
        "artifacts": links,
        "artifacts_more": more,
    }
