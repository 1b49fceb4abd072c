"""The ``k8s-cockroach`` stack as the harness sees it (the 2017 Boston demo): needs, rules,
phases (:mod:`.phases`), rendezvous names, its database and fault, report rows, playbooks.

It offers a dry run (``interop run --dry-run``): where k3s and CockroachDB cannot run, the
servers are provisioned and prepared for real and everything else is rendered.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..base import Needs, Phase, Rule, Stack, lazy
from ..common import play_lines, seconds_text
from .names import RENDEZVOUS_NAMES
from .pins import PLAYBOOKS

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


def report_row(details: Mapping[str, Mapping[str, Any]]) -> dict[str, list[str]] | None:
    """The report's "k3s and the CockroachDB join" row: plays, k3s roles, join list, localities,
    join time; a dry run says what was only rendered. Only named fields are taken from the details.
    """
    if "configure" not in details and "deploy" not in details:
        return None
    conf = details.get("configure") or {}
    dep = details.get("deploy") or {}
    plan: Mapping[str, Any] = dep["plan"] if isinstance(dep.get("plan"), dict) else {}
    localities: Mapping[str, Any] = plan["localities"] if isinstance(plan.get("localities"), dict) else {}
    servers: list[Any] = conf["k3s_server"] if isinstance(conf.get("k3s_server"), list) else []
    agents: list[Any] = conf["k3s_agent"] if isinstance(conf.get("k3s_agent"), list) else []
    dry = [str(d["rendered"]) for d in (conf, dep) if isinstance(d.get("rendered"), str)]
    return {
        "configure plays": play_lines(conf),
        "k3s": [f"servers: {', '.join(map(str, servers)) or '-'}", f"agents: {', '.join(map(str, agents)) or '-'}"],
        "join list": [str(a) for a in plan.get("join") or []] or ["-"],
        "localities": [f"{name}: {loc}" for name, loc in localities.items()] or ["-"],
        "join": [seconds_text(dep.get("join_s"))],
        "cluster ready": [seconds_text(dep.get("cluster_ready_s"))],
        "dry run": dry + ([str(conf["needs_not_met"])] if conf.get("needs_not_met") else []) or ["-"],
    }


STACK = Stack(
    name="k8s-cockroach",
    needs=NEEDS,
    rules=RULES,
    phases=(Phase("configure", lazy(f"{__package__}.phases:configure_phase")),
            Phase("deploy", lazy(f"{__package__}.phases:deploy_phase"))),
    rendezvous=RENDEZVOUS_NAMES,
    faults=("pod-delete",),
    injectors=lazy(f"{__package__}.faults:injectors"),
    database=lazy(f"{__package__}.phases:database"),
    report_rows=report_row,
    report_title="k3s and the CockroachDB join",
    playbooks=PLAYBOOKS,
    dry_run=True,
)
