"""The CockroachDB Database: membership and replication parsed from the documented row shapes,
faults through the Kubernetes seam (a scripted API server on 127.0.0.1, exec faked at the
WSClient interface), ``cockroach init`` once.

Rows are what ``psycopg`` with ``dict_row`` returns for :data:`MEMBERSHIP_SQL`: the columns of
``SHOW NODES``'s own query (``crdb_internal.gossip_liveness`` LEFT JOIN
``crdb_internal.gossip_nodes``: ``node_id`` INT, ``advertise_address`` /
``advertise_sql_address`` STRING ``host:port``, ``locality`` STRING ``k=v,k=v``,
``is_available`` BOOL from the liveness expiration, ``is_live`` BOOL via ``ifnull``,
``draining`` / ``decommissioning`` BOOL). A node known to liveness but not to gossip has
NULL gossip columns (the LEFT JOIN).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from k8s_apiserver import ApiServer, FakeWS, Reply, exit_frame, serving, to_json
from kubernetes import client as k8s

from harness.errors import CloudError, PhaseTimeout
from harness.stacks.k8s_cockroach.database import (
    ALREADY_INITIALIZED,
    KILL_SCRIPT,
    MEMBERSHIP_SQL,
    UNDER_REPLICATED_SQL,
    ClientCerts,
    CockroachDatabase,
    init_cluster,
    locality,
    parse_members,
    readiness,
)
from harness.stacks.k8s_cockroach.kube import Kube
from harness.stacks.k8s_cockroach.plan import CrdbNode, make_plan

pytestmark = pytest.mark.k8s

NODES = [
    CrdbNode("ih-lab1-1", "lab1", "203.0.113.11", "10.0.0.5", "ih-lab1-1", "lab1", "nova"),
    CrdbNode("ih-lab2-1", "lab2", "203.0.113.21", "10.0.0.5", "ih-lab2-1", "lab2", "nova"),  # same private IP
    CrdbNode("ih-lab3-1", "lab3", "203.0.113.31", "10.0.0.7", "ih-lab3-1", "lab3", "nova"),
]
PLAN = make_plan("ih-1a2b", NODES, namespace="crdb")
CERTS = ClientCerts(Path("/run/x/certs/ca.crt"), Path("/run/x/certs/client.root.crt"), Path("/run/x/certs/client.root.key"))


def row(node_id: int, address: str | None, cloud: str | None, *, live: bool = True, available: bool = True,
        draining: bool = False, decommissioning: bool = False) -> dict[str, Any]:
    return {"node_id": node_id, "advertise_address": address and f"{address}:26257",
            "advertise_sql_address": address and f"{address}:26257",
            "locality": cloud and f"cloud={cloud},region={cloud},zone=nova",
            "is_available": available, "is_live": live, "draining": draining, "decommissioning": decommissioning}


HEALTHY = [row(1, "203.0.113.11", "lab1"), row(2, "10.0.0.5", "lab2"), row(3, "203.0.113.31", "lab3")]


def database(kubes: dict[str, Kube] | None = None, rows: list[dict[str, Any]] | None = None,
             under: int = 0) -> CockroachDatabase:
    db = CockroachDatabase.of_plan(PLAN, kubes=kubes or {}, certs=CERTS)
    answers = {MEMBERSHIP_SQL: rows if rows is not None else HEALTHY,
               UNDER_REPLICATED_SQL: [{"under_replicated": under}]}

    def query(sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        if sql == UNDER_REPLICATED_SQL:
            assert params == (3,)
        return answers[sql]
    db.query = query  # type: ignore[method-assign]  # the SQL seam: recorded row shapes
    return db


# ---- parsing and the verdict

def test_locality() -> None:
    assert locality("cloud=lab1,region=lab1,zone=nova") == {"cloud": "lab1", "region": "lab1", "zone": "nova"}
    assert locality(None) == {} and locality("") == {}


def test_members_named_after_planned_nodes_by_cloud_and_address() -> None:
    members = parse_members(HEALTHY, NODES)
    # lab2's node advertised its private address (the querying node shares its locality) and
    # lab1's node has the same private address: the cloud tells them apart
    assert [(m.name, m.cloud, m.host, m.role) for m in members] == [
        ("ih-lab1-1", "lab1", "203.0.113.11", "live"), ("ih-lab2-1", "lab2", "203.0.113.21", "live"),
        ("ih-lab3-1", "lab3", "203.0.113.31", "live")]
    assert all(m.timeline is None and m.lag_bytes is None for m in members)


def test_roles_are_liveness_and_nobody_leads() -> None:
    rows = [row(1, "203.0.113.11", "lab1", draining=True), row(2, "203.0.113.21", "lab2", live=False),
            row(3, "203.0.113.31", "lab3", available=False), row(4, None, None, live=False)]
    members = parse_members(rows, NODES)
    assert [m.role for m in members] == ["draining", "dead", "dead", "dead"]
    assert members[3].name == "n4" and members[3].cloud == ""
    assert database(rows=HEALTHY).leader() is None


def test_healthy_then_each_way_of_not_being() -> None:
    ok = readiness(parse_members(HEALTHY, NODES), NODES, 0, 3)
    assert ok.ok and ok.reasons == []
    dead = readiness(parse_members([*HEALTHY[:2], row(3, "203.0.113.31", "lab3", live=False)], NODES), NODES, None, 3)
    assert dead.reasons == ["ih-lab3-1 is dead (node 3)"]
    missing = readiness(parse_members(HEALTHY[:2], NODES), NODES, 0, 3)
    assert missing.reasons == ["ih-lab3-1 is not a node of the cluster (no node advertises 203.0.113.31 "
                               "with locality cloud=lab3)"]
    wrong_cloud = readiness(parse_members([*HEALTHY[:2], row(3, "203.0.113.31", "lab9")], NODES), NODES, 0, 3)
    assert "ih-lab3-1 is not a node of the cluster" in wrong_cloud.reasons[0]
    assert "live node n3 at 203.0.113.31 (cloud lab9) is not planned" in wrong_cloud.reasons
    under = readiness(parse_members(HEALTHY, NODES), NODES, 7, 3)
    assert under.reasons == ["7 ranges have fewer than 3 replicas"]
    # a node back with a new store: the old ID stays dead, the new one is live: healthy
    again = readiness(parse_members([*HEALTHY, row(4, "203.0.113.31", "lab3", live=False)], NODES), NODES, 0, 3)
    assert again.ok


def test_health_asks_replication_only_when_every_node_is_live() -> None:
    asked: list[str] = []
    db = database(rows=[*HEALTHY[:2], row(3, "203.0.113.31", "lab3", live=False)])
    inner = db.query

    def spy(sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        asked.append(sql)
        return inner(sql, params)
    db.query = spy  # type: ignore[method-assign]
    assert not db.health().ok and asked == [MEMBERSHIP_SQL]
    assert database(under=0).health().ok


def test_wait_healthy_times_out_naming_what_and_why() -> None:
    db = database(under=2)
    with pytest.raises(PhaseTimeout) as err:
        db.wait_healthy(timeout=0.2, cloud="lab2", phase="survive")
    assert str(err.value).startswith("cloud lab2, phase survive: timed out after")
    assert "every one of 3 CockroachDB nodes live in its cloud and no range under 3 replicas" in str(err.value)
    assert "2 ranges have fewer than 3 replicas" in str(err.value)


def test_dsn_is_secure_with_client_timeouts_and_no_secret() -> None:
    db = database()
    dsn = db.dsn()
    for part in ("host=203.0.113.11,203.0.113.21,203.0.113.31", "port=26257,26257,26257", "user=root",
                 "sslmode=verify-full", "sslrootcert=/run/x/certs/ca.crt", "sslcert=/run/x/certs/client.root.crt",
                 "sslkey=/run/x/certs/client.root.key", "load_balance_hosts=random", "connect_timeout=5",
                 "keepalives=1", "tcp_user_timeout=10000"):
        assert part in dsn
    assert "password" not in dsn and db.dsn(redact=True) == dsn
    assert db.dsn(member="ih-lab2-1").startswith("host=203.0.113.21 port=26257 ")
    assert "load_balance_hosts" not in db.dsn(member="ih-lab2-1")


def test_replication_factor_never_exceeds_the_nodes() -> None:
    assert CockroachDatabase(NODES[:1], kubes={}, certs=CERTS).replication_factor == 1


# ---- faults through the Kubernetes seam

def pod(uid: str, *, ready: bool, rv: str) -> dict[str, Any]:
    return to_json(k8s.V1Pod(api_version="v1", kind="Pod",
                             metadata=k8s.V1ObjectMeta(name="crdb-ih-lab2-1-0", namespace="crdb", uid=uid, resource_version=rv),
                             status=k8s.V1PodStatus(phase="Running", conditions=[
                                 k8s.V1PodCondition(type="Ready", status="True" if ready else "False")])))


def pod_list(*pods: dict[str, Any], rv: str) -> dict[str, Any]:
    body = to_json(k8s.V1PodList(metadata=k8s.V1ListMeta(resource_version=rv), items=[]))
    body["items"] = list(pods)
    return body


POD = "/api/v1/namespaces/crdb/pods/crdb-ih-lab2-1-0"
PODS = "/api/v1/namespaces/crdb/pods"


@pytest.fixture
def api() -> Iterator[ApiServer]:
    yield from serving()


def test_kill_deletes_the_pod_with_grace_zero_and_restart_waits_for_a_new_ready_one(api: ApiServer,
                                                                                      tmp_path: Path) -> None:
    kube = Kube.from_kubeconfig(api.kubeconfig(tmp_path / "kc"), cloud="lab2", phase="survive")
    api.on("GET", POD, Reply(200, pod("uid-old", ready=True, rv="10")))
    api.on("DELETE", POD, Reply(200, pod("uid-old", ready=True, rv="11")))
    api.on("GET", PODS, lambda r: Reply(200, pod_list(pod("uid-new", ready=False, rv="20"), rv="20"))
           if "watch" not in r.query else
           Reply(200, events=[(0.0, {"type": "MODIFIED", "object": pod("uid-new", ready=True, rv="21")})]))
    db = database({"lab2": kube})
    db.kill("ih-lab2-1")
    assert db.killed_uid("ih-lab2-1") == "uid-old"
    assert api.made("DELETE", POD)[0].query == {"gracePeriodSeconds": ["0"]}
    db.restart("ih-lab2-1", timeout=5)
    assert api.made("GET", PODS)[-1].query["watch"] == ["true"]


def test_restart_does_not_mistake_the_killed_pod_for_the_new_one(api: ApiServer, tmp_path: Path) -> None:
    kube = Kube.from_kubeconfig(api.kubeconfig(tmp_path / "kc"), cloud="lab2", phase="survive")
    api.on("GET", POD, Reply(200, pod("uid-old", ready=True, rv="10")))
    api.on("DELETE", POD, Reply(200, pod("uid-old", ready=True, rv="11")))
    # the API still shows the old pod, Ready, and nothing changes
    api.on("GET", PODS, lambda r: Reply(200, pod_list(pod("uid-old", ready=True, rv="11"), rv="11"))
           if "watch" not in r.query else Reply(200, events=[], hold=2.0))
    db = database({"lab2": kube})
    db.kill("ih-lab2-1")
    with pytest.raises(PhaseTimeout, match="pod crdb/crdb-ih-lab2-1-0 of ih-lab2-1 to be recreated and Ready"):
        db.restart("ih-lab2-1", timeout=1)


def test_kill_process_is_sigkill_through_exec(tmp_path: Path, api: ApiServer) -> None:
    calls: list[dict[str, Any]] = []

    def stream(method: Any, name: str, namespace: str, **kwargs: Any) -> FakeWS:
        calls.append({"pod": name, "namespace": namespace, **kwargs})
        return FakeWS({3: exit_frame(137).decode()})  # the shell dies with the container it killed
    kube = Kube.from_kubeconfig(api.kubeconfig(tmp_path / "kc"), cloud="lab2", stream_fn=stream)
    database({"lab2": kube}).kill_process("ih-lab2-1")
    assert calls[0]["command"] == ["sh", "-c", KILL_SCRIPT] and calls[0]["pod"] == "crdb-ih-lab2-1-0"
    assert "kill -KILL" in KILL_SCRIPT


def test_kill_process_says_why_when_cockroach_is_pid_1(tmp_path: Path, api: ApiServer) -> None:
    kube = Kube.from_kubeconfig(api.kubeconfig(tmp_path / "kc"), cloud="lab2", stream_fn=lambda *a, **k: FakeWS(
        {2: "cockroach is PID 1 in its container: SIGKILL from inside is ignored (set shareProcessNamespace: true)\n",
         3: exit_frame(3).decode()}))
    with pytest.raises(CloudError, match="exit 3.*shareProcessNamespace: true"):
        database({"lab2": kube}).kill_process("ih-lab2-1")


# ---- cockroach init, once

def init_kube(api: ApiServer, tmp_path: Path, answers: list[FakeWS], commands: list[list[str]]) -> Kube:
    def stream(method: Any, name: str, namespace: str, **kwargs: Any) -> FakeWS:
        commands.append(kwargs["command"])
        return answers.pop(0)
    return Kube.from_kubeconfig(api.kubeconfig(tmp_path / "kc"), cloud="lab1", stream_fn=stream)


def test_init_runs_cockroach_init_in_the_first_pod_and_retries_until_definite(api: ApiServer, tmp_path: Path) -> None:
    commands: list[list[str]] = []
    refused = FakeWS({2: "ERROR: cannot dial server.\nIs the server running?\n", 3: exit_frame(1).decode()})
    done = FakeWS({1: "Cluster successfully initialized\n", 3: exit_frame(0).decode()})
    kube = init_kube(api, tmp_path, [refused, done], commands)
    assert init_cluster(kube, PLAN, interval=0.01) == "initialized"
    # the node's own certificate names localhost; the first of the join list is lab1's
    assert commands == [["/cockroach/cockroach", "init", "--certs-dir=/cockroach/cockroach-certs",
                         "--host=localhost:26257", "--cluster-name=ih-1a2b"]] * 2


def test_init_already_initialized_is_success(api: ApiServer, tmp_path: Path) -> None:
    commands: list[list[str]] = []
    again = FakeWS({2: f"ERROR: {ALREADY_INITIALIZED}\nFailed running \"init\"\n", 3: exit_frame(1).decode()})
    assert init_cluster(init_kube(api, tmp_path, [again], commands), PLAN) == "already initialized"
    assert len(commands) == 1


def test_init_that_never_succeeds_times_out_quoting_the_last_error(api: ApiServer, tmp_path: Path) -> None:
    refused = [FakeWS({2: "ERROR: cannot dial server.\n", 3: exit_frame(1).decode()}) for _ in range(50)]
    with pytest.raises(PhaseTimeout, match="cloud lab1, phase deploy: timed out after .* waiting for cockroach init "
                                           "through pod crdb/crdb-ih-lab1-1-0 .*cannot dial server"):
        init_cluster(init_kube(api, tmp_path, refused, []), PLAN, timeout=0.2, interval=0.01)
