"""Inventories rendered from provisioned servers (harness/configure/inventory.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from harness.configure.inventory import Server, build_inventory, group_name, render_inventory, servers_from_facts
from harness.errors import ConfigError

FACTS = {"servers": [
    {"name": "db-a-1", "public_ip": "172.24.4.11", "private_ip": "10.0.1.11", "ssh_user": "root"},
    {"name": "db-a-2", "public_ip": "172.24.4.12", "private_ip": "10.0.1.12"},
]}


def test_servers_from_facts_fills_cloud_and_default_user() -> None:
    servers = servers_from_facts(FACTS, "vendor-a", default_user="debian")
    assert servers == [Server("db-a-1", "172.24.4.11", "10.0.1.11", "root", "vendor-a"),
                       Server("db-a-2", "172.24.4.12", "10.0.1.12", "debian", "vendor-a")]
    assert servers[1].as_fact() == {"name": "db-a-2", "public_ip": "172.24.4.12", "private_ip": "10.0.1.12",
                                    "ssh_user": "debian"}


@pytest.mark.parametrize(("facts", "message"), [
    ({}, "no servers in the run's facts"),
    ({"servers": []}, "no servers in the run's facts"),
    ({"servers": [{"name": "x", "public_ip": "1.2.3.4"}]}, "lacks private_ip"),
    ({"servers": [{"name": "x y", "public_ip": "1.2.3.4", "private_ip": "10.0.0.1"}]}, "cannot be a member name"),
    ({"servers": [{"name": "x", "public_ip": "nope", "private_ip": "10.0.0.1"}]}, "public_ip 'nope' is not an IP"),
    ({"servers": [{"name": "x", "public_ip": "1.2.3.4", "private_ip": "10.0.0.1"}] * 2}, "must be unique"),
], ids=["no-key", "empty", "missing-field", "bad-name", "bad-ip", "duplicate"])
def test_malformed_facts_are_config_errors_naming_the_cloud(facts: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        servers_from_facts(facts, "vendor-a")
    assert info.value.cloud == "vendor-a"


def test_group_name_is_a_valid_ansible_group() -> None:
    assert group_name("vendor-a.eu") == "cloud_vendor_a_eu"
    assert group_name("lab1") == "cloud_lab1"


def _two_clouds() -> list[Server]:
    return [*servers_from_facts(FACTS, "a"),
            Server("db-b-1", "172.24.4.21", "10.0.2.11", "debian", "b")]


def test_inventory_has_a_group_per_cloud_and_the_addresses_as_host_vars(tmp_path: Path) -> None:
    inv = build_inventory(_two_clouds(), ssh_key=tmp_path / "key", known_hosts=tmp_path / "kh",
                          groups={"patroni": ["db-a-1", "db-a-2", "db-b-1"], "etcd": ["db-a-1", "db-b-1"]})
    children = inv["all"]["children"]
    assert list(children) == ["cloud_a", "cloud_b", "patroni", "etcd"]
    host = children["cloud_a"]["hosts"]["db-a-1"]
    assert host == {"ansible_host": "172.24.4.11", "ansible_user": "root", "public_ip": "172.24.4.11",
                    "private_ip": "10.0.1.11", "cloud": "a"}
    assert children["cloud_b"]["hosts"]["db-b-1"]["ansible_become"] is True  # non-root user -> sudo
    assert list(children["etcd"]["hosts"]) == ["db-a-1", "db-b-1"]
    vars_ = inv["all"]["vars"]
    assert vars_["ansible_ssh_private_key_file"] == str(tmp_path / "key")
    args = vars_["ansible_ssh_common_args"]
    assert f"UserKnownHostsFile={tmp_path / 'kh'}" in args and "StrictHostKeyChecking=accept-new" in args
    assert "ConnectTimeout=10" in args


def test_rendered_inventory_is_json_and_yaml(tmp_path: Path) -> None:
    inv = build_inventory(_two_clouds(), ssh_key=tmp_path / "key", known_hosts=tmp_path / "kh")
    text = render_inventory(inv)
    assert json.loads(text) == inv == yaml.safe_load(text)


def test_groups_must_name_known_hosts_and_not_clash_with_clouds(tmp_path: Path) -> None:
    servers = _two_clouds()
    with pytest.raises(ConfigError, match="unknown hosts"):
        build_inventory(servers, ssh_key=tmp_path, known_hosts=tmp_path, groups={"etcd": ["nope"]})
    with pytest.raises(ConfigError, match="clashes"):
        build_inventory(servers, ssh_key=tmp_path, known_hosts=tmp_path, groups={"cloud_a": []})
