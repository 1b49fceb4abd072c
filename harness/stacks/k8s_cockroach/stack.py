"""The ``k8s-cockroach`` stack as the harness sees it (the 2017 Boston demo).

Provisioning runs for real with this stack's needs and rules; ``configure`` (k3s through
Ansible) and ``deploy`` (the CockroachDB join) are declared but not built, so every cloud
skips them with that reason rather than reporting them passed.
"""

from __future__ import annotations

from ..base import Needs, Phase, Rule, Stack

# k3s + CockroachDB need 4 GB (CockroachDB's production minimum is 2 vCPU / 4 GB per node).
NEEDS = Needs(os=("ubuntu", "debian"), min_ram_mb=4096, min_vcpus=2, min_disk_gb=20)

RULES = (
    Rule("ssh", "tcp", (22, 22), ("harness",)),
    Rule("k3s-api", "tcp", (6443, 6443), ("harness", "group")),
    Rule("k3s-etcd", "tcp", (2379, 2380), ("group",)),
    Rule("kubelet", "tcp", (10250, 10250), ("group",)),
    Rule("flannel-vxlan", "udp", (8472, 8472), ("group",)),
    Rule("cockroach-sql", "tcp", (26257, 26257), ("harness", "group", "peers")),
    Rule("cockroach-http", "tcp", (8080, 8080), ("harness",)),
    Rule("icmp", "icmp", None, ("harness", "group")),
)

STACK = Stack(
    name="k8s-cockroach",
    needs=NEEDS,
    rules=RULES,
    phases=(
        Phase.not_built("configure", "the k8s-cockroach configure phase (k3s through Ansible) is not built yet"),
        Phase.not_built("deploy", "the k8s-cockroach deploy phase (CockroachDB join) is not built yet"),
    ),
    faults=("pod-delete",),
)
