"""Who is in the one CockroachDB cluster of a run: every cloud's nodes, their addresses and
localities, and the join list they all share.

Every cloud derives the plan from the same published servers, so every cloud gets the same
plan; everything rendered from it (certificates, manifests, the join list) agrees across clouds.

>>> plan = plan_from_servers("interop-1a2b", {
...     "lab1": [{"name": "n1", "public_ip": "172.24.4.11", "private_ip": "10.0.1.11"},
...              {"name": "n2", "public_ip": "172.24.4.12", "private_ip": "10.0.1.12"}],
...     "lab2": [{"name": "n3", "public_ip": "172.24.4.13", "private_ip": "10.0.2.13"}]})
>>> plan.join
('172.24.4.11:26257', '172.24.4.13:26257', '172.24.4.12:26257')
>>> plan.node("n3").locality
'cloud=lab2,region=lab2,zone=nova'
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ...configure.inventory import Server
from ...errors import ConfigError
from . import pins
from .join import choose_join, host_port

SQL_PORT = 26257  # SQL and inter-node RPC share it
HTTP_PORT = 8080  # DB Console, /health
NAMESPACE = "cockroachdb"
# Nova's availability zone when a cloud defines none: what a server's zone is unless told
DEFAULT_ZONE = "nova"

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
# a locality tier value sits inside "--locality=k=v,k=v" and "cloud=X@addr": no ',', '=', '@'
_TIER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
# CockroachDB's --cluster-name: a letter first, then letters, digits, '-', '_', '.'
_CLUSTER_RE = re.compile(r"^[A-Za-z][A-Za-z0-9._-]{0,255}$")
# a Kubernetes node name (what nodeSelector kubernetes.io/hostname matches): a DNS subdomain
_HOST_RE = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$")
# a StatefulSet's pods carry "<name>-<revision hash>" as a label value (at most 63)
_K8S_NAME_MAX = 47
_K8S_NAMESPACE_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


@dataclass(frozen=True)
class CrdbNode:
    """One CockroachDB node: one server of one cloud, one pod on it."""

    name: str
    cloud: str
    public_ip: str
    private_ip: str
    hostname: str
    region: str
    zone: str

    @property
    def locality(self) -> str:
        # broadest tier first, the same tiers on every node (CockroachDB compares them in order)
        return f"cloud={self.cloud},region={self.region},zone={self.zone}"

    @property
    def k8s_name(self) -> str:
        """The node's StatefulSet name (and its pod's, with ``-0``): a DNS label from the server name.

        >>> CrdbNode("ih-1a2b-lab1-1", "lab1", "1.2.3.4", "10.0.0.4", "h", "r", "z").k8s_name
        'crdb-ih-1a2b-lab1-1'
        """
        plain = re.sub(r"[^a-z0-9-]+", "-", self.name.lower()).strip("-")
        name = f"crdb-{plain}"
        if plain != self.name or len(name) > _K8S_NAME_MAX:
            # something was lost in the mapping: a hash of the real name keeps two nodes apart
            tail = hashlib.sha256(self.name.encode()).hexdigest()[:8]
            name = f"{name[:_K8S_NAME_MAX - len(tail) - 1].rstrip('-')}-{tail}"
        return name

    @property
    def advertise_addr(self) -> str:
        return host_port(self.public_ip, SQL_PORT)

    @property
    def private_addr(self) -> str:
        return host_port(self.private_ip, SQL_PORT)


@dataclass(frozen=True)
class CrdbPlan:
    """The cluster: its name, every node (clouds in name order), the shared ``--join`` list."""

    cluster_name: str
    nodes: tuple[CrdbNode, ...]
    join: tuple[str, ...]
    namespace: str = NAMESPACE
    image: str = field(default=pins.COCKROACH_IMAGE)

    @property
    def clouds(self) -> list[str]:
        return list(dict.fromkeys(n.cloud for n in self.nodes))

    def of_cloud(self, cloud: str) -> list[CrdbNode]:
        nodes = [n for n in self.nodes if n.cloud == cloud]
        if not nodes:
            raise ConfigError(f"the CockroachDB plan has no node in cloud {cloud} (clouds: {', '.join(self.clouds)})",
                              cloud=cloud)
        return nodes

    def node(self, name: str) -> CrdbNode:
        for n in self.nodes:
            if n.name == name:
                return n
        raise ConfigError(f"no node {name!r} in the CockroachDB plan")

    def as_dict(self) -> dict[str, Any]:
        """Plain data (no secrets) for the record and the rendezvous; :meth:`from_dict` reverses it."""
        return {"cluster_name": self.cluster_name, "namespace": self.namespace, "image": self.image,
                "join": list(self.join), "nodes": [asdict(n) for n in self.nodes]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CrdbPlan:
        nodes = tuple(CrdbNode(**{k: str(v) for k, v in n.items()}) for n in data["nodes"])
        return make_plan(str(data["cluster_name"]), nodes, namespace=str(data["namespace"]), image=str(data["image"]))

    def digest(self) -> str:
        """Short hash of the plan: clouds compare it to confirm they derived the same one."""
        return hashlib.sha256(json.dumps(self.as_dict(), sort_keys=True).encode()).hexdigest()[:16]


def _check_node(node: CrdbNode) -> None:
    where = f"node {node.name!r}"
    if not _NAME_RE.match(node.name):
        raise ConfigError(f"{where}: name must be letters, digits, '.', '_', '-' (at most 63)", cloud=node.cloud)
    for key in ("cloud", "region", "zone"):
        value = getattr(node, key)
        if not _TIER_RE.match(value):
            raise ConfigError(f"{where}: {key} {value!r} cannot be a locality tier (letters, digits, '.', '_', '-')",
                              cloud=node.cloud)
    for key in ("public_ip", "private_ip"):
        try:
            ipaddress.ip_address(getattr(node, key))
        except ValueError:
            raise ConfigError(f"{where}: {key} {getattr(node, key)!r} is not an IP address", cloud=node.cloud) from None
    if not _HOST_RE.match(node.hostname):
        raise ConfigError(f"{where}: hostname {node.hostname!r} is not a Kubernetes node name "
                          "(lower-case DNS name); give it as the server fact 'hostname'", cloud=node.cloud)


def make_plan(cluster_name: str, nodes: Sequence[CrdbNode], *, namespace: str = NAMESPACE,
              image: str = pins.COCKROACH_IMAGE) -> CrdbPlan:
    """The plan of these nodes, checked; ConfigError naming the cloud and field if it cannot be.

    Nodes are ordered by cloud name (then as given), so the order of the input mapping does
    not matter. The join list is :func:`.join.choose_join`'s.
    """
    if not _CLUSTER_RE.match(cluster_name):
        raise ConfigError(f"cluster name {cluster_name!r}: a letter, then letters, digits, '.', '_', '-' "
                          "(CockroachDB's --cluster-name)")
    if not _K8S_NAMESPACE_RE.match(namespace):
        raise ConfigError(f"namespace {namespace!r} is not a Kubernetes namespace name")
    for node in nodes:
        _check_node(node)
    seen: dict[str, CrdbNode] = {}
    for node in nodes:
        for key, value in (("name", node.name), ("public_ip", node.public_ip), ("k8s_name", node.k8s_name)):
            other = seen.get(f"{key}={value}")
            if other is not None:
                raise ConfigError(f"node {node.name!r}: {key} {value} is also node {other.name!r}'s "
                                  f"(cloud {other.cloud})", cloud=node.cloud)
            seen[f"{key}={value}"] = node
        # one cloud is one Kubernetes cluster: two pods pinned to one host would share its ports
        other = seen.get(f"host={node.cloud}/{node.hostname}")
        if other is not None:
            raise ConfigError(f"node {node.name!r}: hostname {node.hostname} is also node {other.name!r}'s",
                              cloud=node.cloud)
        seen[f"host={node.cloud}/{node.hostname}"] = node
    ordered = tuple(sorted(nodes, key=lambda n: n.cloud))  # stable: a cloud's nodes keep their order
    return CrdbPlan(cluster_name=cluster_name, nodes=ordered, join=choose_join(ordered), namespace=namespace,
                    image=image)


def cluster_name_for(run_id: str) -> str:
    """The run's ``--cluster-name``: every cloud derives the same one from the run id, and a node
    of another run (another name) cannot join by mistake.

    >>> cluster_name_for("20261125T001500Z-1a2b")
    'interop-20261125t001500z-1a2b'
    """
    name = "interop-" + re.sub(r"[^a-z0-9._-]+", "-", run_id.lower())
    if not _CLUSTER_RE.match(name):
        raise ConfigError(f"run id {run_id!r} gives no usable cluster name")
    return name


def node_from_fact(fact: Mapping[str, Any], cloud: str) -> CrdbNode:
    """One entry of ``run.facts["servers"]`` (see :mod:`harness.stacks.base`) as a node.

    Optional keys: ``hostname`` (default: the name, lower-cased: what cloud-init sets from the
    server name), ``region`` (default: the cloud), ``zone`` (default: ``nova``).
    """
    server = Server.from_fact(fact, cloud)  # the same checks as the inventory's: fields, name
    name = server.name
    return CrdbNode(name=name, cloud=cloud, public_ip=server.public_ip, private_ip=server.private_ip,
                    hostname=str(fact.get("hostname") or name.lower()), region=str(fact.get("region") or cloud),
                    zone=str(fact.get("zone") or DEFAULT_ZONE))


def plan_from_servers(cluster_name: str, servers: Mapping[str, Sequence[Mapping[str, Any]]], *,
                      namespace: str = NAMESPACE) -> CrdbPlan:
    """The plan of every cloud's published servers (``{cloud: run.facts["servers"]}``)."""
    nodes = [node_from_fact(fact, cloud) for cloud in sorted(servers) for fact in servers[cloud]]
    return make_plan(cluster_name, nodes, namespace=namespace)
