"""Which xdist worker runs which clouds: decided up front, so each worker can start them all.

A worker runs its clouds side by side in lanes (:mod:`harness.lanes`) and must know all of
them before its first test, so the clouds are dealt out when the workers are configured (the
controller puts each worker's list in its ``workerinput``), and :class:`CloudScheduling`
sends every worker exactly its clouds' tests, all at once, in collection order. Collection
order is phase-major (``test_identity[a]``, ``test_identity[b]``, ``test_keypair[a]``...),
so a worker reports its clouds' phases as they finish, not one cloud after another.

>>> deal(["lab3", "lab1", "lab2"], "gw1", 2)
['lab2']
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

ASSIGNED_KEY = "interop_clouds"  # workerinput: the clouds this worker runs


def cloud_scope(nodeid: str) -> str:
    """The scheduling unit of a test: ``...::test_servers[lab1]`` -> ``lab1``.

    The ``@group`` suffix xdist adds for ``xdist_group`` wins when present; otherwise the
    parameter id, which for scenario tests is the cloud name (they are parametrized by cloud only).
    """
    if nodeid.rfind("@") > nodeid.rfind("]"):
        return nodeid.rsplit("@", 1)[-1]
    if nodeid.endswith("]") and "[" in nodeid:
        return nodeid[nodeid.rindex("[") + 1:-1]
    return nodeid


def worker_index(worker_id: str) -> int:
    """``gw3`` -> 3 (xdist names its workers ``gw0``, ``gw1``...)."""
    digits = worker_id.removeprefix("gw")
    if not digits.isdigit():
        raise ValueError(f"not an xdist worker id: {worker_id!r}")
    return int(digits)


def deal(clouds: Sequence[str], worker_id: str, worker_count: int) -> list[str]:
    """The clouds worker ``worker_id`` of ``worker_count`` runs: sorted, dealt round-robin."""
    index = worker_index(worker_id) % max(1, worker_count)
    return [c for i, c in enumerate(sorted(clouds)) if i % max(1, worker_count) == index]


class CloudScheduling:
    """xdist scheduler: every worker gets all tests of its dealt clouds at once, then shutdown.

    Tests that belong to no cloud are spread over the workers round-robin. A worker that
    joins late (a restart after a crash) gets nothing: its clouds' lanes died with the crashed
    worker, whose remaining phases stay "unfinished" in the record (``interop run`` turns
    restarts off).
    """

    def __init__(self, config: Any, log: Any = None) -> None:
        from xdist.workermanage import parse_tx_spec_config

        self.config = config
        self.numnodes = len(parse_tx_spec_config(config))
        self.log = log
        self.node2collection: dict[Any, list[str]] = {}
        self.node2pending: dict[Any, list[int]] = {}
        self._started: set[Any] = set()
        self.collection_is_completed = False

    @property
    def nodes(self) -> list[Any]:
        return list(self.node2pending)

    @property
    def tests_finished(self) -> bool:
        scheduled = all(node in self._started for node in self.node2collection)
        return self.collection_is_completed and scheduled and not self.has_pending

    @property
    def has_pending(self) -> bool:
        return any(self.node2pending.values())

    def add_node(self, node: Any) -> None:
        assert node not in self.node2pending
        self.node2pending[node] = []

    def add_node_collection(self, node: Any, collection: Sequence[str]) -> None:
        if self.collection_is_completed:  # a late (restarted) worker: nothing left for it
            self._started.add(node)
            node.shutdown()
            return
        self.node2collection[node] = list(collection)
        if len(self.node2collection) >= self.numnodes:
            self.collection_is_completed = True

    def mark_test_complete(self, node: Any, item_index: int, duration: float = 0) -> None:
        self.node2pending[node].remove(item_index)

    def mark_test_pending(self, item: str) -> None:
        raise NotImplementedError("clouds are dealt once; there is nothing to reschedule")

    def remove_pending_tests_from_node(self, node: Any, indices: Sequence[int]) -> None:
        raise NotImplementedError("clouds are dealt once; there is nothing to steal")

    def remove_node(self, node: Any) -> str | None:
        pending = self.node2pending.pop(node)
        if not pending:
            return None
        return self.node2collection[node][pending[0]]

    def schedule(self) -> None:
        assert self.collection_is_completed
        # every cloud of the run is dealt to some worker; any other test belongs to no cloud
        clouds = {c for node in self.node2collection for c in node.workerinput.get(ASSIGNED_KEY) or ()}
        for node in sorted(self.node2pending, key=lambda n: worker_index(n.gateway.id)):
            if node in self._started or node not in self.node2collection:
                continue
            mine = set(node.workerinput.get(ASSIGNED_KEY) or ())
            indices, loose = [], 0
            for i, nodeid in enumerate(self.node2collection[node]):
                scope = cloud_scope(nodeid)
                if scope in clouds:
                    if scope in mine:
                        indices.append(i)
                    continue
                if loose % self.numnodes == worker_index(node.gateway.id) % self.numnodes:
                    indices.append(i)
                loose += 1
            self.node2pending[node] = indices
            self._started.add(node)
            if indices:
                node.send_runtest_some(indices)
            node.shutdown()
