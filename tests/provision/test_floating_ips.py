from typing import Any

import pytest

from harness.challenge import FloatingIpPool, FloatingIpPreallocated
from harness.errors import CloudError
from harness.provision.floating_ips import attach_floating_ips
from harness.provision.network import NetworkInfo
from harness.provision.servers import ServerInfo

NET = NetworkInfo("net", "n", "sub", "10.201.0.0/24", "rt", "ext", "public", True)
SERVERS = [ServerInfo("s0", "id-0", "ACTIVE", ["10.201.0.10"]), ServerInfo("s1", "id-1", "ACTIVE", ["10.201.0.11"])]
PORTS = {"ports": [
    {"id": "p0", "device_id": "id-0", "fixed_ips": [{"ip_address": "10.201.0.10"}]},
    {"id": "p1", "device_id": "id-1", "fixed_ips": [{"ip_address": "10.201.0.11"}]},
    {"id": "dhcp", "device_id": "dhcp-x", "device_owner": "network:dhcp"},
]}


def _fip(request: Any, context: Any) -> dict[str, Any]:
    body = request.json()["floatingip"]
    n = body["port_id"][-1]
    return {"floatingip": {"id": f"fip-{n}", "floating_ip_address": f"172.24.4.{30 + int(n)}", **body}}


def test_auto_creates_one_per_server_with_its_port_in_one_request(fake_cloud: Any, ctx: Any) -> None:
    fake_cloud.on("GET", "neutron", "/ports?network_id=net", PORTS)
    fake_cloud.on("POST", "neutron", "/floatingips", json=_fip)
    out = attach_floating_ips(ctx, "auto", SERVERS, NET)
    assert [(a.name, a.fixed_ip, a.address) for a in out] == [("s0", "10.201.0.10", "172.24.4.30"),
                                                              ("s1", "10.201.0.11", "172.24.4.31")]
    assert fake_cloud.calls() == ["GET neutron/ports?network_id=net"] + ["POST neutron/floatingips"] * 2
    body = fake_cloud.bodies("POST", "floatingips")[0]["floatingip"]
    assert body["floating_network_id"] == "ext" and body["port_id"] == "p0"
    assert body["description"] == ctx.names.of("fip", 0)  # FIPs have no name: the sweep matches this
    assert [(e.id, e.owned, e.extra["address"]) for e in ctx.ledger.entries("lab1")] == [
        ("fip-0", True, "172.24.4.30"), ("fip-1", True, "172.24.4.31")]


def test_pool_mode_uses_the_pool_network(fake_cloud: Any, ctx: Any) -> None:
    fake_cloud.on("GET", "neutron", "/ports?network_id=net", PORTS)
    fake_cloud.on("POST", "neutron", "/floatingips", json=_fip)
    attach_floating_ips(ctx, FloatingIpPool(pool="public"), SERVERS, NET)
    assert fake_cloud.bodies("POST", "floatingips")[1]["floatingip"]["floating_network_id"] == "ext"


def test_quota_on_second_fip_keeps_the_first_in_the_ledger(fake_cloud: Any, ctx: Any) -> None:
    fake_cloud.on("GET", "neutron", "/ports?network_id=net", PORTS)
    fake_cloud.on("POST", "neutron", "/floatingips", {"json": {"floatingip": {"id": "fip-0",
                                                                              "floating_ip_address": "172.24.4.30"}}},
                  {"status_code": 409, "json": {"NeutronError": {"type": "OverQuota",
                                                                 "message": "Quota exceeded for resources: ['floatingip']."}}})
    with pytest.raises(CloudError, match="quota exceeded"):
        attach_floating_ips(ctx, "auto", SERVERS, NET)
    assert [(e.id, e.state) for e in ctx.ledger.entries("lab1")] == [("fip-0", "created"), (None, "requested")]


def test_preallocated_are_associated_and_marked_not_owned(fake_cloud: Any, ctx: Any) -> None:
    fake_cloud.on("GET", "neutron", "/ports?network_id=net", PORTS)
    fake_cloud.on("GET", "neutron", "/floatingips", {"floatingips": [
        {"id": "pa", "floating_ip_address": "203.0.113.5", "port_id": None},
        {"id": "pb", "floating_ip_address": "203.0.113.6", "port_id": None}]})
    fake_cloud.on("PUT", "neutron", "/floatingips/pa", {"floatingip": {"id": "pa"}})
    fake_cloud.on("PUT", "neutron", "/floatingips/pb", {"floatingip": {"id": "pb"}})
    mode = FloatingIpPreallocated(preallocated=["203.0.113.5", "203.0.113.6"])
    out = attach_floating_ips(ctx, mode, SERVERS, NET)
    assert [a.address for a in out] == ["203.0.113.5", "203.0.113.6"]
    assert not any(c.startswith("POST") for c in fake_cloud.calls())
    assert [(e.id, e.owned) for e in ctx.ledger.entries("lab1")] == [("pa", False), ("pb", False)]


def test_preallocated_in_use_elsewhere_is_refused(fake_cloud: Any, ctx: Any) -> None:
    fake_cloud.on("GET", "neutron", "/ports?network_id=net", PORTS)
    fake_cloud.on("GET", "neutron", "/floatingips", {"floatingips": [
        {"id": "pa", "floating_ip_address": "203.0.113.5", "port_id": "someone-else"}]})
    with pytest.raises(CloudError, match="203.0.113.5 is in use by port someone-else"):
        attach_floating_ips(ctx, FloatingIpPreallocated(preallocated=["203.0.113.5", "203.0.113.6"]), SERVERS, NET)


def test_none_uses_fixed_ips_without_api_calls(fake_cloud: Any, ctx: Any) -> None:
    out = attach_floating_ips(ctx, "none", SERVERS, NET)
    assert [a.address for a in out] == ["10.201.0.10", "10.201.0.11"] and fake_cloud.calls() == []
