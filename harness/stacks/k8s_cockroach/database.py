"""The :class:`~..base.Database` of the k8s-cockroach stack: CockroachDB SQL, pods through kube.py.

>>> db = CockroachDatabase.of_plan(plan, kubes={"lab1": kube1, "lab2": kube2}, certs=certs)  # doctest: +SKIP
>>> [(m.name, m.cloud, m.role) for m in db.members()]                                # doctest: +SKIP
[('ih-1a2b-lab1-1', 'lab1', 'live'), ('ih-1a2b-lab2-1', 'lab2', 'live')]
>>> db.kill("ih-1a2b-lab2-1"); db.restart("ih-1a2b-lab2-1"); db.wait_healthy(timeout=120)  # doctest: +SKIP

Clients reach every node on its public address, port 26257, in secure mode: certificate
authentication as ``root`` (``client.root.crt``/``.key``), the server verified against the
run's one CA (``sslmode=verify-full``; node certificates carry the public address as a SAN).
Nothing in the DSN is secret (key *paths* only), so ``redact`` changes nothing.

**Membership** is the query behind ``SHOW NODES`` / ``cockroach node status`` (CockroachDB's
``delegate/show_nodes.go``): ``crdb_internal.gossip_liveness`` LEFT JOIN
``crdb_internal.gossip_nodes``, plus the advertised addresses and the drain/decommission flags.
Gossip answers while ranges are unavailable, which ``kv_node_status`` (a cluster RPC) may not.
A row is matched to a planned node by its locality's ``cloud=`` and its advertised host (the
public address, or the private one: ``--locality-advertise-addr`` makes a node in the same
cloud see the private address).

**Role.** CockroachDB has no single leader: every node takes reads and writes, and leadership is
per range (leaseholders move in seconds). ``Member.role`` is the node's liveness: ``live``,
``dead``, ``draining`` or ``decommissioning``; no member is ever ``leader``, so
:meth:`leader` is None and the survive phase aims a cloud's faults at its first node by name.
``timeline`` is None (CockroachDB has none); ``lag_bytes`` None.

**Health**: every expected node present, live, available (liveness record not expired), not
draining or decommissioning, with the planned ``cloud=`` locality; then no under-replicated
range, by roachtest's own check (``roachtestutil.WaitForReplication``):
``SELECT count(1) FROM crdb_internal.ranges WHERE array_length(replicas, 1) < <factor>``.
It reads range descriptors, so it is current (``system.replication_stats`` lags by
``kv.replication_reports.interval``, 1 min); a replica on a dead node still counts until it is
replaced, which the liveness half of the verdict already catches.

**Faults**: ``kill`` deletes the node's pod with grace 0 (a crash as the node sees it; its
StatefulSet makes a new pod); ``kill_process`` sends SIGKILL to the cockroach process through
exec (the kubelet restarts the container in place); ``restart`` waits for a pod that is not the
killed one to be Ready.

**SQLSTATE**: 40001 (restart transaction) is retried by the workload; 40003
(``statement_completion_unknown``, "result is ambiguous") is an unknown outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import CloudError, ConfigError
from ...waiting import wait_for
from ..base import Database, Health, Member
from .kube import pod_ready
from .manifests import init_command, init_node, pod_name
from .plan import NAMESPACE, SQL_PORT, CrdbNode, CrdbPlan

if TYPE_CHECKING:
    from .kube import Kube

# the same client timeouts as hosts-patroni (DESIGN: without them a client hangs ~15 min on a
# cut-off node); repeated here rather than imported: one stack does not import another
CLIENT_OPTIONS = {"connect_timeout": "5", "keepalives": "1", "keepalives_idle": "5", "keepalives_interval": "2",
                  "keepalives_count": "3", "tcp_user_timeout": "10000"}
ALREADY_INITIALIZED = "cluster has already been initialized"  # cockroach pkg/server/init.go ErrClusterInitialized

MEMBERSHIP_SQL = """
SELECT node_id, advertise_address, advertise_sql_address, locality,
       split_part(expiration, ',', 1)::DECIMAL > now()::DECIMAL AS is_available,
       ifnull(is_live, false) AS is_live, draining, decommissioning
  FROM crdb_internal.gossip_liveness LEFT JOIN crdb_internal.gossip_nodes USING (node_id)
 ORDER BY node_id"""
UNDER_REPLICATED_SQL = ("SELECT count(1) AS under_replicated FROM crdb_internal.ranges "
                        "WHERE array_length(replicas, 1) < %s")


@dataclass(frozen=True)
class ClientCerts:
    """Paths of the run's CA certificate and the ``client.root`` pair (their contents never leave them)."""

    ca: Path
    cert: Path
    key: Path


class NotHealthy(Exception):
    """A wait's check found the cluster not ready; the message says why."""


def locality(text: str | None) -> dict[str, str]:
    """``cloud=lab1,region=lab1,zone=nova`` as a mapping (the form ``gossip_nodes.locality`` has).

    >>> locality("cloud=lab1,region=lab1,zone=nova")["cloud"]
    'lab1'
    """
    tiers = {}
    for tier in (text or "").split(","):
        key, sep, value = tier.partition("=")
        if sep and key.strip():
            tiers[key.strip()] = value.strip()
    return tiers


def _host(address: str | None) -> str:
    """The host of ``host:port`` / ``[v6]:port``."""
    text = (address or "").strip()
    if text.startswith("["):
        return text[1:].split("]", 1)[0]
    return text.rsplit(":", 1)[0] if text.count(":") == 1 else text


def role_of(row: Mapping[str, Any]) -> str:
    """A node's liveness in one word (``Member.role``)."""
    if row.get("decommissioning"):
        return "decommissioning"
    if not (row.get("is_live") and row.get("is_available")):
        return "dead"
    return "draining" if row.get("draining") else "live"


def parse_members(rows: Sequence[Mapping[str, Any]], nodes: Sequence[CrdbNode]) -> list[Member]:
    """The rows of :data:`MEMBERSHIP_SQL` as members, named after the planned nodes.

    A row matches a node of the same ``cloud=`` locality whose public or private address is the
    row's advertised host. A row that matches no planned node keeps ``n<node_id>`` as its name
    (a stray node is then visible, not hidden).
    """
    members = []
    for row in rows:
        tiers = locality(row.get("locality"))
        cloud = tiers.get("cloud", "")
        hosts = {_host(row.get("advertise_address")), _host(row.get("advertise_sql_address"))} - {""}
        node = next((n for n in nodes if n.cloud == cloud and hosts & {n.public_ip, n.private_ip}), None)
        members.append(Member(
            name=node.name if node else f"n{row.get('node_id')}", cloud=cloud,
            host=node.public_ip if node else (sorted(hosts)[0] if hosts else ""),
            role=role_of(row), state=f"node {row.get('node_id')}"))
    return members


def readiness(members: Sequence[Member], nodes: Sequence[CrdbNode], under_replicated: int | None,
              replication_factor: int) -> Health:
    """The verdict: every planned node live in its cloud, then no under-replicated range."""
    reasons = []
    by_name: dict[str, list[Member]] = {}
    for m in members:
        by_name.setdefault(m.name, []).append(m)
    for node in nodes:
        seen = by_name.get(node.name, [])
        live = [m for m in seen if m.role == "live"]
        if not seen:
            reasons.append(f"{node.name} is not a node of the cluster (no node advertises {node.public_ip} "
                           f"with locality cloud={node.cloud})")
        elif not live:
            reasons.append(f"{node.name} is {seen[-1].role} ({seen[-1].state})")
        elif len(live) > 1:
            reasons.append(f"{node.name} is live as {len(live)} nodes ({', '.join(m.state for m in live)})")
    # a node that restarted with a new store is a new node ID; the old one stays, dead: harmless
    planned = {n.name for n in nodes}
    strays = [m for m in members if m.name not in planned and m.role == "live"]
    reasons += [f"live node {m.name} at {m.host or '?'} (cloud {m.cloud or '?'}) is not planned" for m in strays]
    if not reasons:
        if under_replicated is None:
            reasons.append("under-replicated ranges unknown")
        elif under_replicated:
            reasons.append(f"{under_replicated} ranges have fewer than {replication_factor} replicas")
    return Health(ok=not reasons, reasons=reasons, members=list(members))


Query = Callable[[str, tuple[Any, ...]], list[dict[str, Any]]]


class CockroachDatabase(Database):
    def __init__(self, nodes: Sequence[CrdbNode], *, kubes: Mapping[str, Kube], certs: ClientCerts,
                 namespace: str = NAMESPACE, dbname: str = "interop", user: str = "root", replication_factor: int = 3,
                 statement_timeout_s: float = 10.0, kill_timeout: float = 60.0) -> None:
        if not nodes:
            raise ConfigError("a CockroachDB cluster needs at least one node")
        self.nodes = list(nodes)
        self.namespace = namespace  # every cloud's pods live in the plan's one namespace
        self.kubes = kubes
        self.certs = certs
        self.dbname, self.user = dbname, user
        # a cluster of fewer nodes cannot hold more replicas: CockroachDB then replicates to them all
        self.replication_factor = min(replication_factor, len(self.nodes))
        self.statement_timeout_s = statement_timeout_s
        self.kill_timeout = kill_timeout
        self._killed: dict[str, str | None] = {}  # member -> uid of the pod it had when killed

    @classmethod
    def of_plan(cls, plan: CrdbPlan, **kwargs: Any) -> CockroachDatabase:
        """The database of every node of ``plan``, in its namespace."""
        return cls(plan.nodes, namespace=plan.namespace, **kwargs)

    def __repr__(self) -> str:
        return f"CockroachDatabase(nodes={[n.name for n in self.nodes]})"

    def pod_of(self, member: str) -> tuple[CrdbNode, str]:
        """The member's node and its pod's name (its StatefulSet's only pod)."""
        node = self.node(member)
        return node, pod_name(node)

    def node(self, name: str) -> CrdbNode:
        for n in self.nodes:
            if n.name == name:
                return n
        raise ConfigError(f"no node named {name} (nodes: {', '.join(n.name for n in self.nodes)})")

    def kube_for(self, node: CrdbNode) -> Kube:
        kube = self.kubes.get(node.cloud)
        if kube is None:
            raise ConfigError(f"no Kubernetes client for cloud {node.cloud} (node {node.name})")
        return kube

    # ---- clients
    def dsn(self, *, read_write: bool = True, member: str | None = None, redact: bool = False) -> str:
        # every node takes writes: read_write needs no target_session_attrs; with several hosts
        # the clients spread over them at random, as behind a load balancer
        from psycopg.conninfo import make_conninfo

        hosts = [self.node(member)] if member else self.nodes
        extra = {"load_balance_hosts": "random"} if len(hosts) > 1 else {}
        return make_conninfo(
            host=",".join(n.public_ip for n in hosts), port=",".join(str(SQL_PORT) for _ in hosts),
            dbname=self.dbname, user=self.user, sslmode="verify-full", sslrootcert=str(self.certs.ca),
            sslcert=str(self.certs.cert), sslkey=str(self.certs.key), **extra, **CLIENT_OPTIONS)

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """Rows of ``sql`` (as dicts by column name) from whichever node answers first."""
        import psycopg
        from psycopg.rows import dict_row

        try:
            with psycopg.connect(self.dsn(), autocommit=True, row_factory=dict_row) as conn:
                conn.execute(f"SET statement_timeout = '{int(self.statement_timeout_s * 1000)}ms'")
                try:  # v25.4 gates crdb_internal behind this session variable (default on, off later)
                    conn.execute("SET allow_unsafe_internals = on")
                except psycopg.errors.Error:
                    pass  # older versions have no such variable, and need none
                return list(conn.execute(sql, params).fetchall())
        except psycopg.Error as exc:
            raise CloudError(f"CockroachDB ({', '.join(n.public_ip for n in self.nodes)}): "
                             f"{getattr(exc, 'sqlstate', None) or type(exc).__name__}: {exc}") from exc

    def members(self) -> list[Member]:
        return parse_members(self.query(MEMBERSHIP_SQL), self.nodes)

    def under_replicated(self) -> int:
        rows = self.query(UNDER_REPLICATED_SQL, (self.replication_factor,))
        return int(rows[0]["under_replicated"]) if rows else 0

    def health(self) -> Health:
        try:
            members = self.members()
        except CloudError as exc:
            return Health(ok=False, reasons=[exc.message])
        under = None
        if all(m.role == "live" for m in members if m.name in {n.name for n in self.nodes}):
            try:
                under = self.under_replicated()
            except CloudError as exc:
                return Health(ok=False, reasons=[exc.message], members=members)
        return readiness(members, self.nodes, under, self.replication_factor)

    def wait_healthy(self, timeout: float, *, cloud: str | None = None, phase: str | None = None) -> float:
        def healthy() -> bool:
            health = self.health()
            if not health.ok:
                raise NotHealthy("; ".join(health.reasons))
            return True

        elapsed, _ = wait_for(healthy, timeout=timeout, interval=1.0, retry_on=(NotHealthy,), cloud=cloud,
                              phase=phase, what=f"every one of {len(self.nodes)} CockroachDB nodes live in its cloud "
                                            f"and no range under {self.replication_factor} replicas")
        return elapsed

    def status(self) -> dict[str, Any]:
        health = self.health()
        return {"nodes": [asdict(n) for n in self.nodes], "namespace": self.namespace,
                "replication_factor": self.replication_factor, "health": health.as_dict()}

    # ---- faults
    def pod(self, member: str) -> dict[str, Any] | None:
        node, pod = self.pod_of(member)
        return self.kube_for(node).get("Pod", self.namespace, pod)

    def kill(self, member: str) -> None:
        """Delete the member's pod with grace 0; its StatefulSet makes a new one."""
        node, pod = self.pod_of(member)
        kube = self.kube_for(node)
        current = kube.get("Pod", self.namespace, pod)
        self._killed[member] = (current or {}).get("metadata", {}).get("uid")
        if not kube.delete("Pod", self.namespace, pod, grace_period_seconds=0):
            raise CloudError(f"{member}: pod {self.namespace}/{pod} was not there to delete", cloud=node.cloud)

    def killed_uid(self, member: str) -> str | None:
        return self._killed.get(member)

    def kill_process(self, member: str) -> None:
        """SIGKILL of the cockroach process through exec; the kubelet restarts the container in place.

        A process cannot SIGKILL its PID namespace's init, so this needs cockroach not to be
        PID 1 in its container (``shareProcessNamespace: true`` in the pod spec); otherwise it
        says so rather than pretending.
        """
        node, pod = self.pod_of(member)
        result = self.kube_for(node).exec(self.namespace, pod, ["sh", "-c", KILL_SCRIPT], timeout=self.kill_timeout)
        # the killed container takes our shell with it: 137 or no status at all is expected
        if result.exit_code not in (0, 137, None):
            raise CloudError(f"{member}: SIGKILL of cockroach in pod {self.namespace}/{pod} failed "
                             f"(exit {result.exit_code}): {result.output()}", cloud=node.cloud)

    def restart(self, member: str, timeout: float | None = None) -> None:
        """Wait for the member's pod to be a new one (not the killed one) and Ready."""
        node, pod = self.pod_of(member)
        old = self._killed.get(member)

        def back(obj: dict[str, Any] | None) -> bool:
            return obj is not None and (obj.get("metadata") or {}).get("uid") != old and pod_ready(obj)

        self.kube_for(node).wait_for("Pod", self.namespace, pod, back, timeout=timeout or self.kill_timeout * 5,
                                     what=f"pod {self.namespace}/{pod} of {member} to be recreated and Ready")


# /proc, not pgrep: the image need not ship procps. Exit 3: cockroach is PID 1; 4: no cockroach.
KILL_SCRIPT = (
    'n=0; for d in /proc/[0-9]*; do p=${d#/proc/}; [ "$(cat "$d/comm" 2>/dev/null)" = cockroach ] || continue; '
    'if [ "$p" = 1 ]; then echo "cockroach is PID 1 in its container: SIGKILL from inside is ignored '
    '(set shareProcessNamespace: true)" >&2; exit 3; fi; kill -KILL "$p" && n=$((n+1)); done; '
    '[ "$n" -gt 0 ] || { echo "no cockroach process in the container" >&2; exit 4; }')


def init_cluster(kube: Kube, plan: CrdbPlan, *, timeout: float = 120.0, interval: float = 3.0,
                 cloud: str | None = None, phase: str | None = "deploy") -> str:
    """``cockroach init`` (:func:`.manifests.init_command`) through exec in the pod of the plan's
    init node (:func:`.manifests.init_node`), once per cluster; ``initialized`` or ``already initialized``.

    ``kube`` is the client of that node's cloud. Cockroach bootstraps a cluster once, whatever
    reaches it: a second init answers "cluster has already been initialized". So the call is
    retried until one answer is definite (a lost reply to a successful first attempt then reads
    as already initialized), and every other failure (the node not listening yet) is retried
    until ``timeout``.
    """
    node = init_node(plan)
    pod = pod_name(node)
    command = init_command(plan)
    where = f"pod {plan.namespace}/{pod}"

    def attempt() -> str | None:
        result = kube.exec(plan.namespace, pod, command, timeout=min(60.0, timeout))
        if result.ok:
            return "initialized"
        if ALREADY_INITIALIZED in result.stdout + result.stderr:
            return "already initialized"
        raise CloudError(f"cockroach init in {where} (exit {result.exit_code}): {result.output()}",
                         cloud=cloud or node.cloud, phase=phase)

    _, outcome = wait_for(attempt, timeout=timeout, interval=interval, retry_on=(CloudError,),
                          cloud=cloud or node.cloud, phase=phase, what=f"cockroach init through {where}")
    return outcome
