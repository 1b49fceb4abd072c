"""The CockroachDB plan: checked input, errors naming the cloud and field, one plan everywhere."""

from __future__ import annotations

import doctest
import re
from dataclasses import replace
from typing import Any

import pytest
from crdb_data import CLUSTER, SERVERS

from harness.errors import ConfigError
from harness.stacks.k8s_cockroach import plan as plan_module
from harness.stacks.k8s_cockroach.plan import CrdbPlan, cluster_name_for, make_plan, plan_from_servers

pytestmark = pytest.mark.k8s


def servers_with(cloud: str, index: int, **changes: Any) -> dict[str, list[dict[str, Any]]]:
    servers = {c: [dict(s) for s in ss] for c, ss in SERVERS.items()}
    servers[cloud][index].update(changes)
    return servers


def test_nodes_are_ordered_by_cloud_and_keep_their_facts(plan: CrdbPlan) -> None:
    assert plan.clouds == ["lab1", "lab2", "lab3"]
    b2 = plan.node("ih-ab12-lab2-2")
    assert (b2.hostname, b2.region, b2.zone) == ("crdb-b2.lab2.example", "lab2", "az-2")
    assert plan.node("ih-ab12-lab3-1").locality == "cloud=lab3,region=eu-west,zone=nova"
    assert plan.node("ih-ab12-lab1-1").hostname == "ih-ab12-lab1-1"


def test_the_input_order_of_clouds_does_not_change_the_plan(plan: CrdbPlan) -> None:
    reversed_servers = dict(reversed(list(SERVERS.items())))
    assert plan_from_servers(CLUSTER, reversed_servers) == plan


def test_the_plan_round_trips_as_plain_data_and_its_digest_tracks_it(plan: CrdbPlan) -> None:
    again = CrdbPlan.from_dict(plan.as_dict())
    assert again == plan and again.digest() == plan.digest()
    moved = make_plan(CLUSTER, [replace(n, zone="az-9") if n.name == "ih-ab12-lab1-1" else n for n in plan.nodes])
    assert moved.digest() != plan.digest()


@pytest.mark.parametrize(("cloud", "index", "changes", "field"), [
    ("lab2", 1, {"public_ip": "172.24.5.999"}, "public_ip"),
    ("lab1", 0, {"private_ip": "not-an-ip"}, "private_ip"),
    ("lab3", 0, {"zone": "az-1,region=x"}, "zone"),
    ("lab3", 0, {"region": "eu west"}, "region"),
    ("lab1", 1, {"hostname": "Upper_Case"}, "hostname"),
    ("lab2", 0, {"name": "bad name"}, "name"),
], ids=["public_ip", "private_ip", "zone", "region", "hostname", "name"])
def test_a_bad_field_is_named_with_its_cloud(cloud: str, index: int, changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError, match=rf"\b{field}\b") as err:
        plan_from_servers(CLUSTER, servers_with(cloud, index, **changes))
    assert err.value.cloud == cloud
    assert str(err.value).startswith(f"cloud {cloud}: ")


def test_a_missing_address_is_named() -> None:
    servers = servers_with("lab3", 0)
    del servers["lab3"][0]["private_ip"]
    with pytest.raises(ConfigError, match="lacks private_ip") as err:
        plan_from_servers(CLUSTER, servers)
    assert err.value.cloud == "lab3"


def test_a_server_name_that_is_no_hostname_asks_for_one() -> None:
    with pytest.raises(ConfigError, match="give it as the server fact 'hostname'"):
        plan_from_servers(CLUSTER, servers_with("lab1", 0, name="db_1"))
    plan = plan_from_servers(CLUSTER, servers_with("lab1", 0, name="db_1", hostname="db-1"))
    assert plan.node("db_1").hostname == "db-1"


def test_two_nodes_advertising_one_address_are_refused() -> None:
    with pytest.raises(ConfigError, match="public_ip 172.24.4.11 is also node 'ih-ab12-lab1-1'") as err:
        plan_from_servers(CLUSTER, servers_with("lab3", 0, public_ip="172.24.4.11"))
    assert err.value.cloud == "lab3"


def test_a_hostname_may_repeat_across_clouds_but_not_within_one() -> None:
    plan_from_servers(CLUSTER, servers_with("lab3", 0, hostname="ih-ab12-lab1-1"))  # another cluster
    with pytest.raises(ConfigError, match="hostname ih-ab12-lab1-1 is also node"):
        plan_from_servers(CLUSTER, servers_with("lab1", 1, hostname="ih-ab12-lab1-1"))


@pytest.mark.parametrize("name", ["1run", "run name", "", "run,x", "a" * 257])
def test_a_cluster_name_cockroachdb_would_refuse_is_refused(name: str) -> None:
    with pytest.raises(ConfigError, match="cluster name"):
        plan_from_servers(name, SERVERS)


def test_a_cloud_outside_the_plan_is_named() -> None:
    with pytest.raises(ConfigError, match="no node in cloud lab9") as err:
        plan_from_servers(CLUSTER, SERVERS).of_cloud("lab9")
    assert err.value.cloud == "lab9"


@pytest.mark.parametrize("name", ["ih-ab12-lab1-1", "Node_A.1", "x" * 63, "UPPER", "a..b"])
def test_kubernetes_names_are_dns_labels_short_enough_for_a_statefulset(name: str) -> None:
    node = replace(plan_from_servers(CLUSTER, SERVERS).nodes[0], name=name)
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", node.k8s_name)
    assert len(node.k8s_name) <= 47


def test_names_that_map_to_one_label_stay_apart() -> None:
    base = plan_from_servers(CLUSTER, SERVERS).nodes[0]
    assert len({replace(base, name=n).k8s_name for n in ("a-1", "a_1", "A-1", "a.1")}) == 4


def test_the_cluster_name_comes_from_the_run_id_and_is_one_cockroachdb_takes() -> None:
    name = cluster_name_for("20261206T031500Z-ab12")
    assert name == "interop-20261206t031500z-ab12"
    assert plan_from_servers(name, SERVERS).cluster_name == name
    assert cluster_name_for("20261206T031500Z-ab12") != cluster_name_for("20261206T031500Z-ab13")


def test_the_module_examples_hold() -> None:
    assert doctest.testmod(plan_module).failed == 0
