"""The hosts-patroni stack live: configure + deploy through the harness's phase functions on
namespace VMs in 4 "clouds" (3 x 2 servers, and c4 whose server's sshd was stopped first).

Needs root, the data-plane tools and the stack's packages (installed by the fixture); about
2-3 minutes on 2 cores.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import psycopg
import pytest
from patroni_lab import BROKEN, LabCluster

from harness.errors import UnreachableError
from harness.record import read_events
from harness.stacks.hosts_patroni import phases as hosts_patroni
from harness.stacks.hosts_patroni.database import PatroniDatabase
from harness.survive.checks import Thresholds, check_history
from harness.survive.history import HistoryWriter
from harness.survive.workload import Limits, Workload, bank_total, prepare

pytestmark = [pytest.mark.lab, pytest.mark.timeout(900)]
GOOD = ["c1", "c2", "c3"]


def db_of(cluster: LabCluster) -> PatroniDatabase:
    db = cluster.runs["c1"].state.get("database")
    assert isinstance(db, PatroniDatabase), cluster.errors
    return db


def test_a_broken_host_fails_only_its_cloud_with_host_and_reason(cluster: LabCluster) -> None:
    assert set(cluster.errors) == {(BROKEN, "configure")}, cluster.errors
    err = cluster.errors[(BROKEN, "configure")]
    server = cluster.runs[BROKEN].facts["servers"][0]
    assert isinstance(err, UnreachableError) and err.cloud == BROKEN and err.phase == "configure"
    assert f"host {server['name']} ({server['public_ip']}): unreachable in task 'Gathering Facts'" in err.message
    assert "Connection refused" in err.message
    ends = {e["cloud"]: e for e in read_events(cluster.run.events_path)
            if e["type"] == "phase-end" and e["phase"] == "configure"}
    assert ends[BROKEN]["outcome"] == "failed" and ends[BROKEN]["error_type"] == "UnreachableError"
    assert all(ends[c]["outcome"] == "passed" for c in GOOD)


def test_the_cluster_forms_without_the_broken_cloud(cluster: LabCluster) -> None:
    db = db_of(cluster)
    health = db.health()
    assert health.ok, health.reasons
    assert len(health.members) == 6 and health.timeline == 1
    assert len(health.sync_standbys) == 2
    leader_cloud = next(m.cloud for m in health.members if m.name == health.leader)
    assert any(m.cloud != leader_cloud for m in health.members if m.name in health.sync_standbys)
    for cloud in GOOD:
        d = cluster.details[(cloud, "deploy")]
        assert d["plan"]["clouds"] == GOOD and d["plan"]["sync_standbys"] == 2
        assert d["clouds_withdrawn"] == {BROKEN: d["clouds_withdrawn"][BROKEN]}
        assert d["clouds_withdrawn"][BROKEN].startswith("failed in configure: ")
        assert 0 < d["join_s"] <= d["cluster_ready_s"]
        assert cluster.runs[cloud].facts["database"]["sync_standbys"] == 2
    joins = [e for e in read_events(cluster.run.events_path) if e.get("note") == "join"]
    assert sorted(e["cloud"] for e in joins) == GOOD


def test_psql_through_the_harness_connection_string_writes_and_reads(cluster: LabCluster) -> None:
    db = db_of(cluster)
    with psycopg.connect(db.dsn()) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS probe (id int PRIMARY KEY, note text)")
        conn.execute("INSERT INTO probe VALUES (1, 'written through the harness DSN')")
    replica = next(m for m in db.members() if m.role != "leader")
    with psycopg.connect(db.dsn(member=replica.name)) as conn:  # synchronous standbys have it at once
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
        assert conn.execute("SELECT note FROM probe WHERE id = 1").fetchone() in (
            ("written through the harness DSN",), None)
    with psycopg.connect(db.dsn()) as conn:
        assert conn.execute("SELECT note FROM probe WHERE id = 1").fetchone() == ("written through the harness DSN",)


def test_cluster_status_and_play_timings_are_in_the_run(cluster: LabCluster) -> None:
    for cloud in GOOD:
        status = json.loads((cluster.run.path / "artifacts" / cloud / "cluster-status.json").read_text())
        assert status["health"]["ok"] and status["health"]["leader"]
        assert {m["timeline"] for m in status["health"]["members"]} == {1}
        assert len(status["health"]["sync_standbys"]) == 2 and len(status["views"]) == 6
        for label in ("configure", "deploy"):
            art = cluster.run.path / "artifacts" / cloud / f"ansible-{label}"
            assert (art / "stdout.txt").read_text().count("PLAY RECAP") == 1
    notes = [e for e in read_events(cluster.run.events_path) if e.get("note") == "ansible-play"]
    plays = {(e["cloud"], e["phase"], e["play"]) for e in notes}
    assert ("c2", "configure", "Check the hosts") in plays and ("c2", "deploy", "Patroni and PostgreSQL") in plays
    d = cluster.details[("c3", "configure")]
    assert [p["name"] for p in d["plays"]] == ["Check the hosts", "Install the stack's packages where missing",
                                              "Prepare PostgreSQL, Patroni and etcd"]
    assert len(d["slowest_tasks"]) == 5


def test_artifacts_hold_no_secrets(cluster: LabCluster) -> None:
    secrets = hosts_patroni.db_secrets(cluster.run.private_path())
    key = cluster.key.read_text()
    for path in cluster.run.path.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert not any(s in text for s in secrets.values()), path
            assert "PRIVATE KEY-----" not in text and key.splitlines()[1] not in text, path


def test_second_configure_changes_nothing(cluster: LabCluster) -> None:
    cluster.phase("configure", GOOD)
    for cloud in GOOD:
        assert (cloud, "configure") not in cluster.errors
        d = cluster.details[(cloud, "configure")]
        assert d["label"] == "configure-2"
        assert d["changed"] == 0, d["changed_tasks"]


def test_kill_the_leader_and_restart_it(cluster: LabCluster) -> None:
    db = db_of(cluster)
    old = db.health()
    assert old.ok and old.leader
    start = time.monotonic()
    db.kill(old.leader)
    new_leader = None
    while time.monotonic() - start < 90 and new_leader in (None, old.leader):
        time.sleep(0.5)
        h = db.health()
        new_leader = h.leader
    failover_s = time.monotonic() - start
    assert new_leader not in (None, old.leader), f"no new leader after {failover_s:.0f}s"
    db.restart(old.leader)
    healthy_s = db.wait_healthy(timeout=120)
    h = db.health()
    assert h.ok and h.timeline == old.timeline + 1
    print(f"failover: new leader {new_leader} after {failover_s:.1f}s; cluster healthy {healthy_s:.1f}s "
          "after restarting the old leader")


def test_seeded_violations_behind_the_workloads_back_are_caught(cluster: LabCluster, tmp_path: Path) -> None:
    """The checkers are shown to catch what they exist for, on the real cluster: an acknowledged
    row deleted, a value nobody wrote inserted, a balance set negative, all while the workload runs."""
    db = db_of(cluster)
    prepare(db.dsn())
    path = tmp_path / "history.jsonl"
    with HistoryWriter(path) as history:
        workload = Workload(db.dsn(), history, cloud="c1", prefix="seed-",
                            limits=Limits(clients=2, rate=40, max_seconds=60)).start()
        try:
            time.sleep(3)
            with psycopg.connect(db.dsn(), autocommit=True) as conn:
                row = conn.execute("SELECT v FROM interop_set WHERE v LIKE 'seed-%' ORDER BY v LIMIT 1").fetchone()
                assert row is not None, "the workload acknowledged no insert in 3 s"
                victim = str(row[0])
                conn.execute("DELETE FROM interop_set WHERE v = %s", (victim,))
                conn.execute("INSERT INTO interop_set (v) VALUES ('seed-nobody-wrote-this')")
                conn.execute("UPDATE interop_bank SET balance = -7 WHERE id = 3")
            time.sleep(2)
        finally:
            assert workload.stop(30) == []
        workload.final_reads()
    report = check_history(path, None, Thresholds(max_lost_writes=0, max_unavailable_s=30, min_throughput_ratio=0.5,
                                                   bank_total=bank_total()))
    verdicts = {s.verdict.check: s.verdict for s in report.verdicts}
    lost = verdicts["set"]
    assert lost.outcome == "failed" and victim in lost.reason, lost.line()
    assert "seed-nobody-wrote-this" in str(lost.details.get("unexpected")), lost.details
    bank = verdicts["bank"]
    assert bank.outcome == "failed" and bank.details["expected_total"] == 800, bank.line()
    negative = bank.details["negative"]
    assert negative["count"] >= 1 and negative["first"][0]["account"] == "3", bank.details  # named: read and account
    assert negative["first"][0]["balance"] < 0
