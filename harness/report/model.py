"""The record folded for reports: clouds x phases, the run's info and its notes.

Every report reads a :class:`RunSummary` made by :func:`summarize` from ``events.jsonl``
(:mod:`harness.record`), never logs.

>>> s = summarize(read_events(Path("reports/latest/events.jsonl")))   # doctest: +SKIP
>>> s.result("lab1", "deploy").duration, s.cloud_outcome("lab1")     # doctest: +SKIP
(41.2, 'passed')
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from ..record import Outcome, PhaseResult


@dataclass
class RunSummary:
    """The record folded into clouds x phases (the last word on each pair wins)."""

    run_id: str | None
    started: float | None
    ended: float | None  # None: no run-end (still running, or crashed)
    clouds: list[str]
    phases: list[str]
    results: dict[tuple[str, str], PhaseResult]
    info: dict[str, Any] = field(default_factory=dict)
    # ``note`` events (e.g. a cloud's join time, an Ansible play's timing), in record order
    notes: list[dict[str, Any]] = field(default_factory=list)
    schema: int | None = None  # the record schema version of run-start (None: before versions)
    # ``check`` events (the survive phase's verdicts), in record order
    checks: list[dict[str, Any]] = field(default_factory=list)

    def result(self, cloud: str, phase: str) -> PhaseResult | None:
        return self.results.get((cloud, phase))

    def cloud_outcome(self, cloud: str) -> Outcome | Literal["not run"]:
        """The worst outcome of the cloud's phases; skipped phases alone do not fail it, and a
        rendered phase (a dry run) keeps it from passing."""
        outcomes = {r.outcome for (c, _), r in self.results.items() if c == cloud}
        for worst in ("unfinished", "error", "timeout", "failed"):
            if worst in outcomes:
                return worst
        if "rendered" in outcomes:  # a dry run: what it ran passed, but not everything ran
            return "rendered"
        if "passed" in outcomes:
            return "passed"
        return "skipped" if outcomes else "not run"

    def planned_phases(self) -> list[str]:
        """Every phase of the run in pipeline order: run-start's ``phases`` when it lists them,
        else the phases some cloud recorded (a phase no cloud reached is then unknown)."""
        listed = self.info.get("phases")
        if isinstance(listed, list) and all(isinstance(p, str) for p in listed):
            return [*listed, *(p for p in self.phases if p not in listed)]
        return list(self.phases)

    def first_rendered(self, cloud: str) -> PhaseResult | None:
        """The cloud's earliest phase a dry run only rendered: why its later phases did not run."""
        done = [r for (c, _), r in self.results.items() if c == cloud and r.outcome == "rendered"]
        return min(done, key=lambda r: r.start, default=None)

    def first_failure(self, cloud: str) -> PhaseResult | None:
        """The cloud's earliest phase that did not pass or skip: why its later phases were skipped."""
        bad = [r for (c, _), r in self.results.items() if c == cloud and r.outcome in ("failed", "error", "timeout")]
        return min(bad, key=lambda r: r.start, default=None)

    def totals(self) -> dict[str, int]:
        """Clouds per overall outcome, e.g. ``{"passed": 3, "failed": 1}``."""
        counts: dict[str, int] = {}
        for cloud in self.clouds:
            outcome = self.cloud_outcome(cloud)
            counts[outcome] = counts.get(outcome, 0) + 1
        return counts


def summarize(events: Iterable[dict[str, Any]]) -> RunSummary:
    """Fold events into a :class:`RunSummary`.

    Clouds are sorted, phases keep their first-seen order. A phase-start not followed by a
    phase-end for the same cloud and phase is ``unfinished`` (the worker died or still runs).
    """
    run_id: str | None = None
    started: float | None = None
    ended: float | None = None
    first_ts: float | None = None
    info: dict[str, Any] = {}
    clouds: set[str] = set()
    phases: dict[str, None] = {}
    results: dict[tuple[str, str], PhaseResult] = {}
    notes: list[dict[str, Any]] = []
    checks: list[dict[str, Any]] = []
    schema: int | None = None
    for event in events:
        kind = event.get("type")
        ts = _float(event.get("ts"))
        if ts is not None and (first_ts is None or ts < first_ts):
            first_ts = ts
        if kind == "run-start":
            run_id = event.get("run_id", run_id)
            started = ts
            info = {k: v for k, v in event.items() if k not in ("type", "ts")}
            schema = event.get("schema") if isinstance(event.get("schema"), int) else None
            clouds.update(c for c in event.get("clouds", ()) if isinstance(c, str))
        elif kind == "run-end":
            ended = ts
        elif kind == "note":
            notes.append({k: v for k, v in event.items() if k != "type"})
        elif kind == "check":
            checks.append({k: v for k, v in event.items() if k != "type"})
        elif kind in ("phase-start", "phase-end"):
            cloud, phase = event.get("cloud"), event.get("phase")
            if not isinstance(cloud, str) or not isinstance(phase, str):
                continue
            clouds.add(cloud)
            phases.setdefault(phase, None)
            start = _float(event.get("start")) or ts or 0.0
            if kind == "phase-start":
                results[cloud, phase] = PhaseResult(cloud, phase, "unfinished", start)
            else:
                results[cloud, phase] = PhaseResult(
                    cloud=cloud,
                    phase=phase,
                    outcome=_outcome(event.get("outcome")),
                    start=start,
                    end=_float(event.get("end")),
                    duration=_float(event.get("duration")),
                    error=event.get("error"),
                    details=event.get("details") or {},
                )
    return RunSummary(
        run_id=run_id,
        started=started if started is not None else first_ts,
        ended=ended,
        clouds=sorted(clouds),
        phases=list(phases),
        results=results,
        info=info,
        notes=notes,
        checks=checks,
        schema=schema,
    )


def _outcome(value: object) -> Outcome:
    """A recorded outcome; anything unknown is the harness's fault, so "error"."""
    known: tuple[Outcome, ...] = ("passed", "failed", "error", "timeout", "skipped", "rendered")
    return next((o for o in known if o == value), "error")


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
