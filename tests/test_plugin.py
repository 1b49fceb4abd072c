"""The pytest plugin, driven through pytester with a stack of phases that need no cloud.

Each session's conftest registers its own stack (``test-stack``, phases alpha and beta) in the
registry of its own process; scenarios ask for those phases only, so no cloud is touched.
"""

import json
from pathlib import Path

import pytest

from harness.provision.ledger import Ledger

STACK_DEF = '''
from harness.stacks import REGISTRY
from harness.stacks.base import Needs, Phase, Stack

def test_stack(*phases):
    return Stack("test-stack", Needs(("debian",), 1, 1, 1), rules=(),
                 phases=tuple(Phase(name, fn) for name, fn in phases))

REGISTRY["test-stack"] = "conftest:STACK"
'''

CONFTEST = STACK_DEF + '''
from harness.errors import CloudError

def alpha(run):
    if run.cloud == "bad":
        raise CloudError("quota exceeded for instances", cloud=run.cloud, phase="alpha")
    return {"seen": run.cloud, "nodes": run.settings.nodes}

def beta(run):
    return {"after": "alpha"}

STACK = test_stack(("alpha", alpha), ("beta", beta))
'''

SCENARIO = '''
from harness.plugin import run_phase

def test_alpha(cloud_run):
    run_phase(cloud_run, "alpha")

def test_beta(cloud_run):
    run_phase(cloud_run, "beta")
'''

CHALLENGE = "stack: test-stack\nclouds:\n  good1: {}\n  bad: {nodes: 3}\n  good2: {}\ndefaults: {nodes: 1}\n"
CLOUDS = "clouds:\n" + "".join(
    f"  {n}:\n    auth: {{auth_url: 'http://127.0.0.1:9/v3', username: u, password: p, project_name: x}}\n"
    for n in ("good1", "bad", "good2"))


@pytest.fixture
def scenario(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_scenario=SCENARIO)
    (pytester.path / "challenge.yaml").write_text(CHALLENGE)
    (pytester.path / "clouds.yaml").write_text(CLOUDS)
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(pytester.path / "clouds.yaml"))
    monkeypatch.setenv("INTEROP_CHALLENGE", str(pytester.path / "challenge.yaml"))
    return pytester


def events(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]


def test_fan_out_over_workers_with_incremental_skip(scenario: pytest.Pytester) -> None:
    result = scenario.runpytest_subprocess("-n", "3", "--dist", "loadgroup", "--run-id", "r1", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4, failed=1, skipped=1)
    out = result.stdout.str()
    assert "[good1] alpha passed" in out
    assert "[bad] alpha FAILED" in out and "quota exceeded" in out
    assert "[bad] beta skipped: cloud bad failed in phase alpha" in out

    run = scenario.path / "reports" / "r1"
    evs = events(run)
    ends = {(e["cloud"], e["phase"]): e for e in evs if e["type"] == "phase-end"}
    assert set(ends) == {("good1", "alpha"), ("good1", "beta"), ("good2", "alpha"), ("good2", "beta"), ("bad", "alpha")}
    assert ends[("bad", "alpha")]["outcome"] == "failed"
    assert "quota exceeded" in ends[("bad", "alpha")]["error"]
    assert ends[("good1", "alpha")]["details"] == {"seen": "good1", "nodes": 1}
    # each cloud's phases ran on one worker, in order
    for cloud in ("good1", "good2"):
        assert ends[(cloud, "alpha")]["worker"] == ends[(cloud, "beta")]["worker"]
        assert ends[(cloud, "alpha")]["end"] <= ends[(cloud, "beta")]["start"]
    assert [e["type"] for e in evs][0] == "run-start" and evs[-1]["type"] == "run-end"
    assert (run / "index.html").is_file()
    assert (scenario.path / "reports" / "latest").resolve() == run.resolve()


def test_clouds_option_picks_a_subset(scenario: pytest.Pytester) -> None:
    result = scenario.runpytest_subprocess("--clouds", "good2", "--run-id", "r2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    clouds = {e["cloud"] for e in events(scenario.path / "reports" / "r2") if e["type"] == "phase-end"}
    assert clouds == {"good2"}


def test_unknown_cloud_in_clouds_option_is_a_usage_error(scenario: pytest.Pytester) -> None:
    result = scenario.runpytest_subprocess("--clouds", "nosuch", "-p", "no:cacheprovider")
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*--clouds: nosuch not in the challenge file (has: good1, bad, good2)*"])


def test_plain_pytest_without_cloud_tests_writes_no_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x():\n    assert 1 + 1 == 2\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert not (pytester.path / "reports").exists()


def test_each_clouds_phases_stay_on_one_worker_in_order(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    clouds = [f"c{i}" for i in range(6)]
    pytester.makeconftest(CONFTEST + "\nSTACK = test_stack(('alpha', alpha), ('beta', beta), ('gamma', beta))\n")
    pytester.makepyfile(test_scenario=SCENARIO + "\ndef test_gamma(cloud_run):\n    run_phase(cloud_run, 'gamma')\n")
    (pytester.path / "challenge.yaml").write_text("stack: test-stack\nclouds: {" + ", ".join(f"{c}: {{}}" for c in clouds) + "}\n")
    (pytester.path / "clouds.yaml").write_text("clouds:\n" + "".join(
        f"  {c}:\n    auth: {{auth_url: 'http://127.0.0.1:9/v3', username: u, password: p}}\n" for c in clouds))
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(pytester.path / "clouds.yaml"))
    monkeypatch.setenv("INTEROP_CHALLENGE", str(pytester.path / "challenge.yaml"))
    result = pytester.runpytest_subprocess("-n", "2", "--dist", "loadgroup", "--run-id", "r3", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=18)
    ends = [e for e in events(pytester.path / "reports" / "r3") if e["type"] == "phase-end"]
    for cloud in clouds:
        mine = [e for e in ends if e["cloud"] == cloud]
        assert len({e["worker"] for e in mine}) == 1, f"{cloud} ran on several workers: {mine}"
        assert [e["phase"] for e in sorted(mine, key=lambda e: e["start"])] == ["alpha", "beta", "gamma"]


SIDE_BY_SIDE = STACK_DEF + '''
from pathlib import Path
from harness.waiting import wait_for

def alpha(run):
    # each cloud marks its start, then waits for the other's: run one after the other, it times out
    here = Path(run.run_dir)
    (here / f"alpha-{run.cloud}").touch()
    other = "c1" if run.cloud == "c0" else "c0"
    wait_for(lambda: (here / f"alpha-{other}").exists(), timeout=10, interval=0.05, what=f"{other} in alpha")
    return {}

STACK = test_stack(("alpha", alpha), ("beta", lambda run: {"after": "alpha"}))
'''


@pytest.mark.parametrize("xdist_args", [["-n", "1", "--dist", "loadgroup"], []], ids=["one-worker", "no-xdist"])
def test_one_process_runs_its_clouds_side_by_side(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
                                                  xdist_args: list[str]) -> None:
    pytester.makeconftest(SIDE_BY_SIDE)
    pytester.makepyfile(test_scenario=SCENARIO)
    (pytester.path / "challenge.yaml").write_text("stack: test-stack\nclouds: {c0: {}, c1: {}}\n")
    (pytester.path / "clouds.yaml").write_text("clouds:\n" + "".join(
        f"  {c}:\n    auth: {{auth_url: 'http://127.0.0.1:9/v3', username: u, password: p}}\n" for c in ("c0", "c1")))
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(pytester.path / "clouds.yaml"))
    monkeypatch.setenv("INTEROP_CHALLENGE", str(pytester.path / "challenge.yaml"))
    result = pytester.runpytest_subprocess(*xdist_args, "--run-id", "r4", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)
    ends = {(e["cloud"], e["phase"]): e for e in events(pytester.path / "reports" / "r4") if e["type"] == "phase-end"}
    a0, a1 = ends[("c0", "alpha")], ends[("c1", "alpha")]
    assert a0["pid"] == a1["pid"]  # one process...
    assert a0["start"] < a1["end"] and a1["start"] < a0["end"]  # ...both clouds in alpha at once
    for cloud in ("c0", "c1"):
        assert ends[(cloud, "alpha")]["end"] <= ends[(cloud, "beta")]["start"]
    out = result.stdout.str()
    assert "[c0] alpha ... started" in out and "[c1] beta passed in" in out  # progress from the record


STOP_EARLY = STACK_DEF + '''
import time
from dataclasses import replace

import pytest

from harness.errors import CloudError
from harness.provision.ledger import Ledger

def alpha(run):
    Ledger(run.run_dir).created(run.cloud, "server", "s0", "id-" + run.cloud)
    if run.cloud == "bad":
        raise CloudError("quota exceeded for instances", cloud=run.cloud, phase="alpha")
    return {}

def teardown(run):
    Ledger(run.run_dir).deleted(run.cloud, "server", "s0")
    return {"deleted": 1}

STACK = test_stack(("alpha", alpha), ("beta", lambda run: time.sleep(1)))  # beta: still going at -x

@pytest.fixture(scope="session")
def interop_pipeline(interop_pipeline):
    """Provisioning's teardown swapped for one that needs no cloud: the fixture is the seam."""
    return replace(interop_pipeline, phases=tuple(replace(p, run=teardown) if p.name == "teardown" else p
                                                  for p in interop_pipeline.phases))
'''


def test_exitfirst_stops_the_lanes_and_every_cloud_is_still_torn_down(pytester: pytest.Pytester,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makeconftest(STOP_EARLY)
    pytester.makepyfile(test_scenario=SCENARIO)
    clouds = ("bad", "good1", "good2")
    (pytester.path / "challenge.yaml").write_text("stack: test-stack\nclouds: {" + ", ".join(f"{c}: {{}}" for c in clouds) + "}\n")
    (pytester.path / "clouds.yaml").write_text("clouds:\n" + "".join(
        f"  {c}:\n    auth: {{auth_url: 'http://127.0.0.1:9/v3', username: u, password: p}}\n" for c in clouds))
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(pytester.path / "clouds.yaml"))
    monkeypatch.setenv("INTEROP_CHALLENGE", str(pytester.path / "challenge.yaml"))
    result = pytester.runpytest_subprocess("-x", "--run-id", "r5", "-p", "no:cacheprovider")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*stopping after 1 failures*"])
    run = pytester.path / "reports" / "r5"
    ends = {(e["cloud"], e["phase"]): e for e in events(run) if e["type"] == "phase-end"}
    assert ends[("bad", "alpha")]["outcome"] == "failed"
    for cloud in clouds:  # teardown was not among the tests, and -x came first: the lanes still ran it
        assert ends[(cloud, "teardown")]["outcome"] == "passed", cloud
        assert not Ledger(run).has_live(cloud)
