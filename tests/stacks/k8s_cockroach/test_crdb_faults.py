"""The stack's ``pod-delete`` fault and the generic ones, run through the survive phase's own
``run_fault`` against the CockroachDB Database: pods through a scripted API server on
127.0.0.1, SQL answers in the recorded row shapes (see test_crdb_database); then the survive
checkers (``check_history``) judging a history around those faults."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from k8s_apiserver import ApiServer, FakeWS, Reply, exit_frame, serving
from survive.handwritten import S, history
from test_crdb_database import HEALTHY, NODES, POD, PODS, database, pod, pod_list, row

from harness.stacks.k8s_cockroach.database import CockroachDatabase, parse_members
from harness.stacks.k8s_cockroach.faults import INJECTORS
from harness.stacks.k8s_cockroach.kube import Kube
from harness.stacks.k8s_cockroach.plan import CrdbNode
from harness.survive.checks import Thresholds, check_history
from harness.survive.faults import CUT_KIND, Faults, FaultWindow, Observation, Window, dump_faults, load_faults
from harness.survive.history import Op
from harness.survive.injectors import REGISTRY, FaultStep, Target, run_fault
from harness.survive.phase import _target

pytestmark = pytest.mark.k8s


@pytest.fixture
def api() -> Iterator[ApiServer]:
    yield from serving()


def test_pod_delete_lifecycle(api: ApiServer, tmp_path: Path) -> None:
    kube = Kube.from_kubeconfig(api.kubeconfig(tmp_path / "kc"), cloud="lab2", phase="survive")
    api.on("GET", POD, Reply(200, pod("uid-old", ready=True, rv="10")))
    api.on("DELETE", POD, Reply(200, pod("uid-old", ready=True, rv="11")))
    lists = iter([pod_list(rv="12"),  # effect: the old pod is gone
                  pod_list(pod("uid-new", ready=False, rv="13"), rv="13")])  # recover: a new one, not Ready yet

    def pods(request: Any) -> Reply:
        if "watch" not in request.query:
            return Reply(200, next(lists))
        return Reply(200, events=[(0.0, {"type": "MODIFIED", "object": pod("uid-new", ready=True, rv="14")})])
    api.on("GET", PODS, pods)
    db = database({"lab2": kube})
    member = next(m for m in db.members() if m.name == "ih-lab2-1")
    steps: list[FaultStep] = []
    done = run_fault(INJECTORS["pod-delete"], Target(db, member), timeout=5, hold=0, on_step=steps.append,
                     pause=lambda s: None)
    assert [s.step for s in done.steps] == ["inject", "effect", "hold", "recover", "recovered"]
    assert done.steps[0].details == {"pod": "crdb/crdb-ih-lab2-1-0", "uid": "uid-old", "grace_period_s": 0}
    assert "gone_after_s" in done.steps[1].details and "ready_after_s" in done.steps[3].details
    assert "rejoin_s" in done.steps[4].details
    assert api.made("DELETE", POD)[0].query == {"gracePeriodSeconds": ["0"]}


def test_pod_delete_of_a_missing_pod_fails_the_inject_step(api: ApiServer, tmp_path: Path) -> None:
    kube = Kube.from_kubeconfig(api.kubeconfig(tmp_path / "kc"), cloud="lab2", phase="survive")
    db = database({"lab2": kube})  # no routes: every pod is 404
    member = parse_members(HEALTHY, NODES)[1]
    with pytest.raises(Exception, match="was not there to delete"):
        INJECTORS["pod-delete"].inject(Target(db, member))


def test_the_registry_key_matches_the_stack_declaration() -> None:
    from harness.stacks.k8s_cockroach.stack import STACK

    assert set(INJECTORS) == set(STACK.faults)
    assert not set(INJECTORS) & set(REGISTRY)  # a stack adds kinds; it never shadows a generic one


def test_process_kill_from_the_generic_registry_runs_on_this_database(api: ApiServer, tmp_path: Path) -> None:
    # the node's address is 127.0.0.1, where nothing listens on 26257: the effect step (the
    # member refuses SQL) is then seen at once, without leaving this host
    local = [CrdbNode("ih-lab2-1", "lab2", "127.0.0.1", "127.0.0.1", "ih-lab2-1", "lab2", "nova")]
    kube = Kube.from_kubeconfig(api.kubeconfig(tmp_path / "kc"), cloud="lab2",
                                stream_fn=lambda *a, **k: FakeWS({3: exit_frame(137).decode()}))
    db = database({"lab2": kube}, rows=[row(1, "127.0.0.1", "lab2")])
    db.nodes = local
    member = db.members()[0]
    done = run_fault(REGISTRY["process-kill"], Target(db, member), timeout=5, hold=0, on_step=lambda s: None,
                     pause=lambda s: None)
    assert [s.step for s in done.steps] == ["inject", "effect", "hold", "recover", "recovered"]


def test_the_survive_phase_aims_at_the_cloud_s_first_node() -> None:
    members = parse_members([*HEALTHY, row(4, "203.0.113.22", "lab2")], [*NODES, CrdbNode(
        "ih-lab2-2", "lab2", "203.0.113.22", "10.0.0.6", "ih-lab2-2", "lab2", "nova")])
    assert _target(members, "lab2").name == "ih-lab2-1"  # no leader in CockroachDB: the first by name


# ---- the survive checkers over these faults -----------------------------------------------------


def _faulted_database(api: ApiServer, tmp_path: Path) -> CockroachDatabase:
    """Three nodes; lab2's is reachable both ways a fault takes: its pod through the API server
    (pod-delete) and its process through exec (process-kill, exit 137), at 127.0.0.1 where nothing
    listens on 26257 (the effect, a refused SQL connection, is seen at once)."""
    kube = Kube.from_kubeconfig(api.kubeconfig(tmp_path / "kc"), cloud="lab2", phase="survive",
                                stream_fn=lambda *a, **k: FakeWS({3: exit_frame(137).decode()}))
    api.on("GET", POD, Reply(200, pod("uid-old", ready=True, rv="10")))
    api.on("DELETE", POD, Reply(200, pod("uid-old", ready=True, rv="11")))
    api.on("GET", PODS, lambda r: Reply(200, pod_list(rv="12")) if "watch" not in r.query else
           Reply(200, events=[(0.0, {"type": "ADDED", "object": pod("uid-new", ready=True, rv="13")})]))
    db = database({"lab2": kube}, rows=[HEALTHY[0], row(2, "127.0.0.1", "lab2"), HEALTHY[2]])
    db.nodes = [NODES[0], CrdbNode("ih-lab2-1", "lab2", "127.0.0.1", "127.0.0.1", "ih-lab2-1", "lab2", "nova"), NODES[2]]
    return db


def _history(faults: Faults, *, seed_cut_write: bool = False) -> list[Op]:
    """A recorded-shape workload of 45 s around the faults: an add (process 1) and a transfer
    (process 2) every half second, served by lab2's node; while a fault is on lab2's node the
    clients are on lab1's, the add in flight at the kill is unknown (``info``: 40003
    statement_completion_unknown) and the next one refused (``fail``); nothing is served by lab3
    while it is cut off (unless ``seed_cut_write``); final reads at 46 s."""
    on_lab2 = [(w.start / S, w.healed / S) for w in faults.of_cloud("lab2")]
    cut = faults.cuts()[0]
    rows: list[tuple[Any, ...]] = [(9, "invoke", "read", None, 0.0), (9, "ok", "read", {"a": 500, "b": 500}, 0.01)]
    added = []
    for i in range(90):
        t = i / 2
        node = ("ih-lab1-1", "lab1") if any(a <= t < h for a, h in on_lab2) else ("ih-lab2-1", "lab2")
        if any(a == t for a, _ in on_lab2):
            rows += [(1, "invoke", "add", i, t), (1, "info", "add", i, t + 0.4)]
            added.append(i)  # unknown: it may have committed, and the final read says it did
        elif any(a + 0.5 == t for a, _ in on_lab2):
            rows += [(1, "invoke", "add", i, t), (1, "fail", "add", i, t + 0.01)]
        else:
            rows += [(1, "invoke", "add", i, t), (1, "ok", "add", i, t + 0.01, *node)]
            added.append(i)
        transfer = {"from": "a", "to": "b", "amount": 1}
        rows += [(2, "invoke", "transfer", transfer, t), (2, "ok", "transfer", transfer, t + 0.02, *node)]
    if seed_cut_write:  # a write acknowledged by the cut-off cloud's node: what split brain looks for
        rows += [(3, "invoke", "add", 1000, cut.start / S + 1), (3, "ok", "add", 1000, cut.start / S + 1.1,
                                                                  "ih-lab3-1", "lab3")]
        added.append(1000)
    rows += [(1, "invoke", "read", None, 46.0), (1, "ok", "read", sorted(added), 46.1),
             (9, "invoke", "read", None, 46.0), (9, "ok", "read", {"a": 410, "b": 590}, 46.1)]
    rows.sort(key=lambda r: r[4])
    return history(*rows)


@pytest.mark.parametrize("seed_cut_write", [False, True], ids=["clean", "a-write-acked-by-the-cut-side"])
def test_the_survive_checkers_judge_pod_delete_and_process_kill_on_this_database(
        api: ApiServer, tmp_path: Path, seed_cut_write: bool) -> None:
    """The survive phase's own path on the CockroachDB Database: pod-delete and process-kill run by
    ``run_fault`` on the history's clock, their windows and a cut of lab3 (written by hand: a cut
    needs OpenStack's security groups) dumped and loaded as faults.json, the members observed after
    the heal from this database (liveness roles, no timeline), a history in the recorded shape
    judged by ``check_history``; split brain takes its leaderless path."""
    db = _faulted_database(api, tmp_path)
    ticks = iter(range(10, 100))  # the history's clock: one second per reading

    def clock() -> int:
        return next(ticks) * S

    runs = [run_fault(injector, Target(db, next(m for m in db.members() if m.cloud == "lab2")), timeout=5, hold=0,
                      on_step=lambda s: None, clock=clock, pause=lambda s: None)
            for injector in (INJECTORS["pod-delete"], REGISTRY["process-kill"])]
    assert [[s.step for s in r.steps] for r in runs] == [["inject", "effect", "hold", "recover", "recovered"]] * 2
    cut = FaultWindow("lab3 cloud-cut ih-lab3-1", CUT_KIND, "lab3", 30 * S, 35 * S)
    seen = [Observation(36 * S, m.name, m.role, m.timeline) for m in db.members()]  # as the phase's _observe
    faults_path = tmp_path / "faults.json"
    dump_faults(Faults(baseline=Window(0, 10 * S), observations=tuple(seen), faults=(
        *(FaultWindow(f"lab2 {r.fault} {r.target}", r.fault, "lab2", r.injected_ns, r.healed_ns or 0) for r in runs),
        cut)), faults_path)
    faults = load_faults(faults_path)
    assert [(w.kind, w.start / S, w.healed / S) for w in faults.faults] == [
        ("pod-delete", 11, 16), ("process-kill", 21, 26), ("cloud-cut", 30, 35)]
    path = tmp_path / "history.jsonl"
    path.write_text("".join(op.to_json() + "\n" for op in _history(faults, seed_cut_write=seed_cut_write)))

    report = check_history(path, faults, Thresholds(max_lost_writes=0, max_unavailable_s=30, min_throughput_ratio=0.5))
    verdicts = {(s.cloud, s.verdict.check): s.verdict for s in report.verdicts}
    assert list(verdicts) == [(None, "set"), (None, "bank"),
                              ("lab2", "unavailability"), ("lab2", "throughput-ratio"), ("lab2", "recovery-time"),
                              ("lab3", "unavailability"), ("lab3", "throughput-ratio"), ("lab3", "recovery-time"),
                              ("lab3", "split-brain")]
    assert report.skipped == []
    split = verdicts[("lab3", "split-brain")]
    assert split.details["leaderless"] is True and split.details["leaders"] == [] == split.details["timelines"]
    assert {m["role"] for m in split.details["members"].values()} == {"live"}
    others = [v.line() for k, v in verdicts.items() if k != ("lab3", "split-brain") and v.outcome != "passed"]
    assert others == []  # the unknown add and the refused one are neither lost nor a long outage
    if not seed_cut_write:
        assert split.outcome == "passed" and "no single leader or timeline to compare (members: live)" in split.reason
        assert report.passed
    else:  # leaderless is no free pass: the cut side's acknowledged write still fails it
        assert split.outcome == "failed" and split.details["cut_side_writes"]["count"] == 1
        assert "1 write acknowledged by lab3 while cut off" in split.reason and not report.passed
