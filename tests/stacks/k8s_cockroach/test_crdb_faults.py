"""The stack's ``pod-delete`` fault and the generic ones, run through the survive phase's own
``run_fault`` against the CockroachDB Database: pods through a scripted API server on
127.0.0.1, SQL answers in the recorded row shapes (see test_crdb_database)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from k8s_apiserver import ApiServer, FakeWS, Reply, exit_frame, serving
from test_crdb_database import HEALTHY, NODES, POD, PODS, database, pod, pod_list, row

from harness.stacks.k8s_cockroach.database import parse_members
from harness.stacks.k8s_cockroach.faults import INJECTORS
from harness.stacks.k8s_cockroach.kube import Kube
from harness.stacks.k8s_cockroach.plan import CrdbNode
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
