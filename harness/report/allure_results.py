"""allure-pytest's results of a run, made to tell the record's story: run end and ``interop report``.

allure-pytest writes one ``<uuid>-result.json`` per test in the worker that ran it. A
scenario test only waits for its phase, which a lane thread runs (harness.lanes): the phase
may have ended before the test started, or the test waited for earlier phases too. So the
test's own start/stop are not the phase's, and Ansible plays or fault steps, which happen in
the lane, never reach allure's per-thread step stack. :func:`apply_record` therefore rewrites
each scenario result from the record, the one source every report uses:

* start/stop = the phase's ``phase-start``/``phase-end`` (epoch ms), so durations match the
  dashboard and JUnit to the millisecond, and the status is the record's outcome;
* the suite labels (challenge + run id / cloud / phase) and ``cloud``, ``phase``, ``stack``;
* steps: Ansible plays and fault steps with their own times, the survive verdicts;
* attachments: each playbook's output, the cluster status, the survive summary;
* free text (status details, every text attachment, allure-pytest's captured output
  included) through :func:`scrub`.

It is idempotent (our attachments have names derived from the test's uuid and are replaced,
the steps are rebuilt), so ``interop report`` may apply it again, e.g. after a run whose
controller died before its end. A recorded phase with no result at all (its worker died)
gets one written from the record, under a uuid derived from run, cloud and phase, so a second
pass finds it instead of adding another. Results are only read and replaced (write to a
temporary file, then rename), never merged: each test's result is written once, by the one
xdist worker that ran it, so nothing is duplicated.

>>> applied = apply_record(Path("reports/latest"))          # doctest: +SKIP
>>> applied.retimed, applied.added                          # doctest: +SKIP
(36, 0)
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..configure.scrub import scrub
from ..record import PRIVATE_DIR, read_events
from ..tags import phase_of_test, test_name
from .allure_steps import Attachment, ms, phase_attachments, phase_steps, status_of
from .model import RunSummary, summarize

RESULTS_DIR = "allure-results"
OURS = "-interop-"  # in the file names of the attachments we write, so a new pass replaces them
TEXT_TYPES = ("text/", "application/json", "application/xml", "application/yaml")
# our labels replace these wherever they came from (allure-pytest's default suites included)
OUR_LABELS = ("parentSuite", "suite", "subSuite", "cloud", "phase", "stack")
_NAMESPACE = uuid.UUID("5b0c1d1e-6c39-4f53-9a47-9d2f1f0e7a11")


def parent_suite(name: str | None, run_id: str) -> str:
    """The run as Allure's parent suite: the challenge's name and the run id."""
    return f"{name} {run_id}" if name and name != run_id else run_id


def suite_labels(*, name: str | None, run_id: str, stack: str, cloud: str, phase: str) -> list[tuple[str, str]]:
    """Every cloud its own suite, each phase a sub-suite of it, under the run.

    >>> suite_labels(name="boston", run_id="r1", stack="hosts-patroni", cloud="lab1", phase="deploy")[:3]
    [('parentSuite', 'boston r1'), ('suite', 'lab1'), ('subSuite', 'deploy')]
    """
    return [("parentSuite", parent_suite(name, run_id)), ("suite", cloud), ("subSuite", phase),
            ("cloud", cloud), ("phase", phase), ("stack", stack)]


@dataclass
class Applied:
    """What :func:`apply_record` did."""

    results: int = 0  # result files read
    retimed: int = 0  # scenario results given the record's times
    added: int = 0  # results written from the record (no result from pytest)
    messages: list[str] = field(default_factory=list)


def known_secrets(run_dir: Path) -> list[str]:
    """The run's generated secrets (string values of ``*secrets*.json`` in its private area), so
    a bare password in a log is masked too, not only ``password=...``."""
    private = run_dir.parent.parent / PRIVATE_DIR / run_dir.name  # beside the reports dir (RunDir.private_path)
    values: list[str] = []
    for path in sorted(private.glob("*secrets*.json")) if private.is_dir() else ():
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            values += [v for v in data.values() if isinstance(v, str)]
    return values


def apply_record(run_dir: Path, results_dir: Path | None = None, secrets: Sequence[str] = ()) -> Applied:
    """Rewrite ``run_dir/allure-results`` (or ``results_dir``) from the run's record; see the module."""
    run_dir = Path(run_dir)
    results_dir = Path(results_dir) if results_dir is not None else run_dir / RESULTS_DIR
    applied = Applied()
    if not results_dir.is_dir():
        applied.messages.append(f"allure: no {results_dir} (was the run made with --alluredir?)")
        return applied
    summary = summarize(read_events(run_dir / "events.jsonl"))
    secrets = [*secrets, *known_secrets(run_dir)]
    # our attachments by test uuid, listed once (a glob per result is quadratic in a big run)
    ours: dict[str, set[str]] = {}
    for entry in os.scandir(results_dir):
        if OURS in entry.name:
            ours.setdefault(entry.name.split(OURS, 1)[0], set()).add(entry.name)
    covered: set[tuple[str, str]] = set()
    for path in sorted(results_dir.glob("*-result.json")):
        result = _load(path)
        if result is None:
            continue
        applied.results += 1
        where = _where(result)
        if where is not None and summary.run_id is not None:
            covered.add(where)
            if _retime(result, summary, *where):
                applied.retimed += 1
            _label(result, summary, *where)
            _attach(result, results_dir, run_dir, summary, *where, secrets, ours)
        _scrub_result(result, results_dir, secrets)
        _save(path, result)
    for path in sorted(results_dir.glob("*-container.json")):
        container = _load(path)
        if container is not None:
            for fixture in [*container.get("befores", []), *container.get("afters", [])]:
                _scrub_details(fixture, secrets)
            _save(path, container)
    for cloud, phase in sorted(set(summary.results) - covered):
        _add_missing(results_dir, run_dir, summary, cloud, phase, secrets, ours)
        applied.added += 1
    if applied.added:
        applied.messages.append(f"allure: {applied.added} recorded phases had no pytest result (a worker died?); "
                                "written from the record")
    return applied


def _load(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # a torn file of a killed worker: Allure skips it as well
    return data if isinstance(data, dict) else None


def _save(path: Path, data: dict[str, Any]) -> None:
    _write(path, json.dumps(data, ensure_ascii=False))


def _write(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` in one rename, and only when it changes (a second pass writes nothing)."""
    try:
        if path.read_text(encoding="utf-8") == text:
            return
    except (OSError, UnicodeDecodeError):
        pass
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _where(result: dict[str, Any]) -> tuple[str, str] | None:
    """The (cloud, phase) of a scenario test's result: our labels, else its name and parameter."""
    labels = {lb.get("name"): lb.get("value") for lb in result.get("labels", []) if isinstance(lb, dict)}
    cloud, phase = labels.get("cloud"), labels.get("phase")
    if isinstance(cloud, str) and isinstance(phase, str):
        return cloud, phase
    params = {p.get("name"): p.get("value") for p in result.get("parameters", []) if isinstance(p, dict)}
    param, name = params.get("cloud_name"), str(result.get("name", ""))
    if not isinstance(param, str) or not name.startswith("test_"):
        return None
    return param.strip("'\""), phase_of_test(name.split("[", 1)[0])


def _retime(result: dict[str, Any], summary: RunSummary, cloud: str, phase: str) -> bool:
    recorded = summary.result(cloud, phase)
    if recorded is None:
        return False  # never started: a skip because an earlier phase failed; pytest's time is right
    result["start"] = ms(recorded.start)
    if recorded.end is not None:
        result["stop"] = ms(recorded.end)
        # the record's verdict: allure-pytest calls every exception but an assert "broken",
        # where a cloud's own failure (CloudError, a timeout) is "failed" on every other report
        result["status"] = status_of(recorded.outcome)
    else:  # unfinished: it ran at least until the test gave up on it
        result["stop"] = max(int(result.get("stop") or 0), result["start"])
    return True


def _label(result: dict[str, Any], summary: RunSummary, cloud: str, phase: str) -> None:
    ours = suite_labels(name=summary.info.get("name"), run_id=str(summary.run_id),
                        stack=str(summary.info.get("stack", "")), cloud=cloud, phase=phase)
    kept = [lb for lb in result.get("labels", []) if isinstance(lb, dict) and lb.get("name") not in OUR_LABELS]
    result["labels"] = kept + [{"name": k, "value": v} for k, v in ours]


def _attach(result: dict[str, Any], results_dir: Path, run_dir: Path, summary: RunSummary, cloud: str, phase: str,
            secrets: Sequence[str], ours: dict[str, set[str]]) -> None:
    test_uuid = str(result.get("uuid") or uuid.uuid5(_NAMESPACE, f"{summary.run_id}/{cloud}/{phase}"))
    result["steps"] = [s for s in result.get("steps", []) if not _ours(s)] + phase_steps(summary, cloud, phase,
                                                                                         secrets)
    kept = [a for a in result.get("attachments", []) if isinstance(a, dict) and OURS not in str(a.get("source"))]
    new = [_write_attachment(results_dir, test_uuid, n, a, secrets)
           for n, a in enumerate(phase_attachments(run_dir, summary, cloud, phase))]
    for stale in ours.get(test_uuid, set()) - {a["source"] for a in new}:
        (results_dir / stale).unlink(missing_ok=True)
    result["attachments"] = kept + new


def _ours(step: object) -> bool:
    """Steps we rebuild: allure-pytest records none for a scenario test (its phase runs in a lane)."""
    return isinstance(step, dict) and str(step.get("name", "")).startswith(("ansible ", "fault ", "check "))


def _write_attachment(results_dir: Path, test_uuid: str, n: int, att: Attachment,
                      secrets: Sequence[str]) -> dict[str, str]:
    source = f"{test_uuid}{OURS}{n}-attachment.{att.ext}"
    _write(results_dir / source, scrub(att.text, secrets))
    return {"name": att.name, "source": source, "type": att.mime}


def _scrub_details(item: dict[str, Any], secrets: Sequence[str]) -> None:
    details = item.get("statusDetails")
    if isinstance(details, dict):
        for key in ("message", "trace"):
            if isinstance(details.get(key), str):
                details[key] = scrub(details[key], secrets)
    for step in item.get("steps", []) if isinstance(item.get("steps"), list) else ():
        if isinstance(step, dict):
            _scrub_details(step, secrets)


def _scrub_result(result: dict[str, Any], results_dir: Path, secrets: Sequence[str]) -> None:
    """Status details and every text attachment (allure-pytest's captured log, stdout, stderr)."""
    _scrub_details(result, secrets)
    for att in _all_attachments(result):
        path = results_dir / str(att.get("source", ""))
        if str(att.get("type", "")).startswith(TEXT_TYPES) and path.is_file() and path.parent == results_dir:
            text = path.read_text(encoding="utf-8", errors="replace")
            _write(path, scrub(text, secrets))


def _all_attachments(item: dict[str, Any]) -> list[dict[str, Any]]:
    found = [a for a in item.get("attachments", []) if isinstance(a, dict)]
    for step in item.get("steps", []):
        if isinstance(step, dict):
            found += _all_attachments(step)
    return found


def _add_missing(results_dir: Path, run_dir: Path, summary: RunSummary, cloud: str, phase: str,
                 secrets: Sequence[str], ours: dict[str, set[str]]) -> None:
    """A result for a recorded phase pytest reported nothing for, from the record alone."""
    recorded = summary.results[cloud, phase]
    test_uuid = str(uuid.uuid5(_NAMESPACE, f"{summary.run_id}/{cloud}/{phase}"))
    name = f"{test_name(phase)}[{cloud}]"
    result: dict[str, Any] = {
        "uuid": test_uuid, "name": name, "fullName": f"record#{name}", "historyId": test_uuid,
        "status": status_of(recorded.outcome), "stage": "finished",
        "statusDetails": {"message": scrub(recorded.error or f"{recorded.outcome} (from the run record: "
                                           "pytest wrote no result for this phase)", secrets)},
        "labels": [], "parameters": [{"name": "cloud_name", "value": repr(cloud)}]}
    _retime(result, summary, cloud, phase)
    _label(result, summary, cloud, phase)
    _attach(result, results_dir, run_dir, summary, cloud, phase, secrets, ours)
    _save(results_dir / f"{test_uuid}-result.json", result)
