"""JUnit from the record: names, outcomes and times agree with pytest's own --junitxml."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from records import Record, passing_cloud

from harness.report.junit import JUNIT_FILE, write_junit

PHASES = [("identity", 0.4), ("servers", 12.5), ("deploy", 30.0), ("survive", 60.0)]


def _cases(path: Path) -> dict[str, ET.Element]:
    return {f"{c.get('name')}": c for c in ET.parse(path).getroot().iter("testcase")}


def _outcome(case: ET.Element) -> str:
    kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
    assert len(kinds) <= 1
    return kinds[0] if kinds else "passed"


def _record(tmp_path: Path) -> Path:
    rec = Record("r1", ["lab1", "lab2", "lab3"])
    passing_cloud(rec, "lab1", PHASES)
    rec.phase("lab2", "identity", 3.1, "failed", "authentication refused <HTTP 401> & \x1b[31mred\x1b[0m")
    rec.phase("lab2", "teardown", 0.2)
    rec.phase("lab3", "identity", 0.5).phase("lab3", "servers", 600.0, "timeout", "servers not ACTIVE")
    rec.check("lab1", "unavailability", "passed", 4.2, "s", 30)
    rec.check("lab1", "throughput-ratio", "failed", 0.31, "x baseline", 0.5, reason="ratio 0.31 during kill")
    rec.check("lab1", "set", "aborted", None, "writes", 0, scope="cluster", reason="no final read")
    return rec.end().write(tmp_path / "r1")


def test_a_case_per_cloud_and_phase_and_per_check_with_outcomes_and_times(tmp_path: Path) -> None:
    out = write_junit(_record(tmp_path))
    assert out == tmp_path / "r1" / JUNIT_FILE
    cases = _cases(out)
    assert cases["test_identity[lab1]"].get("classname") == "lab1"
    assert cases["test_servers[lab1]"].get("time") == "12.500" and _outcome(cases["test_servers[lab1]"]) == "passed"
    assert _outcome(cases["test_identity[lab2]"]) == "failure"
    assert cases["test_identity[lab2]"].find("failure").get("type") == "failed"  # type: ignore[union-attr]
    assert cases["test_servers[lab3]"].find("failure").get("type") == "timeout"  # type: ignore[union-attr]
    # lab2's later phases were never recorded: skipped with the reason, as pytest shows them
    skipped = cases["test_deploy[lab2]"].find("skipped")
    assert skipped is not None and skipped.get("message", "").startswith("cloud lab2 failed in phase identity: ")
    assert _outcome(cases["test_teardown[lab2]"]) == "passed"  # teardown runs after a failure
    assert _outcome(cases["check_unavailability[lab1]"]) == "passed"
    assert cases["check_throughput_ratio[lab1]"].find("failure").get("message") == (  # type: ignore[union-attr]
        "0.31 x baseline (threshold 0.5): ratio 0.31 during kill")
    assert _outcome(cases["check_set[cluster]"]) == "error"  # could not measure: not the cloud's failure
    props = {p.get("name"): p.get("value") for p in cases["test_deploy[lab1]"].iter("property")}
    assert props == {"interop_cloud": "lab1", "interop_phase": "deploy"}


def test_suite_totals_are_counted_from_its_cases(tmp_path: Path) -> None:
    suite = ET.parse(write_junit(_record(tmp_path))).getroot().find("testsuite")
    assert suite is not None
    outcomes = [_outcome(c) for c in suite.iter("testcase")]
    # 3 clouds x 5 phases (identity, servers, deploy, survive, teardown) + 3 checks
    assert int(suite.get("tests", "")) == len(outcomes) == 18
    assert int(suite.get("failures", "")) == outcomes.count("failure") == 3
    assert int(suite.get("errors", "")) == outcomes.count("error") == 1
    assert int(suite.get("skipped", "")) == outcomes.count("skipped") == 7
    assert suite.get("timestamp") == "2026-11-18T11:06:40+00:00"


def test_free_text_is_escaped_scrubbed_and_valid_xml(tmp_path: Path) -> None:
    rec = Record("r2", ["lab1"])
    rec.phase("lab1", "deploy", 1.0, "failed", 'connect to postgresql://app:S3cretPW@db/x failed; "password": "pw-9876"',
              details={"password": "hunter2"})
    rec.phase("lab1", "configure", 1.0, "error", "ansible said \x1b[31m<fatal>\x1b[0m & \x00")
    rec.note("lab1", "deploy", "join", password="note-secret-1", seconds=3.0)
    out = write_junit(rec.write(tmp_path / "r2"))
    raw = out.read_text()
    for secret in ("S3cretPW", "pw-9876", "hunter2", "note-secret-1"):
        assert secret not in raw
    cases = _cases(out)  # it parses
    failure = cases["test_configure[lab1]"].find("failure")
    assert failure is not None and failure.text == "ansible said \\x1b[31m<fatal>\\x1b[0m & \\x00"
    assert "&lt;fatal&gt;\\x1b[0m &amp; " in raw  # escaped in the file, whole again when parsed


def test_an_unfinished_phase_is_an_error(tmp_path: Path) -> None:
    rec = Record("r3", ["lab1"]).phase("lab1", "identity", 0.3).started("lab1", "servers")
    case = _cases(write_junit(rec.write(tmp_path / "r3")))["test_servers[lab1]"]
    assert _outcome(case) == "error" and "no phase-end" in case.find("error").get("message", "")  # type: ignore[union-attr]


# ---- agreement with pytest's own JUnit, over a real scenario session --------------------------

CONFTEST = '''
import time
import pytest
from harness.errors import CloudError
from harness.stacks import REGISTRY
from harness.stacks.base import Needs, Phase, Stack

def alpha(run):
    time.sleep(0.6)
    if run.cloud == "bad":
        raise CloudError("quota exceeded <instances> & more", cloud=run.cloud, phase="alpha")

def beta(run):
    time.sleep(0.3)
    if run.cloud == "oops":
        raise RuntimeError("a harness bug")

def gamma(run):
    if run.cloud == "good2":
        pytest.skip("gamma does not apply to good2")
    time.sleep(0.4)

STACK = Stack("test-stack", Needs(("debian",), 1, 1, 1), rules=(),
              phases=(Phase("alpha", alpha), Phase("beta", beta), Phase("gamma", gamma)))
REGISTRY["test-stack"] = "conftest:STACK"
'''

SCENARIO = '''
from harness.plugin import run_phase

def test_alpha(cloud_run):
    run_phase(cloud_run, "alpha")

def test_beta(cloud_run):
    run_phase(cloud_run, "beta")

def test_gamma(cloud_run):
    run_phase(cloud_run, "gamma")
'''

CLOUDS = ("good1", "bad", "good2", "oops")


def test_names_outcomes_and_times_agree_with_pytests_junit(pytester: pytest.Pytester,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_scenario=SCENARIO)
    (pytester.path / "challenge.yaml").write_text("stack: test-stack\nclouds: {" + ", ".join(f"{c}: {{}}" for c in CLOUDS) + "}\n")
    (pytester.path / "clouds.yaml").write_text("clouds:\n" + "".join(
        f"  {c}:\n    auth: {{auth_url: 'http://127.0.0.1:9/v3', username: u, password: p}}\n" for c in CLOUDS))
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(pytester.path / "clouds.yaml"))
    monkeypatch.setenv("INTEROP_CHALLENGE", str(pytester.path / "challenge.yaml"))
    # junit_duration_report=call: by default pytest adds setup and teardown, and the first test's
    # setup carries the session's (clouds.yaml, the lanes), which is no phase's time
    result = pytester.runpytest_subprocess("--run-id", "rj", "--junitxml", "pytest-junit.xml", "-o",
                                           "junit_duration_report=call", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=6, failed=2, skipped=4)

    theirs = _cases(pytester.path / "pytest-junit.xml")
    ours = _cases(write_junit(pytester.path / "reports" / "rj"))
    assert set(ours) == set(theirs) and len(ours) == 12
    for name, case in ours.items():
        assert _outcome(case) == _outcome(theirs[name]), name
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        assert props == {p.get("name"): p.get("value") for p in theirs[name].iter("property")}, name
        # pytest's call time is the lane's, which adds writing the record's two events and the
        # hand-over between threads (a busy machine stretches both: 0.1 s was seen to flake)
        assert abs(float(case.get("time", "")) - float(theirs[name].get("time", ""))) < 0.5, name
    for phase, slept in (("alpha", 0.6), ("beta", 0.3), ("gamma", 0.4)):  # ours is the record's: what ran
        assert slept <= float(ours[f"test_{phase}[good1]"].get("time", "")) < slept + 0.5
    skipped = ours["test_beta[bad]"].find("skipped")
    assert skipped is not None and "cloud bad failed in phase alpha: quota exceeded" in skipped.get("message", "")
    assert ours["test_gamma[good2]"].find("skipped").get("message") == "gamma does not apply to good2"  # type: ignore[union-attr]
