"""Clouds x phases as the dashboard shows them: every cell with its outcome, its duration and,
when it did not pass, why; the slowest cloud of each phase; the run's verdict.

The engine records no event for a phase it skips after an earlier failure (it raises before the
phase timer starts), so a missing cell's reason is derived from the record: the cloud's earlier
phase that failed, a phase still unfinished, or a run that has not ended.

>>> cells = matrix(summary, phase_order(summary))                 # doctest: +SKIP
>>> cells[0]["cells"][1]["label"], cells[0]["cells"][1]["reason"]  # doctest: +SKIP
('not run', 'not run: identity failed')
"""

from __future__ import annotations

import re
from typing import Any

from ..provision.pipeline import pipeline_for
from ..stacks import REGISTRY, load_stack
from .model import RunSummary
from .text import clock, seconds

BAD = ("failed", "error", "timeout")
# not colour alone: each outcome has a symbol and a word
SYMBOLS = {"passed": "✓", "failed": "✗", "error": "‼", "timeout": "◷", "skipped": "↷", "unfinished": "…",
           "not-run": "○", "aborted": "‼", "rendered": "◇"}
WORDS = {"failed": "failed", "error": "errored", "timeout": "timed out", "unfinished": "unfinished"}
_SKIPPED_AFTER = re.compile(r"^cloud \S+ failed in phase (\S+): ")
REASON_CHARS = 240  # the matrix shows the start of a long reason; the cloud page has all of it


def phase_order(summary: RunSummary) -> list[str]:
    """The pipeline's phases in order, so phases no cloud reached still get a column.

    From run-start's ``phases`` when recorded, else from the registered stack's pipeline; phases
    of the record that neither names (a record from elsewhere) follow in first-seen order.
    """
    recorded = summary.info.get("phases")
    if isinstance(recorded, list) and all(isinstance(p, str) for p in recorded):
        order = list(recorded)
    else:
        stack = summary.info.get("stack")
        order = list(pipeline_for(load_stack(stack)).names()) if isinstance(stack, str) and stack in REGISTRY else []
    return order + [p for p in recorded_order(summary) if p not in order]


def recorded_order(summary: RunSummary) -> list[str]:
    """The phases in the order the clouds ran them: each cloud's phases by start time give
    "a before b" pairs, sorted topologically, ties (and any cycle) in first-seen order.

    First-seen order alone is wrong: a cloud that failed early reaches teardown before the
    others reach their middle phases.
    """
    after: dict[str, set[str]] = {p: set() for p in summary.phases}
    before_count = dict.fromkeys(summary.phases, 0)
    for cloud in summary.clouds:
        mine = sorted((r for (c, _), r in summary.results.items() if c == cloud), key=lambda r: r.start)
        for a, b in zip(mine, mine[1:], strict=False):
            if b.phase not in after[a.phase] and a.phase != b.phase:
                after[a.phase].add(b.phase)
                before_count[b.phase] += 1
    order: list[str] = []
    left = list(summary.phases)
    while left:
        ready = next((p for p in left if before_count[p] == 0), left[0])  # left[0]: a cycle, keep going
        left.remove(ready)
        order.append(ready)
        for later in after[ready]:
            before_count[later] -= 1
    return order


def why_not_run(summary: RunSummary, cloud: str, phase: str, order: list[str]) -> str:
    """Why ``cloud`` has no record of ``phase``: what the record says, or the best derivation."""
    earlier = order[: order.index(phase)] if phase in order else order
    for before in earlier:
        result = summary.result(cloud, before)
        if result is not None and result.outcome in BAD:
            return f"not run: {before} {WORDS[result.outcome]}"
        if result is not None and result.outcome == "unfinished":
            return f"not run: {before} never finished"
        if result is not None and result.outcome == "rendered":
            return f"not run: a dry run ({before} was rendered, not run)"
    if summary.ended is None:
        return "not run yet: the run has not ended"
    if not any(c == cloud for c, _ in summary.results):
        return "not run: no phase of this cloud was recorded"
    return "not run: skipped before it started (the record gives no reason)"


def _cell(summary: RunSummary, cloud: str, phase: str, order: list[str]) -> dict[str, Any]:
    result = summary.result(cloud, phase)
    if result is None:
        reason = why_not_run(summary, cloud, phase, order)
        return {"phase": phase, "outcome": "not-run", "label": "not run", "reason": reason, "full": reason,
                "duration": None}
    outcome = result.outcome
    if outcome == "unfinished":
        reason = f"started {clock(result.start)}, no end recorded"
        return {"phase": phase, "outcome": outcome, "label": "unfinished", "reason": reason, "full": reason,
                "duration": None}
    duration = seconds(result.duration) if result.duration is not None else ""
    full = result.error or ""
    reason = full
    if outcome == "skipped":
        after = _SKIPPED_AFTER.match(full)
        reason = f"skipped: {after.group(1)} failed" if after else f"skipped: {full}" if full else "skipped"
    elif outcome != "passed":
        reason = full or f"{outcome} (the record gives no reason)"
    if len(reason) > REASON_CHARS:
        reason = reason[:REASON_CHARS] + "…"
    return {"phase": phase, "outcome": outcome, "label": f"{outcome} {duration}".strip(), "reason": reason,
            "full": full or reason, "duration": result.duration}


def matrix(summary: RunSummary, order: list[str]) -> list[dict[str, Any]]:
    """One row per cloud (sorted), one cell per phase of ``order``; the slowest passed cell of each
    phase (two clouds or more) is marked ``slowest``."""
    rows: list[dict[str, Any]] = [{"cloud": cloud, "outcome": summary.cloud_outcome(cloud).replace(" ", "-"),
                                   "cells": [_cell(summary, cloud, phase, order) for phase in order]}
                                  for cloud in summary.clouds]
    for i in range(len(order)):
        timed = [(row["cells"][i]["duration"], row["cloud"]) for row in rows
                 if row["cells"][i]["outcome"] == "passed" and row["cells"][i]["duration"] is not None]
        slowest = max(timed)[1] if len(timed) > 1 else None
        for row in rows:
            cell = row["cells"][i]
            cell["slowest"] = row["cloud"] == slowest
            cell["symbol"] = SYMBOLS.get(cell["outcome"], "?")
            cell["took"] = seconds(cell["duration"]) if cell["duration"] is not None else "-"
    return rows


def run_verdict(summary: RunSummary) -> tuple[str, str]:
    """The run's one word and why, SovereignCloudStack-style: ABORT = the harness or its
    infrastructure broke (an ``error`` phase, an ``aborted`` check), FAIL = a cloud misbehaved."""
    outcomes = {c: summary.cloud_outcome(c) for c in summary.clouds}
    if not outcomes:
        return "EMPTY", "no cloud in the record"
    unfinished = sorted(c for c, o in outcomes.items() if o == "unfinished")
    if summary.ended is None or unfinished:
        why = f"unfinished: {', '.join(unfinished)}" if unfinished else "the run has not ended"
        return "INCOMPLETE", why
    errored = sorted(c for c, o in outcomes.items() if o == "error")
    aborted = sorted({str(c.get("cloud")) for c in summary.checks if c.get("outcome") == "aborted"})
    if errored or aborted:
        return "ABORT", "harness error on " + ", ".join(sorted({*errored, *aborted}))
    failed = sorted(c for c, o in outcomes.items() if o in ("failed", "timeout"))
    if failed:
        return "FAIL", "failed: " + ", ".join(failed)
    rendered = sorted(c for c, o in outcomes.items() if o == "rendered")
    if rendered or summary.info.get("dry_run"):
        # never PASS: a dry run checked provisioning and rendering, not the workload
        return "DRY RUN", (f"rendered, not run, on {len(rendered)} of {len(outcomes)} clouds "
                           "(interop run --dry-run): what ran for real passed")
    if all(o == "passed" for o in outcomes.values()):
        return "PASS", f"all {len(outcomes)} clouds passed"
    return "N/A", "no cloud ran a phase to the end"
