"""Clouds dealt to xdist workers, and the scheduler that sends each worker its clouds' tests."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from harness.scheduling import ASSIGNED_KEY, CloudScheduling, cloud_scope, deal, worker_index


@pytest.mark.parametrize("nodeid, scope", [
    ("scenarios/test_challenge.py::test_servers[lab1]", "lab1"),
    ("scenarios/test_challenge.py::test_teardown[lab1]", "lab1"),
    ("scenarios/test_challenge.py::test_servers[lab1]@lab1", "lab1"),
    ("scenarios/test_challenge.py::test_servers[cloud@eu]", "cloud@eu"),
    ("scenarios/test_challenge.py::test_plain", "scenarios/test_challenge.py::test_plain"),
])
def test_cloud_scope_is_the_group_or_the_parameter(nodeid: str, scope: str) -> None:
    assert cloud_scope(nodeid) == scope


def test_deal_gives_every_cloud_to_exactly_one_worker() -> None:
    clouds = [f"c{i}" for i in range(7)]
    hands = [deal(clouds, f"gw{i}", 3) for i in range(3)]
    assert hands == [["c0", "c3", "c6"], ["c1", "c4"], ["c2", "c5"]]
    assert deal(list(reversed(clouds)), "gw1", 3) == ["c1", "c4"]  # the order given does not matter
    assert deal(["a"], "gw0", 1) == ["a"] and deal(["a"], "gw1", 2) == []


def test_worker_index_rejects_what_is_not_an_xdist_id() -> None:
    assert worker_index("gw12") == 12
    with pytest.raises(ValueError, match="not an xdist worker id: 'main'"):
        worker_index("main")


class FakeNode:
    """What the scheduler uses of xdist's WorkerController."""

    def __init__(self, worker_id: str, clouds: list[str]) -> None:
        self.gateway = SimpleNamespace(id=worker_id)
        self.workerinput = {ASSIGNED_KEY: clouds}
        self.sent: list[Any] = []

    def send_runtest_some(self, indices: list[int]) -> None:
        self.sent.append(list(indices))

    def shutdown(self) -> None:
        self.sent.append("shutdown")


def _scheduler(workers: int) -> CloudScheduling:
    config = SimpleNamespace(getvalue=lambda name: [f"{workers}*popen"] if name == "tx" else None)  # as -n sets it
    return CloudScheduling(config)


def test_each_worker_gets_all_of_its_clouds_tests_at_once_in_collection_order() -> None:
    clouds = ["a", "b", "c"]
    collection = [f"s.py::test_{phase}[{c}]" for phase in ("identity", "servers") for c in clouds]
    collection.append("s.py::test_plain")
    sched = _scheduler(2)
    nodes = [FakeNode(f"gw{i}", deal(clouds, f"gw{i}", 2)) for i in range(2)]
    for node in nodes:
        sched.add_node(node)
    assert not sched.collection_is_completed
    for node in nodes:
        sched.add_node_collection(node, collection)
    assert sched.collection_is_completed and not sched.tests_finished
    sched.schedule()
    # gw0 holds a and c (identity of both, then servers of both) and the first test of no cloud
    assert nodes[0].sent == [[0, 2, 3, 5, 6], "shutdown"]
    assert nodes[1].sent == [[1, 4], "shutdown"]
    for node, indices in ((nodes[0], [0, 2, 3, 5, 6]), (nodes[1], [1, 4])):
        for i in indices:
            assert not sched.tests_finished
            sched.mark_test_complete(node, i)
    assert sched.tests_finished and not sched.has_pending


def test_a_crashed_worker_names_its_running_test_and_a_late_worker_gets_nothing() -> None:
    collection = ["s.py::test_identity[a]", "s.py::test_identity[b]"]
    sched = _scheduler(2)
    nodes = [FakeNode("gw0", ["a"]), FakeNode("gw1", ["b"])]
    for node in nodes:
        sched.add_node(node)
        sched.add_node_collection(node, collection)
    sched.schedule()
    assert sched.remove_node(nodes[1]) == "s.py::test_identity[b]"
    late = FakeNode("gw2", ["b"])
    sched.add_node(late)
    sched.add_node_collection(late, collection)
    sched.schedule()
    assert late.sent == ["shutdown"]
    sched.mark_test_complete(nodes[0], 0)
    assert sched.tests_finished


def test_a_worker_with_no_cloud_is_shut_down_at_once() -> None:
    sched = _scheduler(2)
    nodes = [FakeNode("gw0", ["a"]), FakeNode("gw1", [])]
    for node in nodes:
        sched.add_node(node)
        sched.add_node_collection(node, ["s.py::test_identity[a]"])
    sched.schedule()
    assert nodes[1].sent == ["shutdown"] and nodes[0].sent == [[0], "shutdown"]
