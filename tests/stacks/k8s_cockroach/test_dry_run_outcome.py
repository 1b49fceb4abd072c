"""The "rendered" outcome of a dry run, from the phase timer to every report: not passed, not
failed. (Generic harness code, tested here beside the one stack that uses it.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness import cli
from harness.record import RunDir, phase_timer, progress_line, read_events, rendered
from harness.report.junit import junit_cases
from harness.report.matrix import matrix, phase_order, run_verdict
from harness.report.model import summarize
from harness.report.refstack import passed_checks

pytestmark = pytest.mark.k8s


def dry_record(tmp_path: Path) -> RunDir:
    run = RunDir(tmp_path / "reports", "20261206T040000Z-ab12").create()
    run.append("run-start", run_id=run.run_id, stack="k8s-cockroach", clouds=["lab4"], dry_run=True,
               phases=["identity", "configure", "deploy", "survive", "teardown"])
    with phase_timer(run, cloud="lab4", phase="identity"):
        pass
    for phase in ("configure", "deploy"):
        with phase_timer(run, cloud="lab4", phase=phase) as rec:
            rec.details.update(rendered({"plays": []}, f"dry run: {phase} rendered"))
    with phase_timer(run, cloud="lab4", phase="teardown"):
        pass
    run.append("run-end", run_id=run.run_id, exitstatus=0)
    return run


def test_a_rendered_phase_is_recorded_rendered_with_its_reason(tmp_path: Path) -> None:
    run = dry_record(tmp_path)
    end = next(e for e in read_events(run.events_path) if e["type"] == "phase-end" and e["phase"] == "deploy")
    assert (end["outcome"], end["error"]) == ("rendered", "dry run: deploy rendered")
    assert progress_line(end).startswith("[lab4] deploy rendered in ")


def test_reports_show_it_neither_passed_nor_failed(tmp_path: Path) -> None:
    summary = summarize(read_events(dry_record(tmp_path).events_path))
    assert summary.cloud_outcome("lab4") == "rendered"
    assert run_verdict(summary)[0] == "DRY RUN"
    cells = {c["phase"]: c for c in matrix(summary, phase_order(summary))[0]["cells"]}
    assert cells["deploy"]["outcome"] == "rendered" and cells["deploy"]["symbol"] == "◇"
    assert cells["survive"]["reason"] == "not run: a dry run (configure was rendered, not run)"
    cases: dict[str, Any] = {c.name: c for c in junit_cases(summary)}
    assert (cases["test_deploy[lab4]"].kind, cases["test_deploy[lab4]"].type) == ("skipped", "rendered")
    assert cases["test_survive[lab4]"].kind == "skipped"
    assert [n.rsplit(".", 1)[1] for n in passed_checks(summary, "lab4")] == ["identity", "teardown"]


def test_the_cli_hands_dry_run_to_pytest(tmp_path: Path) -> None:
    args = cli.build_parser().parse_args(["run", "--dry-run", "--workers", "0", "--reports-dir", str(tmp_path)])
    args.challenge_path = Path("c.yaml")
    assert "--dry-run" in cli.pytest_args(args, ["a"], "RID")


def test_a_stack_without_a_dry_run_is_refused_before_any_cloud(tmp_path: Path, clouds_yaml: Path,
                                                               run_cli: Any) -> None:
    challenge = tmp_path / "challenge.yaml"
    challenge.write_text("stack: hosts-patroni\nclouds: {lab1: {}}\n")
    rc, _, err = run_cli("run", "--challenge", str(challenge), "--clouds-yaml", str(clouds_yaml), "--dry-run",
                         "--workers", "0", "--reports-dir", str(tmp_path / "reports"))
    assert rc == 2 and "stack hosts-patroni has no dry run" in err
    assert not list((tmp_path / "reports").glob("*/events.jsonl"))
