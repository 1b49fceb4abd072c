"""allure-results of a scenario session under xdist: suites, labels, steps, attachments and
durations from the record, and no secret anywhere in the results directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from records import Record

from harness.record import read_events
from harness.report.allure_results import RESULTS_DIR, apply_record, suite_labels
from harness.report.model import summarize

# Planted secrets: a URL password and ``password=`` in an error, a bare generated password
# (listed in the run's private secrets file) in a playbook's output and in captured stdout.
URL_SECRET, KV_SECRET, BARE_SECRET = "S3cretURLpw", "hunter2-planted", "Zq9bareSecretValue"

CONFTEST = '''
import json
import time
from harness.errors import CloudError
from harness.stacks import REGISTRY
from harness.stacks.base import Needs, Phase, Stack

BARE = "@BARE@"

def _play(run, label, play, seconds):
    start = time.time()
    time.sleep(seconds)
    run.rundir.append("note", note="ansible-play", cloud=run.cloud, phase="configure", label=label, play=play,
                      start=start, end=time.time(), duration=round(time.time() - start, 3))

def configure(run):
    private = run.rundir.private_path()
    (private / "test-secrets.json").write_text(json.dumps({"db_password": BARE}))
    _play(run, "configure", "Check the hosts", 0.15)
    _play(run, "configure", "Install packages", 0.25)
    out = run.rundir.path / "artifacts" / run.cloud / "ansible-configure"
    out.mkdir(parents=True, exist_ok=True)
    (out / "stdout.txt").write_text("PLAY [Check the hosts]\\nok: [db-1] PGPASSWORD=@KV@\\nvault " + BARE + "\\n")
    print("the database password is", BARE)
    if run.cloud == "bad":
        raise CloudError("connect to postgresql://app:@URL@@db1/x failed; password=@KV@", cloud=run.cloud,
                         phase="configure")

def deploy(run):
    time.sleep(0.3)
    path = run.rundir.path / "artifacts" / run.cloud / "cluster-status.json"
    path.write_text(json.dumps({"members": [{"name": run.cloud + "-db-1", "role": "leader"}]}))
    return {"status_artifact": str(path.relative_to(run.rundir.path))}

def soak(run):
    for step, seconds in (("inject", 0.1), ("effect", 0.2), ("recover", 0.1), ("recovered", 0.15)):
        start = time.time()
        time.sleep(seconds)
        run.note("soak", "fault", fault="kill-leader", target=run.cloud + "-db-1", step=step, start=start,
                 end=time.time(), rejoin_s=1.5)
    run.rundir.append("check", cloud=run.cloud, phase="soak", scope=run.cloud, check="unavailability",
                      outcome="passed", value=0.4, unit="s", threshold=30, reason="", details={})

STACK = Stack("test-stack", Needs(("debian",), 1, 1, 1), rules=(),
              phases=(Phase("configure", configure), Phase("deploy", deploy), Phase("soak", soak)))
REGISTRY["test-stack"] = "conftest:STACK"
'''.replace("@BARE@", BARE_SECRET).replace("@KV@", KV_SECRET).replace("@URL@", URL_SECRET)

SCENARIO = '''
from harness.plugin import run_phase

def test_configure(cloud_run):
    run_phase(cloud_run, "configure")

def test_deploy(cloud_run):
    run_phase(cloud_run, "deploy")

def test_soak(cloud_run):
    run_phase(cloud_run, "soak")
'''

CLOUDS = ("good1", "bad", "good2")


def _labels(result: dict[str, Any]) -> dict[str, str]:
    return {lb["name"]: lb["value"] for lb in result["labels"]}


def _steps(item: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for step in item.get("steps", []) for s in (step, *_steps(step))]


def _run_session(where: Path, clouds: tuple[str, ...], *, conftest_extra: str = "") -> tuple[Path, str]:
    """A scenario session under ``-n 2 --dist loadgroup`` (workers, lanes), in a subprocess."""
    (where / "conftest.py").write_text(CONFTEST + conftest_extra)
    (where / "test_scenario.py").write_text(SCENARIO)
    (where / "challenge.yaml").write_text("name: boston\nstack: test-stack\nclouds: {"
                                          + ", ".join(f"{c}: {{}}" for c in clouds) + "}\n")
    (where / "clouds.yaml").write_text("clouds:\n" + "".join(
        f"  {c}:\n    auth: {{auth_url: 'http://127.0.0.1:9/v3', username: u, password: p}}\n" for c in clouds))
    env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(where / "clouds.yaml"),
           "INTEROP_CHALLENGE": str(where / "challenge.yaml"), "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--run-id", "ra",
                           "--alluredir", str(where / "reports" / "ra" / RESULTS_DIR),
                           "-n", "2", "--dist", "loadgroup", "-q"],
                          cwd=where, env=env, capture_output=True, text=True, timeout=300)
    return where / "reports" / "ra", done.stdout + done.stderr


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One session over three clouds, one failing, shared by the tests."""
    run, out = _run_session(tmp_path_factory.mktemp("allure-session"), CLOUDS)
    assert "1 failed, 6 passed, 2 skipped" in out, out
    return run


def _results(run: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((run / RESULTS_DIR).glob("*-result.json"))]


def test_every_cloud_is_its_own_suite_with_one_result_per_phase(session: Path) -> None:
    results = _results(session)
    pairs = sorted((_labels(r)["suite"], _labels(r)["subSuite"]) for r in results)
    assert pairs == sorted((c, p) for c in CLOUDS for p in ("configure", "deploy", "soak"))  # none lost or twice
    for r in results:
        labels = _labels(r)
        assert labels["parentSuite"] == "boston ra"
        assert (labels["cloud"], labels["phase"], labels["stack"]) == (labels["suite"], labels["subSuite"], "test-stack")
        assert sum(1 for lb in r["labels"] if lb["name"] == "suite") == 1  # ours replaced allure-pytest's
    status = {(_labels(r)["cloud"], _labels(r)["phase"]): r["status"] for r in results}
    assert status["bad", "configure"] == "failed" and status["bad", "deploy"] == "skipped"
    assert status["good1", "soak"] == "passed"


def test_durations_are_the_records_not_the_tests(session: Path) -> None:
    summary = summarize(read_events(session / "events.jsonl"))
    timed = 0
    for r in _results(session):
        recorded = summary.result(_labels(r)["cloud"], _labels(r)["phase"])
        if recorded is None:
            continue  # never ran (its cloud failed earlier)
        assert recorded.duration is not None and recorded.end is not None
        assert abs(r["start"] - recorded.start * 1000) <= 1 and abs(r["stop"] - recorded.end * 1000) <= 1
        assert abs((r["stop"] - r["start"]) - recorded.duration * 1000) <= 1
        timed += 1
    assert timed == 7  # good1 and good2: 3 phases each, bad: configure


def test_plays_and_fault_steps_are_steps_with_their_own_times(session: Path) -> None:
    by = {(_labels(r)["cloud"], _labels(r)["phase"]): r for r in _results(session)}
    configure = by["good1", "configure"]
    (ansible,) = [s for s in configure["steps"] if s["name"] == "ansible configure"]
    plays = ansible["steps"]
    assert [p["name"] for p in plays] == ["play: Check the hosts", "play: Install packages"]
    assert 140 <= plays[0]["stop"] - plays[0]["start"] < 400 and 240 <= plays[1]["stop"] - plays[1]["start"] < 500
    assert configure["start"] <= plays[0]["start"] <= plays[1]["stop"] <= configure["stop"]
    survive = by["good2", "soak"]
    (fault,) = [s for s in survive["steps"] if s["name"].startswith("fault ")]
    assert fault["name"] == "fault kill-leader on good2-db-1"
    assert [s["name"] for s in fault["steps"]] == ["inject", "effect", "recover", "recovered"]
    assert {"name": "rejoin_s", "value": "1.5"} in fault["steps"][-1]["parameters"]
    assert any(s["name"] == "check unavailability: passed" and s["status"] == "passed" for s in survive["steps"])
    assert all(s["stop"] >= s["start"] for r in _results(session) for s in _steps(r))


def test_attachments_are_playbook_output_cluster_status_and_survive_summary(session: Path) -> None:
    by = {(_labels(r)["cloud"], _labels(r)["phase"]): r for r in _results(session)}

    def attached(cloud: str, phase: str) -> dict[str, str]:
        return {a["name"]: (session / RESULTS_DIR / a["source"]).read_text() for a in by[cloud, phase]["attachments"]}

    assert "PLAY [Check the hosts]" in attached("good1", "configure")["ansible configure output"]
    assert json.loads(attached("good2", "deploy")["cluster status"])["members"][0]["role"] == "leader"
    assert json.loads(attached("good1", "soak")["survive summary"])[0]["check"] == "unavailability"
    assert "ansible configure output" in attached("bad", "configure")  # evidence of the failure too


def test_no_secret_in_any_result_or_attachment(session: Path) -> None:
    files = [p for p in (session / RESULTS_DIR).iterdir() if p.is_file()]
    assert any(p.name.endswith("-container.json") for p in files)
    for path in files:
        text = path.read_text(errors="replace")
        for secret in (URL_SECRET, KV_SECRET, BARE_SECRET):
            assert secret not in text, (secret, path.name)
    # the failure's reason is still there, masked
    bad = next(r for r in _results(session) if _labels(r)["cloud"] == "bad" and _labels(r)["phase"] == "configure")
    assert "postgresql://app:********@db1/x" in bad["statusDetails"]["message"]


def test_applying_again_changes_nothing(session: Path) -> None:
    before = {p.name: p.read_bytes() for p in (session / RESULTS_DIR).iterdir()}
    applied = apply_record(session)
    assert (applied.results, applied.retimed, applied.added) == (9, 7, 0)
    assert {p.name: p.read_bytes() for p in (session / RESULTS_DIR).iterdir()} == before


def test_a_recorded_phase_without_a_result_is_written_from_the_record(tmp_path: Path) -> None:
    run = Record("r9", ["lab1"]).phase("lab1", "identity", 0.4).phase("lab1", "servers", 2.5, "timeout",
                                                                      "servers not ACTIVE").write(tmp_path / "r9")
    (run / RESULTS_DIR).mkdir()
    assert apply_record(run).added == 2
    assert apply_record(run).added == 0  # found the second time, not written twice
    results = {_labels(r)["phase"]: r for r in _results(run)}
    assert results["servers"]["status"] == "failed" and results["servers"]["stop"] - results["servers"]["start"] == 2500
    assert _labels(results["identity"]) == dict(suite_labels(name=None, run_id="r9", stack="hosts-patroni",
                                                             cloud="lab1", phase="identity"))


def test_interop_run_writes_results_into_the_run_and_never_cleans_them(tmp_path: Path) -> None:
    from harness import cli

    args = cli.build_parser().parse_args(["run", "--reports-dir", str(tmp_path)])
    args.challenge_path = Path("c.yaml")
    cmd = cli.pytest_args(args, ["a", "b"], "RID")
    assert cmd[cmd.index("--alluredir") + 1] == str(tmp_path / "RID" / RESULTS_DIR)
    assert "--clean-alluredir" not in cmd  # every xdist worker would wipe the others' results


def test_the_labels_come_from_allure_pytest_in_the_worker_already(tmp_path: Path) -> None:
    """Without the session-end pass (a controller killed before it), each cloud is its own suite."""
    skip_pass = "\nimport harness.report.allure_results as ar\nar.apply_record = lambda *a, **k: ar.Applied()\n"
    run, out = _run_session(tmp_path, ("good1", "good2"), conftest_extra=skip_pass)
    assert "6 passed" in out, out
    results = _results(run)
    assert sorted((_labels(r)["suite"], _labels(r)["subSuite"]) for r in results) == sorted(
        (c, p) for c in ("good1", "good2") for p in ("configure", "deploy", "soak"))
    assert all(_labels(r)["parentSuite"] == "boston ra" and _labels(r)["stack"] == "test-stack" for r in results)
    assert all(not r.get("steps") for r in results)  # those come from the record, at the end
