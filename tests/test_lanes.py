"""Lanes: a cloud's phases in order in a thread, outcomes handed to the tests, stop and cancel."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from pipelines import cloud_run

from harness import cancel
from harness.challenge import Challenge
from harness.engine import CloudRun
from harness.errors import CloudError, PhaseTimeout, SkipCloud
from harness.lanes import Lane, start_lanes, stop_lanes
from harness.provision.ledger import Ledger
from harness.stacks.base import PhaseFn
from harness.waiting import wait_for


@pytest.fixture(autouse=True)
def _fresh_cancel() -> Any:
    cancel.reset()
    yield
    cancel.reset()


@pytest.fixture
def phases() -> dict[str, PhaseFn]:
    """The phases a test swaps in (harness phases otherwise); read when each phase runs."""
    return {}


def _runs(tmp_path: Path, phases: dict[str, PhaseFn], *clouds: str) -> list[CloudRun]:
    challenge = Challenge.model_validate({"clouds": {c: {} for c in clouds}, "timeouts": {"identity": 5}})
    run_dir = tmp_path / "reports" / "20261201T000000Z-ab12"
    run_dir.mkdir(parents=True, exist_ok=True)
    return [cloud_run(challenge, c, run_dir, phases=phases) for c in clouds]


def _ends(run_dir: Path) -> dict[tuple[str, str], dict[str, Any]]:
    lines = (run_dir / "events.jsonl").read_text().splitlines()
    return {(e["cloud"], e["phase"]): e for e in map(json.loads, lines) if e["type"] == "phase-end"}


def test_lanes_run_their_clouds_at_the_same_time(tmp_path: Path, phases: dict[str, PhaseFn]) -> None:
    both_in = threading.Barrier(2, timeout=5)  # broken (BrokenBarrierError) if the clouds ran one by one

    def identity(run: CloudRun) -> dict[str, Any]:
        both_in.wait()
        return {"cloud": run.cloud, "thread": threading.current_thread().name}

    phases["identity"] = identity
    a, b = _runs(tmp_path, phases, "a", "b")
    lanes = start_lanes([(a, ["identity"]), (b, ["identity"])])
    assert a.lane.outcome("identity") == {"cloud": "a", "thread": "lane-a"}
    assert b.lane.outcome("identity") == {"cloud": "b", "thread": "lane-b"}
    assert stop_lanes(lanes, timeout=5) == []


def test_a_failure_reaches_its_test_and_later_phases_skip_but_teardown_runs(tmp_path: Path,
                                                                           phases: dict[str, PhaseFn]) -> None:
    def servers(run: CloudRun) -> None:
        Ledger(run.run_dir).created(run.cloud, "server", "s0", "id-0")
        raise CloudError("quota exceeded for instances", cloud=run.cloud, phase="servers")

    def teardown(run: CloudRun) -> dict[str, Any]:
        Ledger(run.run_dir).deleted(run.cloud, "server", "s0")
        return {"deleted": 1}

    phases["servers"] = servers
    phases["floating-ips"] = lambda run: pytest.fail("must not run after a failure")
    phases["teardown"] = teardown
    (run,) = _runs(tmp_path, phases, "a")
    lane = Lane(run, ["servers", "floating-ips", "teardown"]).start()
    with pytest.raises(CloudError, match="quota exceeded"):
        lane.outcome("servers")
    with pytest.raises(SkipCloud, match="failed in phase servers"):
        lane.outcome("floating-ips")
    assert lane.outcome("teardown") == {"deleted": 1}
    assert lane.join(5)
    ends = _ends(run.run_dir)
    assert ends[("a", "servers")]["outcome"] == "failed" and ends[("a", "teardown")]["outcome"] == "passed"
    assert lane.durations["servers"] >= 0 and set(lane.durations) == {"servers", "floating-ips", "teardown"}


def test_stop_ends_the_lane_after_its_current_phase_and_still_tears_down(tmp_path: Path,
                                                                        phases: dict[str, PhaseFn]) -> None:
    entered, release = threading.Event(), threading.Event()
    torn: list[str] = []

    def keypair(run: CloudRun) -> None:
        Ledger(run.run_dir).created(run.cloud, "keypair", "k", "id-k")
        entered.set()
        assert release.wait(5)

    phases["keypair"] = keypair
    phases["network"] = lambda run: pytest.fail("stopped lanes start no phase")
    phases["teardown"] = lambda run: torn.append(run.cloud)
    (run,) = _runs(tmp_path, phases, "a")
    lane = Lane(run, ["keypair", "network"]).start()  # teardown not listed: close() runs it
    assert entered.wait(5)
    lane.stop()
    release.set()
    assert lane.outcome("keypair") == {}
    with pytest.raises(SkipCloud, match="stopped before phase network"):
        lane.outcome("network")
    assert lane.join(5) and torn == ["a"]


def test_cancel_interrupts_a_waiting_phase_but_not_teardown(tmp_path: Path, phases: dict[str, PhaseFn]) -> None:
    waiting = threading.Event()

    def servers(run: CloudRun) -> None:
        Ledger(run.run_dir).created(run.cloud, "server", "s0", "id-0")
        waiting.set()
        wait_for(lambda: False, timeout=30, interval=0.05, what="servers to become ACTIVE")

    def teardown(run: CloudRun) -> dict[str, Any]:
        elapsed, _ = wait_for(lambda: True, timeout=5, what="servers to be deleted")  # shielded: not stopped
        Ledger(run.run_dir).deleted(run.cloud, "server", "s0")
        return {"waited": elapsed}

    phases["servers"] = servers
    phases["teardown"] = teardown
    (run,) = _runs(tmp_path, phases, "a")
    lane = Lane(run, ["servers", "floating-ips", "teardown"]).start()
    assert waiting.wait(5)
    t0 = time.monotonic()
    cancel.request()
    with pytest.raises(KeyboardInterrupt, match="servers to become ACTIVE"):
        lane.outcome("servers")
    assert time.monotonic() - t0 < 5
    with pytest.raises(SkipCloud):
        lane.outcome("floating-ips")
    assert "waited" in lane.outcome("teardown")
    ends = _ends(run.run_dir)
    assert ends[("a", "servers")]["error"] == "interrupted"
    assert ends[("a", "teardown")]["outcome"] == "passed"
    assert not Ledger(run.run_dir).has_live("a")


def test_a_stuck_lane_is_reported_not_waited_for_forever(tmp_path: Path, phases: dict[str, PhaseFn]) -> None:
    release = threading.Event()
    phases["identity"] = lambda run: release.wait(5)
    (run,) = _runs(tmp_path, phases, "a")
    lane = Lane(run, ["identity"]).start()
    assert lane.budget("identity") == 5 + 60  # the phase's own budget plus the margin
    with pytest.raises(PhaseTimeout, match="no outcome after 0s") as err:
        lane.outcome("identity", timeout=0.2)
    assert (err.value.cloud, err.value.phase) == ("a", "identity")
    release.set()
    assert lane.join(5)


def test_a_phase_outside_the_lane_is_a_clear_error(tmp_path: Path, phases: dict[str, PhaseFn]) -> None:
    (run,) = _runs(tmp_path, phases, "a")
    lane = Lane(run, [])
    with pytest.raises(KeyError, match="phase deploy is not in the lane of cloud a"):
        lane.outcome("deploy")
