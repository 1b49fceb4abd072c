"""Fault injectors: the lifecycle's steps in order, timed on both clocks, the member always put
back, and the target chosen as the issue says (the leader when it is in the cloud)."""

from __future__ import annotations

from typing import Any

import pytest

from harness.errors import CloudError, PhaseTimeout
from harness.stacks.base import Database, Health, Member
from harness.survive.injectors import REGISTRY, FaultStep, Target, known_faults, run_fault
from harness.survive.phase import _target


class Recorded(Database):
    """A database that records what the injectors ask of it (the SQL side is not used here)."""

    def __init__(self, *, healthy_after: float = 0.0) -> None:
        self.calls: list[str] = []
        self.healthy_after = healthy_after

    def dsn(self, *, read_write: bool = True, member: str | None = None, redact: bool = False) -> str:
        return "host=127.0.0.1 port=9 connect_timeout=1"  # nothing listens: the member looks down

    def members(self) -> list[Member]:
        return []

    def health(self) -> Health:
        return Health(ok=True)

    def kill(self, member: str) -> None:
        self.calls.append(f"kill {member}")

    def kill_process(self, member: str) -> None:
        self.calls.append(f"kill_process {member}")

    def restart(self, member: str) -> None:
        self.calls.append(f"restart {member}")

    def wait_healthy(self, timeout: float) -> float:
        if self.healthy_after > timeout:
            raise PhaseTimeout(f"not healthy within {timeout}s")
        self.calls.append("wait_healthy")
        return self.healthy_after

    def status(self) -> dict[str, Any]:
        return {}


def member(name: str, cloud: str, role: str = "replica") -> Member:
    return Member(name=name, cloud=cloud, host="127.0.0.1", role=role, state="streaming")


@pytest.mark.parametrize(("fault", "calls"), [
    ("process-kill", ["kill_process m1", "wait_healthy"]),  # Patroni restarts it: no restart by us
    ("member-kill", ["kill m1", "restart m1", "wait_healthy"]),
])
def test_each_fault_runs_its_steps_in_order_on_both_clocks(fault: str, calls: list[str]) -> None:
    db, steps, ticks = Recorded(healthy_after=2.5), [], iter(range(0, 10**6, 100))
    paused: list[float] = []
    run = run_fault(REGISTRY[fault], Target(db, member("m1", "lab1")), timeout=5, hold=15, on_step=steps.append,
                    clock=lambda: next(ticks), pause=paused.append)
    assert db.calls == calls and paused == [15]
    assert [s.step for s in run.steps] == ["inject", "effect", "hold", "recover", "recovered"] == [
        s.step for s in steps]
    assert all(isinstance(s, FaultStep) and s.start <= s.end and s.clock_start <= s.clock_end for s in run.steps)
    assert run.injected_ns == run.steps[0].clock_end and run.healed_ns == run.steps[3].clock_start
    assert run.steps[-1].details == {"rejoin_s": 2.5}


def test_the_member_is_put_back_even_when_its_effect_never_shows() -> None:
    class Up(Recorded):
        def dsn(self, *, read_write: bool = True, member: str | None = None, redact: bool = False) -> str:
            raise CloudError("the member still answers")  # stands for: it never went down

    db = Up()
    with pytest.raises(CloudError):
        run_fault(REGISTRY["member-kill"], Target(db, member("m1", "lab1")), timeout=1, hold=0,
                  on_step=lambda s: None)
    assert db.calls == ["kill m1", "restart m1"]


def test_the_target_is_the_leader_when_it_is_in_the_cloud_else_the_first_member() -> None:
    members = [member("b-2", "lab2"), member("b-1", "lab2"), member("a-1", "lab1", role="leader")]
    assert _target(members, "lab1").name == "a-1"
    assert _target(members, "lab2").name == "b-1"
    with pytest.raises(CloudError, match="no database member of cloud lab3"):
        _target(members, "lab3")


def test_stacks_add_their_own_fault_kinds() -> None:
    assert known_faults() == ["cloud-cut", "member-kill", "process-kill", "server-reboot-hard", "server-stop"]
    assert "pod-delete" in known_faults(("pod-delete",))


def test_survive_is_skipped_with_the_reason_when_the_challenge_turns_it_off(tmp_path: Any) -> None:
    from pipelines import cloud_run

    from harness.challenge import Challenge
    from harness.errors import SkipCloud

    challenge = Challenge.model_validate({"clouds": {"lab1": {}}, "survival": {"enabled": False}})
    run_dir = tmp_path / "reports" / "20261206T000000Z-ab12"
    run_dir.mkdir(parents=True)
    run = cloud_run(challenge, "lab1", run_dir)
    with pytest.raises(SkipCloud, match=r"survival is off in the challenge file \(survival.enabled: false\)"):
        run.run_phase("survive")


class Partition(Recorded):
    """Two clouds; the cut takes ``lag`` probes of each pair to be in force (a security-group agent's delay)."""

    def __init__(self, lag: int, *, never: tuple[str, str] | None = None) -> None:
        super().__init__()
        self.lag, self.never, self.asked = lag, never, []  # type: ignore[var-annotated]

    def members(self) -> list[Member]:
        return [member("a1", "lab1", "leader"), member("a2", "lab1"), member("b1", "lab2"), member("b2", "lab2")]

    def reaches(self, member: str, other: str, timeout: float = 2.0) -> bool:
        self.asked.append((member, other))
        return (member, other) == self.never or self.asked.count((member, other)) <= self.lag


def cut_injector(effect: Any) -> Any:
    from dataclasses import replace

    # the cut's own inject and heal need a cloud run; the effect and the window are what is tested
    return replace(REGISTRY["cloud-cut"], inject=lambda t: {"rules_removed": 4}, recover=lambda t, timeout: None,
                   effect=effect)


def test_a_cut_is_in_force_only_once_no_pair_across_it_connects_both_ways() -> None:
    db, ticks = Partition(lag=3), iter(range(0, 10**6, 100))
    run = run_fault(cut_injector(REGISTRY["cloud-cut"].effect), Target(db, member("a1", "lab1", "leader")),
                    timeout=10, hold=0, on_step=lambda s: None, clock=lambda: next(ticks), pause=lambda s: None)
    # from the target to every node of the other cloud, and from the other cloud's first node back
    assert set(db.asked) == {("a1", "b1"), ("a1", "b2"), ("b1", "a1")}
    assert all(db.asked.count(p) == 4 for p in set(db.asked))  # 3 probes still connected, the 4th refused
    effect = run.steps[1]
    assert effect.step == "effect" and effect.details["probes"] == 3 and effect.details["in_force_after_s"] >= 0
    # the window starts when the cut was seen in force, not when the API took the rule changes
    assert run.injected_ns == effect.clock_end > run.steps[0].clock_end


def test_a_cut_never_in_force_fails_naming_the_pair_still_open_and_is_healed() -> None:
    healed: list[str] = []
    injector = cut_injector(REGISTRY["cloud-cut"].effect)
    from dataclasses import replace
    injector = replace(injector, recover=lambda t, timeout: healed.append("heal"))
    db = Partition(lag=0, never=("b1", "a1"))
    with pytest.raises(PhaseTimeout, match=r"cut of lab1 to be in force.*still open: b1 -> a1"):
        run_fault(injector, Target(db, member("a1", "lab1", "leader")), timeout=0.5, hold=0, on_step=lambda s: None)
    assert healed == ["heal"]


def test_a_cut_needs_a_member_in_another_cloud() -> None:
    class Alone(Partition):
        def members(self) -> list[Member]:
            return [member("a1", "lab1", "leader")]

    with pytest.raises(CloudError, match="no member in another cloud"):
        REGISTRY["cloud-cut"].effect(Target(Alone(0), member("a1", "lab1")), 1.0)
