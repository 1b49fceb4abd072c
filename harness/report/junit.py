"""JUnit XML from the run record: a testcase per cloud per phase, and per survive check.

>>> write_junit(Path("reports/latest"))          # doctest: +SKIP
PosixPath('reports/latest/junit-record.xml')

It agrees with the JUnit pytest writes for the same run (``interop run --junitxml``): the
phase testcases carry pytest's own names (``test_security_groups[lab1]``) and the same
``interop_cloud`` / ``interop_phase`` properties, a phase that failed, timed out or broke is a
``<failure>`` as it is for pytest (the record's finer outcome goes into ``type``), a phase
skipped after an earlier failure is ``<skipped>`` with the reason, and ``time`` is the phase's
duration. It differs on purpose where the record knows more: ``classname`` is the cloud (CI
tools group by it), the survive checks are testcases of their own (``check_unavailability[lab1]``,
``<error>`` when the check could not measure), and a phase with a start but no end (a worker
that died) is an ``<error>``. pytest's own file also holds what the record never sees:
collection and fixture errors.

Only named record fields are written; free text (error and reason) goes through the same
scrubbing as artifacts, and characters XML 1.0 cannot carry (ANSI escapes in tool output) are
replaced, so the file always parses.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..configure.scrub import scrub
from ..record import read_events
from ..tags import CLOUD, PHASE, test_name
from .files import write_atomic
from .model import RunSummary, summarize

JUNIT_FILE = "junit-record.xml"  # pytest's own --junitxml goes to junit.xml beside it
# a message attribute is a summary line; the full text is the element's body
MESSAGE_LIMIT = 1000
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass
class Case:
    """One testcase: ``kind`` is None (passed), "failure", "error" or "skipped"."""

    classname: str
    name: str
    time: float
    kind: str | None = None
    type: str = ""
    text: str = ""
    properties: list[tuple[str, str]] = field(default_factory=list)


def junit_cases(summary: RunSummary) -> list[Case]:
    """Every cloud's phase cases in pipeline order, then its check cases in record order."""
    cases: list[Case] = []
    for cloud in summary.clouds:
        cases += [_phase_case(summary, cloud, phase) for phase in summary.planned_phases()]
        cases += _check_cases(summary, cloud)
    return cases


def _phase_case(summary: RunSummary, cloud: str, phase: str) -> Case:
    case = Case(cloud, f"{test_name(phase)}[{cloud}]", 0.0, properties=[(CLOUD, cloud), (PHASE, phase)])
    result = summary.result(cloud, phase)
    if result is None:
        # The engine records no event for a phase it skips; pytest reports it skipped.
        failed = summary.first_failure(cloud)
        dry = summary.first_rendered(cloud)
        case.kind, case.type = "skipped", "pytest.skip"
        if failed is not None:
            case.text = f"cloud {cloud} failed in phase {failed.phase}: {failed.error or failed.outcome}"
        elif dry is not None:
            case.text = f"not run: a dry run ({dry.phase} was rendered, not run)"
        else:
            case.text = f"no phase-end for {phase} in the record: the phase did not run on cloud {cloud}"
        return case
    case.time = result.duration or 0.0
    if result.outcome == "passed":
        return case
    if result.outcome == "skipped":
        case.kind, case.type, case.text = "skipped", "pytest.skip", result.error or "skipped"
    elif result.outcome == "rendered":  # a dry run: neither passed nor failed; pytest skips it too (plugin)
        case.kind, case.type = "skipped", "rendered"
        case.text = f"rendered, not run: {result.error or 'dry run'}"
    elif result.outcome == "unfinished":
        case.kind, case.type = "error", "unfinished"
        case.text = f"phase {phase} started on cloud {cloud} but has no phase-end: its worker died or still runs"
    else:  # failed, timeout, error: pytest sees the phase's exception in the test call, a failure
        case.kind, case.type, case.text = "failure", result.outcome, result.error or result.outcome
    return case


def _check_cases(summary: RunSummary, cloud: str) -> list[Case]:
    cases: list[Case] = []
    seen: dict[str, int] = {}
    for check in (c for c in summary.checks if c.get("cloud") == cloud):
        name, scope = str(check.get("check", "")), str(check.get("scope") or cloud)
        base = f"check_{name.replace('-', '_')}[{scope}]"
        seen[base] = seen.get(base, 0) + 1
        case = Case(cloud, base if seen[base] == 1 else f"{base}#{seen[base]}", 0.0,
                    properties=[(CLOUD, cloud), (PHASE, str(check.get("phase", "survive"))),
                                ("interop_check", name), ("interop_scope", scope)])
        outcome = check.get("outcome")
        if outcome != "passed":
            # failed: the database misbehaved; aborted (or anything else): the harness could not measure
            case.kind = "failure" if outcome == "failed" else "error"
            case.type = str(outcome)
            case.text = f"{_figure(check)}: {check.get('reason') or outcome}"
        cases.append(case)
    return cases


def _figure(check: dict[str, Any]) -> str:
    value, unit, threshold = check.get("value"), check.get("unit") or "", check.get("threshold")
    shown = "-" if value is None else f"{value:g}" if isinstance(value, (int, float)) else "-"
    limit = f" (threshold {threshold:g})" if isinstance(threshold, (int, float)) else ""
    return f"{shown} {unit}".strip() + limit


def junit_tree(summary: RunSummary, run_id: str) -> ET.ElementTree:
    """The JUnit document: one ``<testsuite>`` whose totals are counted from its testcases."""
    cases = junit_cases(summary)
    counts = {kind: sum(1 for c in cases if c.kind == kind) for kind in ("failure", "error", "skipped")}
    # like pytest: the suite's time is the run's wall time (clouds run side by side), else the sum
    wall = (summary.ended - summary.started) if summary.ended is not None and summary.started is not None else None
    suite_time = wall if wall is not None else sum(c.time for c in cases)
    root = ET.Element("testsuites", name="interop")
    suite = ET.SubElement(root, "testsuite", {
        "name": f"interop {run_id}", "tests": str(len(cases)), "failures": str(counts["failure"]),
        "errors": str(counts["error"]), "skipped": str(counts["skipped"]), "time": f"{suite_time:.3f}",
    })
    if summary.started is not None:
        suite.set("timestamp", datetime.fromtimestamp(summary.started, UTC).isoformat(timespec="seconds"))
    for case in cases:
        element = ET.SubElement(suite, "testcase", classname=_clean(case.classname), name=_clean(case.name),
                                time=f"{case.time:.3f}")
        if case.properties:
            props = ET.SubElement(element, "properties")
            for key, value in case.properties:
                ET.SubElement(props, "property", name=key, value=_clean(value))
        if case.kind is not None:
            text = _clean(scrub(case.text))
            outcome = ET.SubElement(element, case.kind, type=case.type, message=text[:MESSAGE_LIMIT])
            outcome.text = text
    return ET.ElementTree(root)


def _clean(text: str) -> str:
    """Text XML 1.0 can carry: other characters become ``\\xNN`` (ElementTree escapes <, &, quotes)."""
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def write_junit(run_dir: Path, summary: RunSummary | None = None) -> Path:
    """Write ``run_dir/junit-record.xml`` from the record (or the given fold of it)."""
    run_dir = Path(run_dir)
    summary = summary if summary is not None else summarize(read_events(run_dir / "events.jsonl"))
    root = junit_tree(summary, summary.run_id or run_dir.name).getroot()
    assert root is not None  # junit_tree always builds one
    ET.indent(root)
    return write_atomic(run_dir / JUNIT_FILE, ET.tostring(root, encoding="utf-8", xml_declaration=True))
