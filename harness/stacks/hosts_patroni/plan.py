"""Who is in the one cluster of a run: members from every cloud, etcd members, synchronous
standbys. Every cloud derives the plan from the same published servers, so every cloud gets
the same plan (the deploy phase confirms it through the rendezvous).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ...configure.inventory import Server, check_unique
from ...errors import ConfigError

STACK = "hosts-patroni"
MAX_ETCD = 7


@dataclass(frozen=True)
class ClusterPlan:
    """Who is in the cluster: members (all clouds), etcd members, synchronous standbys."""

    scope: str
    members: tuple[Server, ...]
    etcd: tuple[str, ...]
    sync_standbys: int

    @property
    def clouds(self) -> list[str]:
        return list(dict.fromkeys(m.cloud for m in self.members))

    def of_cloud(self, cloud: str) -> list[Server]:
        return [m for m in self.members if m.cloud == cloud]

    def as_facts(self) -> dict[str, Any]:
        return {"stack": STACK, "scope": self.scope, "etcd": list(self.etcd), "sync_standbys": self.sync_standbys,
                "members": [{**m.as_fact(), "cloud": m.cloud} for m in self.members]}

    @classmethod
    def from_facts(cls, facts: Mapping[str, Any]) -> ClusterPlan:
        members = tuple(Server.from_fact(m, str(m["cloud"])) for m in facts["members"])
        return cls(scope=str(facts["scope"]), members=members, etcd=tuple(facts["etcd"]),
                   sync_standbys=int(facts["sync_standbys"]))

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.as_facts(), sort_keys=True).encode()).hexdigest()[:16]


def plan_cluster(nodes: Mapping[str, Sequence[Server]], scope: str = "interop") -> ClusterPlan:
    """The cluster of these clouds' servers; the same input gives the same plan everywhere.

    etcd: the first server of each cloud (3 or more clouds, at most 7), else servers taken
    round-robin over the clouds until there are 3. Synchronous standbys: the largest number
    of servers one cloud has (capped at members - 1), so one of them is outside the leader's
    cloud whichever cloud that is.

    >>> s = lambda n, c: Server(n, "10.0.0.1", "10.0.0.1", cloud=c)
    >>> p = plan_cluster({"a": [s("a1", "a"), s("a2", "a")], "b": [s("b1", "b"), s("b2", "b")]})
    >>> p.etcd, p.sync_standbys
    (('a1', 'b1', 'a2'), 2)
    """
    clouds = sorted(c for c, servers in nodes.items() if servers)
    if not clouds:
        raise ConfigError("no cloud has servers to form a cluster")
    members = tuple(s for c in clouds for s in nodes[c])
    check_unique(members)
    if len(clouds) >= 3:
        etcd = [nodes[c][0].name for c in clouds][:MAX_ETCD]
    else:
        etcd = []
        for i in range(max(len(nodes[c]) for c in clouds)):
            etcd += [nodes[c][i].name for c in clouds if i < len(nodes[c])]
        etcd = etcd[:3]
    most = max(len(nodes[c]) for c in clouds)
    return ClusterPlan(scope=scope, members=members, etcd=tuple(etcd), sync_standbys=min(most, len(members) - 1))
