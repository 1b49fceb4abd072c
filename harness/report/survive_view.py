"""The survive phase as the dashboard shows it, per cloud: throughput over time with the fault
steps marked, and the measured figures against their thresholds.

Read from the record (``check`` events, ``fault`` notes with steps inject/effect/hold/recover/
recovered) and the files the phase writes beside it: ``survive/<cloud>/samples.json`` (one entry
per second of the history: ok, fail, info completions) and ``survive/<cloud>/faults.json`` (each
fault's window on the history's clock). Those files are parsed as JSON here rather than through
``harness.survive`` (a sibling layer); their formats are the survive phase's documented output.

The notes carry epoch times and the samples the history's clock: a fault's ``inject`` step ends
at its window's ``start_s``, which gives the offset between the two for that fault's steps.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from markupsafe import Markup

from .model import RunSummary
from .svg import Bar, Mark, Series, line_chart
from .text import as_text, number, seconds

log = logging.getLogger(__name__)

# a fault note's own fields; the rest are its step's details (rejoin_s, down_after_s...)
_NOTE_FIELDS = ("ts", "note", "cloud", "phase", "fault", "target", "step", "start", "end", "worker", "pid")
# check name -> (what the figure is, how the value must compare with the threshold)
FIGURES = {
    "unavailability": ("unavailability (longest write gap)", "≤"),
    "throughput-ratio": ("throughput ratio during faults", "≥"),
    "recovery-time": ("recovery time (throughput back)", "≤"),
    "set": ("acknowledged writes lost", "≤"),
    "bank": ("bank invariant (total unchanged)", "="),
    "split-brain": ("split brain after a heal", "≤"),
}


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:  # a report still renders around one unreadable file
        log.warning("%s: unreadable: %s", path, exc)
        return None


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def fault_runs(summary: RunSummary, cloud: str) -> list[dict[str, Any]]:
    """The cloud's faults from its ``fault`` notes, each ``{fault, target, steps: [{step, start,
    end, details}]}`` in record order; a new fault begins at each ``inject``."""
    runs: list[dict[str, Any]] = []
    for note in summary.notes:
        if note.get("note") != "fault" or note.get("cloud") != cloud:
            continue
        if note.get("step") == "inject" or not runs:
            runs.append({"fault": str(note.get("fault", "?")), "target": str(note.get("target", "?")), "steps": []})
        extra = {k: v for k, v in note.items() if k not in _NOTE_FIELDS}
        runs[-1]["steps"].append({"step": str(note.get("step", "?")), "start": _num(note.get("start")),
                                  "end": _num(note.get("end")), "extra": extra,
                                  "details": as_text(extra) if extra else ""})
    return runs


def figures(checks: list[dict[str, Any]], runs: list[dict[str, Any]],
            max_rejoin_s: float | None) -> list[dict[str, str]]:
    """The table of measured figures against thresholds; only named fields of the checks."""
    rows = []
    for c in checks:
        name = str(c.get("check", ""))
        label, cmp = FIGURES.get(name, (name, "threshold"))
        unit = str(c.get("unit") or "")
        threshold = c.get("threshold")
        rows.append({"check": name, "label": label, "scope": str(c.get("scope", "")),
                     "outcome": str(c.get("outcome", "")),
                     "value": f"{number(c.get('value'))} {unit}".strip() if _num(c.get("value")) is not None else "-",
                     "threshold": f"{cmp} {number(threshold)} {unit}".strip() if _num(threshold) is not None else "-",
                     "reason": str(c.get("reason", ""))})
        details: dict[str, Any] = c["details"] if isinstance(c.get("details"), dict) else {}
        if name == "set" and isinstance(details.get("unknown"), int):  # counted apart: neither lost nor kept
            rows.append({"check": "unknown", "label": "unknown outcomes (not counted as lost)",
                         "scope": rows[-1]["scope"],
                         "outcome": "info", "value": f"{details['unknown']} writes", "threshold": "-",
                         "reason": "a lost connection at COMMIT: the write may or may not have happened"})
    for run in runs:
        for step in run["steps"]:
            if step["step"] != "recovered":
                continue
            rejoin = _num(step["extra"].get("rejoin_s"))
            over = rejoin is not None and max_rejoin_s is not None and rejoin > max_rejoin_s
            rows.append({"check": "rejoin", "label": f"rejoin after {run['fault']} of {run['target']}", "scope": "",
                         "outcome": "failed" if over else "info",
                         "value": seconds(rejoin) if rejoin is not None else "-",
                         "threshold": f"≤ {seconds(max_rejoin_s)}" if max_rejoin_s is not None else "-",
                         "reason": "until every expected member was healthy again"})
    return rows


def _chart(cloud: str, samples: list[dict[str, Any]], windows: list[dict[str, Any]],
           runs: list[dict[str, Any]]) -> Markup:
    ok = tuple((float(s["second"]), float(s.get("ok") or 0)) for s in samples)
    bad = tuple((float(s["second"]), float((s.get("fail") or 0) + (s.get("info") or 0))) for s in samples)
    x0, x1 = ok[0][0], ok[-1][0] + 1
    bands, marks = [], []
    for i, w in enumerate(windows):
        start, healed = _num(w.get("start_s")), _num(w.get("healed_s"))
        if start is None or healed is None:
            continue
        bands.append(Bar(start, healed, "fault", f"{w.get('name', 'fault')}: in force from {number(start)} s to "
                                                 f"{number(healed)} s (recovery started)"))
        run = runs[i] if i < len(runs) else None
        inject = next((s for s in run["steps"] if s["step"] == "inject"), None) if run else None
        if run is None or inject is None or inject["end"] is None:
            continue
        offset = start - inject["end"]  # epoch -> the history's clock, for this fault
        for step in run["steps"]:
            if step["start"] is not None:
                at = step["start"] + offset
                marks.append(Mark(at, step["step"], f"{run['fault']} {step['step']} at {number(at)} s "
                                                    f"({seconds((step['end'] or step['start']) - step['start'])})"))
    peak = max((y for _, y in ok), default=0)
    desc = (f"Operations per second of the workload during {cloud}'s turn, over {seconds(x1 - x0)} of history; "
            f"peak {number(peak)} ok per second; shaded: {len(bands)} fault windows; vertical lines: fault steps. "
            "The figures are in the table below.")
    return line_chart((Series("ok operations per second", "ok", ok),
                       Series("failed or unknown operations per second", "bad", bad)),
                      x_range=(x0, x1), ident=f"throughput-{cloud}", title=f"{cloud}: throughput under faults",
                      desc=desc, y_label="operations per second", bands=bands, marks=marks)


def survive_view(summary: RunSummary, run_dir: Path) -> list[dict[str, Any]]:
    """One entry per cloud with anything of the survive phase: chart, figures, fault steps."""
    survival = summary.info.get("survival") if isinstance(summary.info.get("survival"), dict) else {}
    max_rejoin = _num(survival.get("max_rejoin_s")) if survival else None
    out = []
    for cloud in summary.clouds:
        checks = [c for c in summary.checks if c.get("cloud") == cloud]
        runs = fault_runs(summary, cloud)
        result = summary.result(cloud, "survive")
        safe = "/" not in cloud and not cloud.startswith(".")
        where = run_dir / "survive" / cloud
        raw = _json(where / "samples.json") if safe else None
        samples = [s for s in (raw if isinstance(raw, list) else [])
                   if isinstance(s, dict) and _num(s.get("second")) is not None]
        doc = _json(where / "faults.json") if safe else None
        windows = [w for w in doc.get("faults", []) if isinstance(w, dict)] if isinstance(doc, dict) else []
        if not (checks or runs or samples or result):
            continue
        skipped = (result.details or {}).get("skipped") if result is not None else None
        out.append({
            "cloud": cloud,
            "outcome": result.outcome if result is not None else "not-run",
            "svg": _chart(cloud, samples, windows, runs) if samples else Markup(""),
            "samples": len(samples),
            "figures": figures(checks, runs, max_rejoin),
            "faults": [{"fault": r["fault"], "target": r["target"],
                        "steps": [{"step": s["step"], "took": seconds((s["end"] or 0) - (s["start"] or 0))
                                   if s["start"] is not None and s["end"] is not None else "-",
                                   "details": s["details"]} for s in r["steps"]]} for r in runs],
            "skipped": as_text(skipped) if skipped else "",
        })
    return out
