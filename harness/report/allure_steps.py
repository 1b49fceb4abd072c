"""What the record says happened inside one phase of one cloud, as Allure steps and attachments.

Plain dicts in the Allure results format (allure-python-commons' ``model2`` field names), so
:mod:`harness.report.allure_results` can put them into the result files allure-pytest wrote.
Every time comes from the record (epoch seconds -> ms), never from the test's own clock: the
phase ran in a lane thread, not in the test.

>>> steps = phase_steps(summary, "lab1", "configure")        # doctest: +SKIP
>>> [s["name"] for s in steps]                                 # doctest: +SKIP
['ansible configure', ...]
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..configure.scrub import scrub, scrub_value
from ..record import PhaseResult
from .model import RunSummary

# record outcome -> Allure status: a cloud's misbehaviour is "failed", the harness's own
# trouble (an error, a phase that never ended, a check that could not measure) is "broken"
STATUS = {"passed": "passed", "failed": "failed", "timeout": "failed", "skipped": "skipped",
          "error": "broken", "unfinished": "broken", "aborted": "broken"}


def ms(seconds: float) -> int:
    """Epoch seconds -> the epoch milliseconds Allure stores."""
    return int(round(seconds * 1000))


def status_of(outcome: object) -> str:
    return STATUS.get(str(outcome), "broken")


@dataclass(frozen=True)
class Attachment:
    """A file to write beside the results: its text goes through :func:`scrub` on the way."""

    name: str
    text: str
    mime: str  # text/plain or application/json
    ext: str


def _step(name: str, status: str, start: float, stop: float, *, steps: Sequence[dict[str, Any]] = (),
          parameters: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "status": status, "stage": "finished", "start": ms(start), "stop": ms(stop),
            "steps": list(steps), "attachments": [],
            "parameters": [{"name": k, "value": _text(v)} for k, v in (parameters or {}).items()]}


def _text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str, separators=(", ", ": "))


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _notes(summary: RunSummary, cloud: str, phase: str, kind: str) -> list[dict[str, Any]]:
    return [n for n in summary.notes if n.get("note") == kind and n.get("cloud") == cloud and n.get("phase") == phase
            and _float(n.get("start")) is not None and _float(n.get("end")) is not None]


def ansible_steps(summary: RunSummary, cloud: str, phase: str, result: PhaseResult | None) -> list[dict[str, Any]]:
    """A step per playbook run (its label), a sub-step per play, each with the play's own times.

    A play note has no outcome of its own. In a phase that passed every play passed (a failed
    host fails the playbook, and so the phase); otherwise the plays' outcome is "unknown".
    """
    status = "passed" if result is not None and result.outcome == "passed" else "unknown"
    by_label: dict[str, list[dict[str, Any]]] = {}
    for note in _notes(summary, cloud, phase, "ansible-play"):
        by_label.setdefault(str(note.get("label") or phase), []).append(note)
    steps = []
    for label, plays in by_label.items():
        children = [_step(f"play: {n.get('play') or '(unnamed)'}", status, float(n["start"]), float(n["end"]))
                    for n in plays]
        steps.append(_step(f"ansible {label}", status, min(float(n["start"]) for n in plays),
                           max(float(n["end"]) for n in plays), steps=children, parameters={"label": label}))
    return steps


def fault_steps(summary: RunSummary, cloud: str, phase: str, secrets: Sequence[str] = ()) -> list[dict[str, Any]]:
    """A step per fault injected on this cloud (``kill-leader on lab1-db-1``), a sub-step per
    lifecycle step (inject, effect, recover, recovered) with its details as parameters.

    A step is noted only once it completed, so each is "passed"; a fault that did not recover
    shows as the steps it reached (the phase's own status says it failed).
    """
    groups: list[tuple[str, list[dict[str, Any]]]] = []
    for note in _notes(summary, cloud, phase, "fault"):
        title = f"{note.get('fault')} on {note.get('target')}"
        if not groups or groups[-1][0] != title or note.get("step") == "inject":
            groups.append((title, []))
        groups[-1][1].append(note)
    steps = []
    for title, notes in groups:
        children = []
        for n in notes:
            details = {k: v for k, v in n.items()
                       if k not in ("note", "cloud", "phase", "fault", "target", "step", "start", "end", "ts",
                                    "worker", "pid")}
            children.append(_step(str(n.get("step")), "passed", float(n["start"]), float(n["end"]),
                                  parameters=scrub_value(details, secrets)))
        steps.append(_step(f"fault {title}", "passed", min(float(n["start"]) for n in notes),
                           max(float(n["end"]) for n in notes), steps=children))
    return steps


def _checks(summary: RunSummary, cloud: str, phase: str) -> list[dict[str, Any]]:
    return [c for c in summary.checks if c.get("cloud") == cloud and c.get("phase", "survive") == phase
            and c.get("check")]


def check_steps(summary: RunSummary, cloud: str, phase: str) -> list[dict[str, Any]]:
    """A zero-length step per survivability verdict, at the time it was recorded."""
    steps = []
    for c in _checks(summary, cloud, phase):
        at = _float(c.get("ts")) or 0.0
        scope = "" if c.get("scope") in (None, cloud) else f" [{c.get('scope')}]"
        steps.append(_step(f"check {c['check']}{scope}: {c.get('outcome')}", status_of(c.get("outcome")), at, at,
                           parameters={"value": c.get("value"), "unit": c.get("unit"),
                                       "threshold": c.get("threshold"), "reason": scrub(str(c.get("reason") or ""))}))
    return steps


def phase_steps(summary: RunSummary, cloud: str, phase: str, secrets: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Every step of the phase from the record, in time order."""
    result = summary.result(cloud, phase)
    steps = [*ansible_steps(summary, cloud, phase, result), *fault_steps(summary, cloud, phase, secrets),
             *check_steps(summary, cloud, phase)]
    return sorted(steps, key=lambda s: (s["start"], s["stop"]))


def phase_attachments(run_dir: Path, summary: RunSummary, cloud: str, phase: str) -> list[Attachment]:
    """The evidence of one phase: each playbook's output, the cluster status, the survive summary."""
    found: list[Attachment] = []
    artifacts = run_dir / "artifacts" / cloud
    labels = dict.fromkeys(str(n.get("label") or phase) for n in _notes(summary, cloud, phase, "ansible-play"))
    for label in labels:
        stdout = artifacts / f"ansible-{label}" / "stdout.txt"
        if stdout.is_file():
            found.append(Attachment(f"ansible {label} output", stdout.read_text(errors="replace"), "text/plain", "txt"))
    result = summary.result(cloud, phase)
    if result is not None and _names_status(result, run_dir, artifacts / "cluster-status.json"):
        found.append(Attachment("cluster status", (artifacts / "cluster-status.json").read_text(errors="replace"),
                                "application/json", "json"))
    checks = _checks(summary, cloud, phase)
    if checks:
        found.append(Attachment("survive summary", json.dumps(_survive_summary(checks), indent=1, default=str) + "\n",
                                "application/json", "json"))
    return found


def _names_status(result: PhaseResult, run_dir: Path, status: Path) -> bool:
    """The phase that saved the cluster status (its details name the file), else deploy."""
    if not status.is_file():
        return False
    named = result.details.get("status_artifact") if isinstance(result.details, dict) else None
    if isinstance(named, str):
        return (run_dir / named).resolve() == status.resolve()
    return result.phase == "deploy"


def _survive_summary(checks: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The verdicts without their bulky details (first-N lists stay in the record)."""
    keep = ("check", "scope", "outcome", "value", "unit", "threshold", "reason")
    return [{k: c.get(k) for k in keep} for c in checks]
