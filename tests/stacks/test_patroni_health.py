"""The Patroni readiness verdict on recorded /cluster answers (harness/stacks/patroni_health.py).

data/cluster-healthy.json: every member's GET /cluster right after a lab deploy (3 clouds x 2).
data/cluster-recorded.json: the same cluster after a leader kill (timeline 2), right after a
replica's Patroni and PostgreSQL were SIGKILLed (its REST API silent, the others still list
it as streaming: its member key lives until the ttl) and after its restart. The broken
variants below are those recordings with one field changed, as named in each test.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from harness.stacks.hosts_patroni.health import not_streaming, parse_members, readiness

DATA = Path(__file__).with_name("data")
HEALTHY: dict[str, Any] = json.loads((DATA / "cluster-healthy.json").read_text())
RECORDED: dict[str, dict[str, Any]] = json.loads((DATA / "cluster-recorded.json").read_text())
NAMES = sorted(HEALTHY)


def views(base: dict[str, Any] = HEALTHY) -> dict[str, Any]:
    return copy.deepcopy(base)


def member(view: dict[str, Any], suffix: str) -> dict[str, Any]:
    return next(m for m in view["members"] if m["name"].startswith(suffix))


def edit_all(vs: dict[str, Any], suffix: str, **fields: Any) -> dict[str, Any]:
    for v in vs.values():
        if v is not None:
            member(v, suffix).update(fields)
    return vs


def test_recorded_healthy_cluster_is_ready() -> None:
    h = readiness(HEALTHY, NAMES, sync_standbys=2)
    assert h.ok, h.reasons
    assert (h.leader, h.timeline) == ("db-c1-2-21cc", 1)
    assert h.sync_standbys == ["db-c2-1-21cc", "db-c3-2-21cc"]
    assert {m.cloud for m in h.members} == {"c1", "c2", "c3"}


def test_parse_members_reads_role_state_timeline_lag_and_cloud_tag() -> None:
    members = {m.name: m for m in parse_members(HEALTHY[NAMES[0]])}
    replica, leader = members["db-c1-1-21cc"], members["db-c1-2-21cc"]
    assert (replica.role, replica.state, replica.timeline, replica.lag_bytes, replica.cloud) == (
        "replica", "streaming", 1, 0, "c1")
    assert (leader.role, leader.state, leader.lag_bytes, leader.host) == ("leader", "running", None, "172.29.39.12")


def test_after_failover_every_member_is_on_the_new_timeline() -> None:
    h = readiness(RECORDED["after-failover"], NAMES, sync_standbys=2)
    assert h.ok, h.reasons
    assert (h.leader, h.timeline) == ("db-c3-2-21cc", 2)


def test_a_killed_member_is_not_ready_although_the_others_still_list_it_streaming() -> None:
    recorded = RECORDED["replica-killed"]
    assert member(recorded["db-c1-2-21cc"], "db-c1-1")["state"] == "streaming"  # stale member key
    h = readiness(recorded, NAMES, sync_standbys=2)
    assert not h.ok
    assert h.reasons == ["db-c1-1-21cc's REST API did not answer"]
    assert readiness(RECORDED[max(RECORDED)], NAMES, sync_standbys=2).ok  # after its restart


def test_a_replica_on_the_old_timeline_is_not_ready() -> None:
    vs = edit_all(views(RECORDED["after-failover"]), "db-c1-1", timeline=1)
    h = readiness(vs, NAMES, sync_standbys=2)
    assert h.reasons == ["db-c1-1-21cc streams on timeline 1, the leader is on 2"]


@pytest.mark.parametrize(("state", "reason"), [
    ("running", "db-c2-2-21cc is running, not streaming"),
    ("creating replica", "db-c2-2-21cc is creating replica, not streaming"),
    ("", "db-c2-2-21cc is in no state, not streaming"),
])
def test_a_replica_that_does_not_stream_is_not_ready(state: str, reason: str) -> None:
    h = readiness(edit_all(views(), "db-c2-2", state=state), NAMES, sync_standbys=2)
    assert h.reasons == [reason]


def test_two_leaders_are_not_ready() -> None:
    h = readiness(edit_all(views(), "db-c3-1", role="leader", state="running"), NAMES, sync_standbys=2)
    assert not h.ok and h.leader is None
    assert h.reasons[0] == "2 leaders (db-c1-2-21cc, db-c3-1-21cc)"


def test_a_stale_view_naming_another_leader_is_not_ready() -> None:
    vs = views()
    stale = vs["db-c3-1-21cc"]  # just back from a partition: still believes in an older leader
    member(stale, "db-c1-2").update(role="replica", state="streaming")
    member(stale, "db-c3-1").update(role="leader", state="running")
    h = readiness(vs, NAMES, sync_standbys=2)
    assert not h.ok
    assert h.reasons[0].startswith("members disagree on the leader (")
    assert "db-c3-1-21cc says db-c3-1-21cc" in h.reasons[0]


def test_a_missing_member_is_not_ready() -> None:
    vs = views()
    for v in vs.values():
        v["members"] = [m for m in v["members"] if not m["name"].startswith("db-c3-2")]
    vs["db-c3-2-21cc"] = None
    h = readiness(vs, NAMES, sync_standbys=1)
    assert h.reasons == ["db-c3-2-21cc's REST API did not answer", "db-c3-2-21cc is not a member yet"]


def test_too_few_synchronous_standbys() -> None:
    h = readiness(edit_all(views(), "db-c3-2", role="replica"), NAMES, sync_standbys=2)
    assert h.reasons == ["1 synchronous standbys (db-c2-1-21cc), 2 wanted"]


def test_synchronous_standbys_only_in_the_leaders_cloud_cannot_survive_losing_it() -> None:
    vs = edit_all(views(), "db-c2-1", role="replica")
    vs = edit_all(vs, "db-c3-2", role="replica")
    vs = edit_all(vs, "db-c1-1", role="sync_standby")
    h = readiness(vs, NAMES, sync_standbys=1)
    assert h.reasons == ["no synchronous standby outside the leader's cloud c1"]


def test_only_the_expected_members_count() -> None:
    """Members of a cloud that did not join are not waited for."""
    expected = [n for n in NAMES if not n.startswith("db-c3")]
    vs = {n: v for n, v in views().items() if n in expected}
    edit_all(vs, "db-c3-1", state="stopped")
    assert readiness(vs, expected, sync_standbys=2).ok


def test_nobody_answers() -> None:
    h = readiness({n: None for n in NAMES}, NAMES, sync_standbys=2)
    assert not h.ok and len(h.reasons) == len(NAMES)
    assert readiness({}, [], sync_standbys=0).reasons == ["no member answered"]


def test_not_streaming_for_one_clouds_members() -> None:
    members = parse_members(HEALTHY[NAMES[0]])
    assert not_streaming(members, ["db-c2-1-21cc", "db-c2-2-21cc"]) == []
    assert not_streaming(members, ["db-c9-1"]) == ["db-c9-1 is not a member yet"]
