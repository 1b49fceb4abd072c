from typing import Any

import pytest

from harness.errors import CloudError
from harness.provision.discovery import Choice
from harness.provision.network import create_network, default_cidr, use_existing

EXT = Choice("ext-id", "public", "discovered")


def test_creates_network_subnet_router_interface_in_order_and_ledgers_each(fake_cloud: Any, ctx: Any) -> None:
    fake_cloud.on("POST", "neutron", "/networks", {"network": {"id": "net-1", "name": "n"}})
    fake_cloud.on("POST", "neutron", "/subnets", {"subnet": {"id": "sub-1", "cidr": "10.201.0.0/24"}})
    fake_cloud.on("POST", "neutron", "/routers", {"router": {"id": "rt-1"}})
    fake_cloud.on("PUT", "neutron", "/routers/rt-1/add_router_interface", {"port_id": "port-9", "subnet_id": "sub-1"})
    info = create_network(ctx, "10.201.0.0/24", EXT)
    assert fake_cloud.calls() == ["POST neutron/networks", "POST neutron/subnets", "POST neutron/routers",
                                  "PUT neutron/routers/rt-1/add_router_interface"]
    router_body = fake_cloud.bodies("POST", "/routers")[0]["router"]
    assert router_body["external_gateway_info"] == {"network_id": "ext-id"}
    assert router_body["name"] == ctx.names.of("router")
    assert fake_cloud.bodies("POST", "/subnets")[0]["subnet"]["cidr"] == "10.201.0.0/24"
    assert (info.network_id, info.subnet_id, info.router_id, info.created) == ("net-1", "sub-1", "rt-1", True)
    ledger = [(e.kind, e.id, e.state) for e in ctx.ledger.entries("lab1")]
    assert ledger == [("network", "net-1", "created"), ("subnet", "sub-1", "created"),
                      ("router", "rt-1", "created"), ("router-interface", "port-9", "created")]


def test_a_failed_router_leaves_the_network_in_the_ledger(fake_cloud: Any, ctx: Any) -> None:
    fake_cloud.on("POST", "neutron", "/networks", {"network": {"id": "net-1"}})
    fake_cloud.on("POST", "neutron", "/subnets", {"subnet": {"id": "sub-1"}})
    fake_cloud.on("POST", "neutron", "/routers", status_code=409, json={"NeutronError": {
        "type": "OverQuota", "message": "Quota exceeded for resources: ['router']."}})
    with pytest.raises(CloudError, match="quota exceeded while creating router"):
        create_network(ctx, "10.201.0.0/24", EXT)
    states = {e.kind: e.state for e in ctx.ledger.entries("lab1")}
    assert states == {"network": "created", "subnet": "created", "router": "requested"}


def test_without_external_network_no_router(fake_cloud: Any, ctx: Any) -> None:
    fake_cloud.on("POST", "neutron", "/networks", {"network": {"id": "net-1"}})
    fake_cloud.on("POST", "neutron", "/subnets", {"subnet": {"id": "sub-1"}})
    info = create_network(ctx, "10.200.0.0/24", None)
    assert info.router_id is None and len(fake_cloud.calls()) == 2


def test_existing_network_is_used_not_created(fake_cloud: Any, ctx: Any) -> None:
    fake_cloud.on("GET", "neutron", "/networks/routable", status_code=404)
    fake_cloud.on("GET", "neutron", "/networks?name=routable", {"networks": [{"id": "n7", "name": "routable"}]})
    fake_cloud.on("GET", "neutron", "/subnets?network_id=n7",
                  {"subnets": [{"id": "s6", "ip_version": 6, "cidr": "fd00::/64"},
                               {"id": "s4", "ip_version": 4, "cidr": "192.0.2.0/24"}]})
    info = use_existing(ctx, "routable", None)
    assert (info.network_id, info.subnet_id, info.cidr, info.created) == ("n7", "s4", "192.0.2.0/24", False)
    assert ctx.ledger.entries("lab1") == []


def test_missing_network_names_what_exists(fake_cloud: Any, ctx: Any) -> None:
    fake_cloud.on("GET", "neutron", "/networks/nope", status_code=404)
    fake_cloud.on("GET", "neutron", "/networks?name=nope", {"networks": []})
    fake_cloud.on("GET", "neutron", "/networks?id=nope", {"networks": []})
    fake_cloud.on("GET", "neutron", "/networks", {"networks": [{"id": "p", "name": "public"}]})
    with pytest.raises(CloudError, match=r"network 'nope' not found on this cloud \(networks here: public\)"):
        use_existing(ctx, "nope", None)


def test_default_cidrs_differ_per_cloud() -> None:
    assert len({default_cidr(i) for i in range(50)}) == 50
