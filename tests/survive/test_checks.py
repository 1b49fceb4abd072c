"""Every checker over one history file in one pass, scoped to the cluster or to the faulted cloud."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from handwritten import S, history

from harness.challenge import Survival
from harness.errors import ConfigError
from harness.survive.checks import Thresholds, check_history
from harness.survive.faults import Faults, FaultWindow, Observation
from harness.survive.history import Op

LIMITS = Thresholds(max_lost_writes=0, max_unavailable_s=30, min_throughput_ratio=0.5)


def _file(tmp_path: Path, ops: list[Op]) -> Path:
    path = tmp_path / "history.jsonl"
    path.write_text("".join(op.to_json() + "\n" for op in ops))
    return path


def _workload() -> list[Op]:
    rows: list[tuple[Any, ...]] = [(9, "invoke", "read", None, 0.0), (9, "ok", "read", {"a": 50, "b": 50}, 0.01)]
    for i in range(40):  # one add and one transfer a second, by two clients, all served by lab1
        t = float(i)
        rows += [(1, "invoke", "add", i, t), (1, "ok", "add", i, t + 0.01, "lab1-1", "lab1"),
                 (2, "invoke", "transfer", {"from": "a", "to": "b", "amount": 1}, t),
                 (2, "ok", "transfer", {"from": "a", "to": "b", "amount": 1}, t + 0.02)]
    rows += [(1, "invoke", "read", None, 41.0), (1, "ok", "read", list(range(40)), 41.1),
             (9, "invoke", "read", None, 41.0), (9, "ok", "read", {"a": 10, "b": 90}, 41.1)]
    return history(*rows)


def test_without_faults_the_cluster_checks_run_and_the_fault_checks_are_skipped(tmp_path: Path) -> None:
    report = check_history(_file(tmp_path, _workload()), None, LIMITS)
    assert [(s.cloud, s.verdict.check, s.verdict.outcome) for s in report.verdicts] == [
        (None, "set", "passed"), (None, "bank", "passed"), (None, "unavailability", "passed")]
    assert [check for check, _ in report.skipped] == ["throughput-ratio", "recovery-time", "split-brain"]
    assert report.operations == 83 and report.passed
    assert report.samples[0].second == 0 and len(report.samples) == 42


def test_fault_checks_are_scoped_to_the_cloud_the_faults_aimed_at(tmp_path: Path) -> None:
    faults = Faults((FaultWindow("lab2 kill", "process-kill", "lab2", 10 * S, 12 * S),
                     FaultWindow("lab3 cut", "cloud-cut", "lab3", 20 * S, 25 * S)),
                    observations=(Observation(30 * S, "lab1-1", "leader", 2), Observation(30 * S, "lab3-1", "replica", 2)))
    report = check_history(_file(tmp_path, _workload()), faults, LIMITS)
    scoped = [(s.cloud, s.verdict.check) for s in report.verdicts]
    assert scoped == [(None, "set"), (None, "bank"),
                      ("lab2", "unavailability"), ("lab2", "throughput-ratio"), ("lab2", "recovery-time"),
                      ("lab3", "unavailability"), ("lab3", "throughput-ratio"), ("lab3", "recovery-time"),
                      ("lab3", "split-brain")]
    assert all(s.verdict.outcome == "passed" for s in report.verdicts), [s.verdict.line() for s in report.verdicts]
    assert report.skipped == []
    lab3_throughput = report.verdicts[6].verdict
    assert lab3_throughput.details["baseline"]["to_s"] == 10.0  # the run's first fault, lab2's, ends every baseline


def test_a_seeded_violation_fails_the_report(tmp_path: Path) -> None:
    ops = _workload()
    ops[-3] = ops[-3]._replace(value=list(range(1, 40)))  # the final set read lost value 0
    report = check_history(_file(tmp_path, ops), None, LIMITS)
    assert not report.passed
    assert report.verdicts[0].verdict.reason == "1 acknowledged add lost: 0"


def test_a_bank_only_history_skips_the_set(tmp_path: Path) -> None:
    ops = history((1, "invoke", "read", None, 0.0), (1, "ok", "read", {"a": 1}, 0.1))
    report = check_history(_file(tmp_path, ops), None, LIMITS)
    assert ("set", "no set operation (add) in the history") in report.skipped
    assert [s.verdict.check for s in report.verdicts] == ["bank", "unavailability"]


def test_a_bad_line_stops_the_check(tmp_path: Path) -> None:
    path = _file(tmp_path, _workload())
    path.write_text(path.read_text() + "{torn")
    with pytest.raises(ConfigError, match=f"^{path}:167: not a JSON object"):
        check_history(path, None, LIMITS)


def test_thresholds_come_from_the_challenges_survival_section() -> None:
    limits = Thresholds.of(Survival(max_unavailable_s=25), max_recovery_s=40, bank_total=None)
    assert (limits.max_unavailable_s, limits.min_throughput_ratio, limits.max_lost_writes) == (25, 0.5, 0)
    assert limits.max_recovery_s == 40 and limits.bank_total is None


@pytest.mark.parametrize("module", ["verdict", "sets", "bank", "availability"])
def test_the_docstring_examples_hold(module: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(f"harness.survive.{module}"))
    assert result.attempted > 0 and result.failed == 0
