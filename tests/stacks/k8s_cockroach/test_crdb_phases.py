"""The stack's configure and deploy phases, run by the engine with fakes only at the seams:
Ansible (``run_playbook``, recorded), the cloud's flavor lookup (a fake connection), the
Kubernetes API (the scripted server on 127.0.0.1) and SQL (``CockroachDatabase.query`` answering
in the documented row shapes). Clouds run side by side in threads, as lanes do, through the real
rendezvous in the run directory.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from k8s_apiserver import ApiServer, Reply, exit_frame, serving, to_json
from kubernetes import client as k8s

from harness.challenge import Challenge
from harness.configure.ansible import PlaybookResult
from harness.engine import CloudRun
from harness.errors import ConfigError
from harness.provision.pipeline import pipeline_for
from harness.record import read_events
from harness.stacks import load_stack
from harness.stacks.k8s_cockroach import phases
from harness.stacks.k8s_cockroach.database import MEMBERSHIP_SQL, UNDER_REPLICATED_SQL, CockroachDatabase
from harness.stacks.k8s_cockroach.kube import resource_path
from harness.stacks.k8s_cockroach.manifests import init_node, objects_for_cloud, pod_name
from harness.stacks.k8s_cockroach.pki import ensure_pki
from harness.stacks.k8s_cockroach.plan import cluster_name_for, plan_from_servers

pytestmark = pytest.mark.k8s

RUN_ID = "20261206T040000Z-ab12"
SERVERS = {
    "lab4": [{"name": "interop-r-lab4-1", "public_ip": "127.0.0.1", "private_ip": "10.4.0.11"},
             {"name": "interop-r-lab4-2", "public_ip": "198.51.100.42", "private_ip": "10.4.0.12"}],
    "lab5": [{"name": "interop-r-lab5-1", "public_ip": "198.51.100.51", "private_ip": "10.5.0.11"},
             {"name": "interop-r-lab5-2", "public_ip": "198.51.100.52", "private_ip": "10.5.0.12"}],
}


def make_run(tmp_path: Path, cloud: str, *, dry_run: bool, flavor: str | None = "interop.small",
             ram: int = 512, vcpus: int = 1, disk: int = 1) -> CloudRun:
    challenge = Challenge.model_validate({"stack": "k8s-cockroach", "clouds": {c: {} for c in SERVERS},
                                          "defaults": {"flavor": flavor} if flavor else {}})
    run_dir = tmp_path / "reports" / RUN_ID
    run_dir.mkdir(parents=True, exist_ok=True)
    run = CloudRun(cloud=cloud, challenge=challenge, clouds=None, run_dir=run_dir,
                   pipeline=pipeline_for(load_stack("k8s-cockroach")), dry_run=dry_run)
    key = run.rundir.private_path() / "id_ed25519"
    key.write_text("not a key: ansible is faked\n")
    run.facts.update(servers=[dict(s, ssh_user="root") for s in SERVERS[cloud]], ssh_key=str(key))
    flavors = {"interop.small": SimpleNamespace(name="interop.small", ram=ram, vcpus=vcpus, disk=disk)}
    run._conn = SimpleNamespace(compute=SimpleNamespace(find_flavor=lambda name, ignore_missing: flavors.get(name)),
                                close=lambda: None)
    return run


class FakeAnsible:
    """``run_playbook`` at its seam: records each call; ``on_run`` may act as the playbook would."""

    def __init__(self, on_run: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.on_run = on_run

    def __call__(self, run_dir: Any, **kwargs: Any) -> PlaybookResult:
        self.calls.append(kwargs)
        if self.on_run:
            self.on_run(kwargs)
        plays = [{"name": f"{kwargs['playbook']} play", "seconds": 1.5}]
        result = PlaybookResult(kwargs["label"], "successful", 0, 1.5, None, Path("."), Path("."))  # type: ignore[arg-type]
        result.details = {"playbook": kwargs["playbook"], "plays": plays, "changed": 0}
        return result


@pytest.fixture
def ansible(monkeypatch: pytest.MonkeyPatch) -> FakeAnsible:
    fake = FakeAnsible()
    monkeypatch.setattr(phases, "run_playbook", fake)
    return fake


def phase_end(run: CloudRun, phase: str) -> dict[str, Any]:
    return next(e for e in read_events(run.rundir.events_path)
                if e["type"] == "phase-end" and e["cloud"] == run.cloud and e["phase"] == phase)


def no_key_under(path: Path) -> None:
    for file in path.rglob("*"):
        if file.is_file():
            text = file.read_text(errors="replace")
            assert "PRIVATE KEY" not in text and "LS0tLS1CRUdJTi" not in text, file


# ---- configure

def test_dry_run_configure_prepares_for_real_renders_k3s_and_notes_the_unmet_needs(tmp_path: Path,
                                                                                    ansible: FakeAnsible) -> None:
    run = make_run(tmp_path, "lab4", dry_run=True)
    details = run.run_phase("configure")
    assert [c["playbook"] for c in ansible.calls] == ["prepare.yml"]  # no k3s, no token needed
    inventory = ansible.calls[0]["inventory"]["all"]["children"]
    assert inventory["k3s"]["hosts"].keys() == {"interop-r-lab4-1", "interop-r-lab4-2"}
    assert list(inventory["k3s_server"]["hosts"]) == ["interop-r-lab4-1"]
    assert list(inventory["k3s_agent"]["hosts"]) == ["interop-r-lab4-2"]
    end = phase_end(run, "configure")
    assert end["outcome"] == "rendered"
    assert "prepare.yml) ran for real" in end["error"] and "512 MB RAM < 4096 MB" in end["error"]
    assert details["needs_not_met"].startswith("flavor interop.small is below stack k8s-cockroach's needs")
    note = [e for e in read_events(run.rundir.events_path) if e.get("note") == "needs-not-met"]
    assert len(note) == 1
    k3s = run.rundir.path / "artifacts" / "lab4" / "k3s"
    assert json.loads((k3s / "vars.json").read_text())["k3s_token"] == phases.TOKEN_MASK
    rules = json.loads((k3s / "rules.json").read_text())["rules"]
    assert {"purpose": "cockroach-sql", "protocol": "tcp", "ports": "26257",
            "sources": ["harness", "group", "peers"]} in rules
    assert json.loads((k3s / "inventory.json").read_text())["all"]["children"]["k3s_server"]
    assert not list(run.rundir.private_path().glob("k3s-token-*"))  # a dry run makes no token


def test_a_real_run_refuses_a_flavor_below_the_needs_before_touching_a_node(tmp_path: Path,
                                                                            ansible: FakeAnsible) -> None:
    run = make_run(tmp_path, "lab4", dry_run=False)
    with pytest.raises(ConfigError, match="512 MB RAM < 4096 MB, 1 vCPU < 2.*or use --dry-run"):
        run.run_phase("configure")
    assert ansible.calls == []


def test_a_discovered_flavor_is_not_second_guessed(tmp_path: Path, ansible: FakeAnsible) -> None:
    run = make_run(tmp_path, "lab4", dry_run=True, flavor=None)
    assert "needs_not_met" not in run.run_phase("configure")


@pytest.fixture
def api() -> Iterator[ApiServer]:
    yield from serving()


def test_real_configure_installs_k3s_with_a_private_token_and_rewrites_the_kubeconfig(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, api: ApiServer) -> None:
    def fetch(call: dict[str, Any]) -> None:  # what configure.yml's last play does: k3s.yaml, server 127.0.0.1
        config = yaml.safe_load(api.kubeconfig(tmp_path / "k3s.yaml", token="admin-token").read_text())
        config["clusters"][0]["cluster"]["server"] = api.url.replace("127.0.0.1", "localhost")
        Path(call["extravars"]["k3s_kubeconfig"]).write_text(yaml.safe_dump(config))

    fake = FakeAnsible(fetch)
    monkeypatch.setattr(phases, "run_playbook", fake)
    nodes = to_json(k8s.V1NodeList(metadata=k8s.V1ListMeta(resource_version="5"), items=[
        k8s.V1Node(metadata=k8s.V1ObjectMeta(name=s["name"])) for s in SERVERS["lab4"]]))
    api.on("GET", "/api/v1/nodes", Reply(200, nodes))
    run = make_run(tmp_path, "lab4", dry_run=False, ram=4096, vcpus=2, disk=20)
    details = run.run_phase("configure")
    (call,) = fake.calls
    token = call["extravars"]["k3s_token"]
    assert call["playbook"] == "configure.yml" and len(token) == 64 and call["secrets"] == [token]
    assert phases.k3s_token(run.rundir.private_path(), "lab4") == token  # kept, the same on a second read
    kubeconfig = Path(call["extravars"]["k3s_kubeconfig"])
    assert kubeconfig.is_relative_to(run.rundir.private_path()) and kubeconfig.stat().st_mode & 0o777 == 0o600
    # rewritten to the first server's public address (127.0.0.1 here), port kept; the API answered through it
    assert yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"] == api.url
    assert details["k8s_nodes"] == 2 and phase_end(run, "configure")["outcome"] == "passed"
    shown = (run.rundir.path / "artifacts" / "lab4" / "k3s" / "kubeconfig.yaml").read_text()
    assert "admin-token" not in shown and "REDACTED" in shown
    assert token not in "".join(p.read_text() for p in run.rundir.path.rglob("*") if p.is_file())


# ---- deploy

def run_clouds(runs: list[CloudRun], phase: str) -> dict[str, Any]:
    """Every cloud's phase at once, as lanes run them; the outcome (details or exception) per cloud."""
    out: dict[str, Any] = {}

    def one(run: CloudRun) -> None:
        try:
            out[run.cloud] = run.run_phase(phase)
        except BaseException as exc:  # noqa: BLE001 - reported to the test below
            out[run.cloud] = exc

    threads = [threading.Thread(target=one, args=(r,)) for r in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def test_dry_run_deploy_renders_every_cloud_s_artifacts_once_and_applies_nothing(tmp_path: Path) -> None:
    runs = [make_run(tmp_path, cloud, dry_run=True) for cloud in SERVERS]
    out = run_clouds(runs, "deploy")
    assert all(isinstance(d, dict) for d in out.values()), out
    plans = {c: d["plan"]["join"] for c, d in out.items()}
    assert plans["lab4"] == plans["lab5"] and 3 <= len(plans["lab4"]) <= 5
    for run in runs:
        end = phase_end(run, "deploy")
        assert end["outcome"] == "rendered" and "nothing applied" in end["error"]
        base = run.rundir.path / "artifacts" / run.cloud / "cockroach"
        assert sorted(p.name for p in base.iterdir()) == ["certificates.json", "init.json", "join.json",
                                                           "manifests.yaml"]
    assert json.loads((runs[0].rundir.path / "artifacts/lab4/cockroach/init.json").read_text())["runs_here"]
    no_key_under(runs[0].rundir.path)
    assert "database" not in runs[0].state


def sql_rows(plan: Any) -> Callable[..., list[dict[str, Any]]]:
    rows = [{"node_id": i, "advertise_address": f"{n.public_ip}:26257", "advertise_sql_address": f"{n.public_ip}:26257",
             "locality": n.locality, "is_available": True, "is_live": True, "draining": False,
             "decommissioning": False} for i, n in enumerate(plan.nodes, start=1)]

    def query(self: CockroachDatabase, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        return rows if sql == MEMBERSHIP_SQL else [{"under_replicated": 0}] if sql == UNDER_REPLICATED_SQL else []
    return query


def test_real_deploy_applies_each_cloud_inits_once_and_times_the_join(tmp_path: Path, api: ApiServer,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    runs = [make_run(tmp_path, cloud, dry_run=False) for cloud in SERVERS]
    rundir = runs[0].rundir
    plan = plan_from_servers(cluster_name_for(RUN_ID), SERVERS)
    for cloud in SERVERS:  # configure's kubeconfigs, in the private area
        (rundir.private_path() / "k3s").mkdir(exist_ok=True, mode=0o700)
        api.kubeconfig(phases.kubeconfig_path(runs[0], cloud))
    pki = ensure_pki(rundir.private_path(), plan)
    for cloud in SERVERS:
        for obj in objects_for_cloud(plan, pki, cloud):
            meta = obj["metadata"]
            path = resource_path(obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"])
            if not any(p == path for _, p, _ in api.routes):
                api.on("PATCH", path, lambda r: Reply(200, r.body))

    def pods(request: Any) -> Reply:
        name = request.query["fieldSelector"][0].removeprefix("metadata.name=")
        pod = to_json(k8s.V1Pod(api_version="v1", kind="Pod", metadata=k8s.V1ObjectMeta(
            name=name, namespace=plan.namespace, uid=f"uid-{name}", resource_version="7"),
            status=k8s.V1PodStatus(phase="Running")))
        return Reply(200, {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "7"},
                           "items": [pod]})

    api.on("GET", f"/api/v1/namespaces/{plan.namespace}/pods", pods)
    first = init_node(plan)
    api.on("GET", f"/api/v1/namespaces/{plan.namespace}/pods/{pod_name(first)}/exec",
           Reply(frames=[(1, b"Cluster successfully initialized\n"), (3, exit_frame(0))]))
    monkeypatch.setattr(CockroachDatabase, "query", sql_rows(plan))
    out = run_clouds(runs, "deploy")
    assert all(isinstance(d, dict) for d in out.values()), out
    execs = [r for r in api.requests if r.path.endswith("/exec")]
    assert len(execs) == 1 and execs[0].query["command"][:2] == ["/cockroach/cockroach", "init"]
    assert out[first.cloud]["init"] == "initialized" and "init" not in out["lab5"]
    secrets = [r for r in api.requests if r.method == "PATCH" and "/secrets/" in r.path]
    assert len(secrets) == len(plan.nodes) + len(SERVERS)  # each node's, and the root client's per cloud
    for run in runs:
        end = phase_end(run, "deploy")
        assert end["outcome"] == "passed" and end["details"]["join_s"] >= 0
        assert end["details"]["members"] == 4 and "sslkey=" in end["details"]["dsn"]
        assert isinstance(run.state["database"], CockroachDatabase)
        assert set(run.state["database"].kubes) == set(SERVERS)
        assert any(e.get("note") == "join" and e["cloud"] == run.cloud for e in read_events(rundir.events_path))
    no_key_under(rundir.path)


def test_the_report_row_names_the_join_list_localities_and_what_a_dry_run_rendered() -> None:
    stack = load_stack("k8s-cockroach")
    assert stack.report_rows is not None and stack.dry_run
    row = stack.report_rows({"configure": {"plays": [{"name": "Prepare", "seconds": 20.9}], "k3s_server": ["a1"],
                                           "k3s_agent": ["a2"], "rendered": "dry run: prepare ran",
                                           "needs_not_met": "flavor x is below"},
                             "deploy": {"plan": {"join": ["198.51.100.1:26257"], "localities": {"a1": "cloud=a"}}}})
    assert row is not None
    assert row["join list"] == ["198.51.100.1:26257"] and row["localities"] == ["a1: cloud=a"]
    assert row["dry run"] == ["dry run: prepare ran", "flavor x is below"]
    assert row["k3s"] == ["servers: a1", "agents: a2"]
