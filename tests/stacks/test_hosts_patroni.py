"""The hosts-patroni stack without servers: plan, secrets, rendezvous, DSN (harness/stacks/hosts_patroni.py)."""

from __future__ import annotations

import json
import stat
import threading
from pathlib import Path

import psycopg
import pytest
from pipelines import cloud_run

from harness.challenge import Challenge
from harness.configure.inventory import Server
from harness.engine import CloudRun
from harness.errors import CloudError, ConfigError, RendezvousError
from harness.record import RunDir
from harness.rendezvous import DirRendezvous
from harness.stacks.base import PhaseFn
from harness.stacks.common import confirm_plan
from harness.stacks.hosts_patroni import phases as hp
from harness.stacks.hosts_patroni.database import PatroniDatabase
from harness.stacks.hosts_patroni.plan import ClusterPlan


def servers(cloud: str, n: int) -> list[Server]:
    c = int(cloud[-1])
    return [Server(f"db-{cloud}-{i}", f"172.24.4.{10 * c + i}", f"10.0.{c}.{10 + i}", cloud=cloud)
            for i in range(1, n + 1)]


@pytest.mark.parametrize(("shape", "etcd", "sync"), [
    ({"c1": 2, "c2": 2, "c3": 2}, ["db-c1-1", "db-c2-1", "db-c3-1"], 2),
    ({"c1": 2, "c2": 2}, ["db-c1-1", "db-c2-1", "db-c1-2"], 2),
    ({"c1": 3}, ["db-c1-1", "db-c1-2", "db-c1-3"], 2),
    ({"c1": 1}, ["db-c1-1"], 0),
    ({"c1": 1, "c2": 3}, ["db-c1-1", "db-c2-1", "db-c2-2"], 3),
    ({f"c{i}": 1 for i in range(1, 10)}, [f"db-c{i}-1" for i in range(1, 8)], 1),
], ids=["3x2", "2x2", "1x3", "1x1", "1+3", "9x1-capped"])
def test_plan_etcd_members_and_sync_standbys(shape: dict[str, int], etcd: list[str], sync: int) -> None:
    plan = hp.plan_cluster({c: servers(c, n) for c, n in shape.items()})
    assert list(plan.etcd) == etcd
    assert plan.sync_standbys == sync
    assert plan.clouds == sorted(shape)


def test_every_cloud_derives_the_same_plan_whatever_the_order() -> None:
    a = hp.plan_cluster({"c2": servers("c2", 2), "c1": servers("c1", 2)})
    b = hp.plan_cluster({"c1": servers("c1", 2), "c2": servers("c2", 2)})
    assert a == b and a.digest() == b.digest()
    assert ClusterPlan.from_facts(json.loads(json.dumps(a.as_facts()))) == a
    assert hp.plan_cluster({"c1": servers("c1", 1), "c2": servers("c2", 2)}).digest() != a.digest()


def test_a_plan_needs_servers_with_unique_names() -> None:
    with pytest.raises(ConfigError, match="no cloud has servers"):
        hp.plan_cluster({"c1": []})
    dup = [Server("db-1", "1.1.1.1", "1.1.1.1", cloud="c2")]
    with pytest.raises(ConfigError, match="must be unique"):
        hp.plan_cluster({"c1": [Server("db-1", "1.1.1.2", "1.1.1.2", cloud="c1")], "c2": dup})


def test_secrets_are_made_once_private_and_shared_by_racing_workers(tmp_path: Path) -> None:
    results: list[dict[str, str]] = []
    threads = [threading.Thread(target=lambda: results.append(hp.db_secrets(tmp_path))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r == results[0] for r in results)
    assert sorted(results[0]) == sorted(hp.SECRET_KEYS) and all(len(v) >= 20 for v in results[0].values())
    assert stat.S_IMODE((tmp_path / hp.SECRETS_FILE).stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [hp.SECRETS_FILE]


def test_stack_vars_carry_the_pins() -> None:
    assert hp.stack_vars() == {"pg_version": 15, "patroni_version": "4.1.5", "psycopg_version": "3.3.9",
                               "patroni_venv": "/opt/patroni"}


def _run(tmp_path: Path, cloud: str, facts: dict | None = None, phases: dict[str, PhaseFn] | None = None) -> CloudRun:
    run_dir = RunDir(tmp_path / "reports", "20261125T000000Z-abcd").create()
    challenge = Challenge.model_validate({"clouds": {"c1": {}, "c2": {}}, "timeouts": {"deploy": 2}})
    run = cloud_run(challenge, cloud, run_dir.path, phases=phases)
    run.facts.update(facts or {})
    return run


def test_confirm_plan_refuses_a_cloud_that_derived_another_plan(tmp_path: Path) -> None:
    rv = DirRendezvous(tmp_path)
    plan = hp.plan_cluster({"c1": servers("c1", 2), "c2": servers("c2", 2)})
    rv.publish(hp.PLAN, "c2", {"digest": "something-else"})
    with pytest.raises(RendezvousError, match="clouds c2 derived a different cluster plan"):
        confirm_plan(rv, hp.PLAN, "c1", plan.clouds, plan.digest(), what="cluster plan", timeout=1)
    rv2 = DirRendezvous(tmp_path / "other")
    with pytest.raises(RendezvousError, match="clouds c2 did not confirm the cluster plan"):
        confirm_plan(rv2, hp.PLAN, "c1", plan.clouds, plan.digest(), what="cluster plan", timeout=0.3)


def test_a_cloud_failing_before_deploy_withdraws_from_every_stack_name(tmp_path: Path) -> None:
    def unreachable(run: CloudRun) -> None:
        raise CloudError("host db-c2-1 unreachable", cloud=run.cloud, phase="configure")

    run = _run(tmp_path, "c2", phases={"configure": unreachable})
    with pytest.raises(CloudError):
        run.run_phase("configure")
    rv = DirRendezvous(run.run_dir)
    for name in (hp.NODES, hp.PLAN, hp.JOINED):
        assert rv.gather(name, ["c2"], timeout=0.1).withdrawn == {"c2": "failed in configure: host db-c2-1 unreachable"}


def test_deploy_without_facts_fails_clearly_and_withdraws(tmp_path: Path) -> None:
    run = _run(tmp_path, "c1", facts={"servers": [s.as_fact() for s in servers("c1", 1)]})
    with pytest.raises(ConfigError, match="no ssh key"):
        hp.deploy_phase(run)
    with pytest.raises(ConfigError, match="no servers in the run's facts"):
        hp.configure_phase(_run(tmp_path, "c2"))


def test_deploy_withdraws_when_its_playbook_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Peers that never show up: the gather deadline passes, the plan is this cloud alone;
    then its playbook fails, and the cloud withdraws from the join so nobody waits for it."""
    def failing_playbook(*args: object, **kwargs: object) -> None:
        raise CloudError("ansible deploy: host db-c1-1: failed in task 'Start etcd': boom", cloud="c1")

    monkeypatch.setattr(hp, "run_playbook", failing_playbook)
    key = tmp_path / "key"
    key.write_text("not really a key")
    run = _run(tmp_path, "c1", facts={"servers": [s.as_fact() for s in servers("c1", 1)], "ssh_key": str(key)})
    with pytest.raises(CloudError, match="boom"):
        run.run_phase("deploy")  # the engine withdraws for the stack
    rv = DirRendezvous(run.run_dir)
    assert rv.gather(hp.JOINED, ["c1"], timeout=0.1).withdrawn["c1"].startswith("failed in deploy: ansible deploy")
    assert rv.gather(hp.NODES, ["c1", "c2"], timeout=0.1).missing == ["c2"]  # c1 did publish its servers


def test_dsn_lists_every_member_with_client_timeouts() -> None:
    plan = hp.plan_cluster({"c1": servers("c1", 2), "c2": servers("c2", 1)})
    db = PatroniDatabase(plan, password="pw-1234", ssh_key=Path("/k"), known_hosts=Path("/kh"))
    params = psycopg.conninfo.conninfo_to_dict(db.dsn())
    assert params["host"] == "172.24.4.11,172.24.4.12,172.24.4.21"
    assert params["port"] == "5432,5432,5432"
    assert (params["dbname"], params["user"], params["password"]) == ("interop", "interop", "pw-1234")
    assert params["target_session_attrs"] == "read-write"
    for key in ("connect_timeout", "keepalives_idle", "tcp_user_timeout"):
        assert key in params
    one = psycopg.conninfo.conninfo_to_dict(db.dsn(member="db-c2-1"))
    assert (one["host"], one["target_session_attrs"]) == ("172.24.4.21", "any")
    assert "pw-1234" not in db.dsn(redact=True)
    with pytest.raises(ConfigError, match="no member named"):
        db.dsn(member="nope")
