import ipaddress
from typing import Any

import pytest

from harness.provision.security_groups import audit, create_security_group, harness_cidrs, initial_rules, peer_rules
from harness.stacks import known_stacks, load_stack


def rules_for(stack: str) -> Any:
    return load_stack(stack).rules


def _bodies(stack: str, open_to_world: tuple[int, ...] = ()) -> list[dict[str, Any]]:
    rules = rules_for(stack)
    peers = {"lab2": ["172.24.4.20", "172.24.4.21"], "lab3": ["172.24.4.30"]}
    return initial_rules("sg", rules, ["198.51.100.7/32"], open_to_world) + peer_rules("sg", rules, peers)


@pytest.mark.parametrize("stack", known_stacks())
def test_stack_rule_sets_never_open_anything_to_the_world(stack: str) -> None:
    bodies = _bodies(stack)
    assert audit(bodies, open_to_world=[]) == []
    for body in bodies:
        assert body["direction"] == "ingress"
        if body.get("remote_ip_prefix"):
            assert ipaddress.ip_network(body["remote_ip_prefix"]).prefixlen == 32
        else:
            assert body["remote_group_id"] == "sg"


def test_ssh_only_from_the_harness_and_db_ports_from_peers() -> None:
    bodies = _bodies("hosts-patroni")
    ssh = [b for b in bodies if b.get("port_range_min") == 22]
    assert [b["remote_ip_prefix"] for b in ssh] == ["198.51.100.7/32"]
    pg = {b.get("remote_ip_prefix") or "group" for b in bodies if b.get("port_range_min") == 5432}
    assert pg == {"198.51.100.7/32", "group", "172.24.4.20/32", "172.24.4.21/32", "172.24.4.30/32"}


def test_open_to_world_only_for_listed_ports() -> None:
    bodies = _bodies("k8s-cockroach", open_to_world=[30080])
    world = [b for b in bodies if b.get("remote_ip_prefix") == "0.0.0.0/0"]
    assert [(b["port_range_min"], b["port_range_max"]) for b in world] == [(30080, 30080)]
    assert audit(bodies, open_to_world=[30080]) == []
    assert audit(bodies, open_to_world=[]) == [
        "ingress tcp 30080 from 0.0.0.0/0 is open to the world and port 30080 is not in open_to_world"]


@pytest.mark.parametrize("rule, finding", [
    ({"protocol": "tcp", "port_range_min": 20000, "port_range_max": 32767, "remote_ip_prefix": "0.0.0.0/0"},
     "ingress tcp 20000-32767 from 0.0.0.0/0 is open to the world and ports 20000..32767 are not in open_to_world"),
    ({"protocol": "tcp", "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": None},
     "ingress tcp 22 from anywhere is open to the world and port 22 is not in open_to_world"),
    ({"protocol": None, "remote_ip_prefix": "::/0"}, "ingress any from ::/0 is open to the world on every port"),
    ({"protocol": "icmp", "remote_ip_prefix": "0.0.0.0/0"}, "ingress icmp from 0.0.0.0/0 is open to the world on every port"),
])
def test_audit_catches_the_2017_mistakes(rule: dict[str, Any], finding: str) -> None:
    assert audit([{"direction": "ingress", **rule}], open_to_world=[80]) == [finding]


def test_audit_ignores_egress_group_and_narrow_rules() -> None:
    rules = [{"direction": "egress", "remote_ip_prefix": None, "protocol": None},
             {"direction": "ingress", "remote_group_id": "sg", "remote_ip_prefix": None, "protocol": None},
             {"direction": "ingress", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22,
              "remote_ip_prefix": "10.0.0.0/8"}]
    assert audit(rules, open_to_world=[]) == []


def test_harness_address_from_env_or_route(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTEROP_HARNESS_CIDR", "198.51.100.7, 203.0.113.0/28")
    assert harness_cidrs("172.24.4.1") == (["198.51.100.7/32", "203.0.113.0/28"], "$INTEROP_HARNESS_CIDR")
    monkeypatch.delenv("INTEROP_HARNESS_CIDR")
    cidrs, how = harness_cidrs("127.0.0.1")
    assert cidrs == ["127.0.0.1/32"] and "127.0.0.1" in how


def test_group_and_rules_in_two_requests(fake_cloud: Any, ctx: Any) -> None:
    fake_cloud.on("POST", "neutron", "/security-groups", {"security_group": {"id": "sg-1", "security_group_rules": [
        {"id": "e1", "direction": "egress", "ethertype": "IPv4", "protocol": None, "remote_ip_prefix": None}]}})

    def echo(request: Any, context: Any) -> dict[str, Any]:
        rules = request.json()["security_group_rules"]
        return {"security_group_rules": [{"id": f"r{i}", **r} for i, r in enumerate(rules)]}

    fake_cloud.on("POST", "neutron", "/security-group-rules", json=echo)
    sg = create_security_group(ctx, rules_for("hosts-patroni"), ["198.51.100.7/32"])
    assert fake_cloud.calls() == ["POST neutron/security-groups", "POST neutron/security-group-rules"]
    assert sg["id"] == "sg-1" and len(sg["rules"]) == 1 + 8
    assert audit(sg["rules"], open_to_world=[]) == []
    assert [(e.kind, e.id) for e in ctx.ledger.entries("lab1")] == [("security-group", "sg-1")]
