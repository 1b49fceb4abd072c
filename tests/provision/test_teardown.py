from typing import Any

from harness.provision.teardown import find_by_prefix, raise_if_unclean, teardown

EMPTY_SWEEP = {
    "nova": {"/servers": {"servers": []}, "/os-keypairs": {"keypairs": []}},
    "neutron": {"/floatingips": {"floatingips": []}, "/routers": {"routers": []}, "/networks": {"networks": []},
                "/security-groups": {"security_groups": []}},
}


def _register_sweep(fake: Any, ctx: Any, overrides: dict[str, Any] | None = None) -> None:
    overrides = overrides or {}
    if overrides.get("servers", True) is not None:
        fake.on("GET", "nova", f"/servers?name=%5E{ctx.names.prefix}", overrides.get("servers", {"servers": []}))
    fake.on("GET", "nova", "/os-keypairs", overrides.get("keypairs", {"keypairs": []}))
    for path, empty in EMPTY_SWEEP["neutron"].items():
        fake.on("GET", "neutron", path, overrides.get(path, empty))


def _ledger_full_run(ctx: Any) -> None:
    c = ctx.created
    c("keypair", ctx.names.of("key"), ctx.names.of("key"))
    c("network", ctx.names.of("net"), "net-1")
    c("subnet", ctx.names.of("subnet"), "sub-1", network_id="net-1")
    c("router", ctx.names.of("router"), "rt-1")
    c("router-interface", ctx.names.of("router-interface"), "port-9", router_id="rt-1", subnet_id="sub-1")
    c("security-group", ctx.names.of("sg"), "sg-1")
    c("server", ctx.names.of("server", 0), "id-0")
    c("floating-ip", ctx.names.of("fip", 0), "fip-0")
    c("floating-ip", ctx.names.of("fip", 1), "pre-1", owned=False)


def _register_deletes(fake: Any, ctx: Any) -> None:
    for service, path in [("neutron", "/floatingips/fip-0"), ("nova", "/servers/id-0"), ("neutron", "/routers/rt-1"),
                          ("neutron", "/networks/net-1"), ("neutron", "/security-groups/sg-1"),
                          ("nova", f"/os-keypairs/{ctx.names.of('key')}")]:
        fake.on("DELETE", service, path, status_code=204)
    fake.on("PUT", "neutron", "/floatingips/pre-1", {"floatingip": {"id": "pre-1", "port_id": None}})
    fake.on("PUT", "neutron", "/routers/rt-1/remove_router_interface", {"id": "rt-1"})


def test_dependency_order_then_one_sweep_that_finds_nothing(fake_cloud: Any, ctx: Any) -> None:
    _ledger_full_run(ctx)
    _register_deletes(fake_cloud, ctx)
    _register_sweep(fake_cloud, ctx, {"servers": None})
    fake_cloud.on("GET", "nova", f"/servers?name=%5E{ctx.names.prefix}",
                  {"servers": [{"id": "id-0", "name": ctx.names.of("server", 0)}]}, {"servers": []})
    result = teardown(ctx, ctx.ledger.entries("lab1", live=True), prefix=ctx.names.prefix, timeout=30)
    key = ctx.names.of("key")
    assert fake_cloud.calls() == [
        "DELETE neutron/floatingips/fip-0",
        "PUT neutron/floatingips/pre-1",  # preallocated: disassociated, never released
        "DELETE nova/servers/id-0",
        f"GET nova/servers?name=%5E{ctx.names.prefix}", f"GET nova/servers?name=%5E{ctx.names.prefix}",
        "PUT neutron/routers/rt-1/remove_router_interface",
        "DELETE neutron/routers/rt-1",
        "DELETE neutron/networks/net-1",  # its subnet goes with it: no DELETE subnets
        "DELETE neutron/security-groups/sg-1",
        f"DELETE nova/os-keypairs/{key}",
        f"GET nova/servers?name=%5E{ctx.names.prefix}", "GET neutron/floatingips", "GET neutron/routers",
        "GET neutron/networks", "GET neutron/security-groups", "GET nova/os-keypairs",
    ]
    assert fake_cloud.bodies("PUT", "floatingips/pre-1")[0] == {"floatingip": {"port_id": None}}
    assert result.clean and result.swept == 0
    assert result.counts() == {"floating-ip": 2, "server": 1, "router-interface": 1, "router": 1, "network": 1,
                               "subnet": 1, "security-group": 1, "keypair": 1}
    assert ctx.ledger.entries("lab1", live=True) == []
    raise_if_unclean(ctx, result)


def test_in_use_is_retried_and_already_gone_is_fine(fake_cloud: Any, ctx: Any) -> None:
    ctx.created("security-group", ctx.names.of("sg"), "sg-1")
    ctx.created("keypair", ctx.names.of("key"), ctx.names.of("key"))
    fake_cloud.on("DELETE", "neutron", "/security-groups/sg-1",
                  {"status_code": 409, "json": {"NeutronError": {"type": "SecurityGroupInUse", "message": "in use"}}},
                  {"status_code": 204, "json": None})
    fake_cloud.on("DELETE", "nova", f"/os-keypairs/{ctx.names.of('key')}", status_code=404,
                  json={"itemNotFound": {"message": "gone"}})
    _register_sweep(fake_cloud, ctx)
    result = teardown(ctx, ctx.ledger.entries("lab1", live=True), prefix=ctx.names.prefix, timeout=30)
    assert fake_cloud.calls()[:3] == ["DELETE neutron/security-groups/sg-1"] * 2 + [
        f"DELETE nova/os-keypairs/{ctx.names.of('key')}"]
    assert result.clean and result.counts() == {"security-group": 1, "keypair": 1}


def test_sweep_finds_what_the_ledger_only_knew_by_name(fake_cloud: Any, ctx: Any) -> None:
    name = ctx.names.of("server", 1)
    ctx.intend("server", name)  # killed between Nova's answer and the ledger write
    fake_cloud.on("DELETE", "nova", "/servers/id-1", status_code=204)
    _register_sweep(fake_cloud, ctx, {"servers": None})
    fake_cloud.on("GET", "nova", f"/servers?name=%5E{ctx.names.prefix}",  # sweep, wait for gone, verify
                  {"servers": [{"id": "id-1", "name": name}]}, {"servers": []})
    result = teardown(ctx, ctx.ledger.entries("lab1", live=True), prefix=ctx.names.prefix, timeout=30)
    assert "DELETE nova/servers/id-1" in fake_cloud.calls()
    assert result.clean and result.swept == 1
    assert ctx.ledger.entries("lab1", live=True) == []


def test_something_left_fails_with_names(fake_cloud: Any, ctx: Any) -> None:
    stuck = {"networks": [{"id": "net-x", "name": ctx.names.of("net")}]}
    _register_sweep(fake_cloud, ctx, {"/networks": stuck})
    fake_cloud.on("GET", "neutron", "/ports?network_id=net-x", {"ports": []})
    fake_cloud.on("DELETE", "neutron", "/networks/net-x", status_code=409,
                  json={"NeutronError": {"type": "NetworkInUse", "message": "One or more ports have an IP allocation"}})
    result = teardown(ctx, [], prefix=ctx.names.prefix, timeout=0.3)
    assert [str(i) for i in result.left] == [f"network {ctx.names.of('net')} (net-x)"]
    try:
        raise_if_unclean(ctx, result)
    except Exception as exc:
        assert "left behind: network" in str(exc) and "IP allocation" in str(exc)
    else:
        raise AssertionError("an unclean teardown must fail")


def test_find_by_prefix_ignores_other_names_and_foreign_fips(fake_cloud: Any, ctx: Any) -> None:
    p = ctx.names.prefix
    _register_sweep(fake_cloud, ctx, {
        "/floatingips": {"floatingips": [{"id": "f1", "description": p + "fip-0", "floating_ip_address": "1.2.3.4"},
                                         {"id": "f2", "description": "customer's", "floating_ip_address": "1.2.3.5"}]},
        "/routers": {"routers": [{"id": "r1", "name": p + "router"}, {"id": "r2", "name": "prod-router"}]},
        "/security-groups": {"security_groups": [{"id": "g1", "name": "default"}, {"id": "g2", "name": p + "sg"}]},
        "keypairs": {"keypairs": [{"keypair": {"name": p + "key"}}, {"keypair": {"name": "mykey"}}]},
    })
    fake_cloud.on("GET", "neutron", "/ports?device_id=r1",
                  {"ports": [{"id": "gw", "device_owner": "network:router_gateway"},
                             {"id": "if1", "device_owner": "network:router_interface"}]})
    found = find_by_prefix(ctx, p)
    assert [(i.kind, i.id) for i in found] == [("floating-ip", "f1"), ("router-interface", "if1"), ("router", "r1"),
                                               ("security-group", "g2"), ("keypair", p + "key")]


def test_dry_run_deletes_nothing(fake_cloud: Any, ctx: Any) -> None:
    _ledger_full_run(ctx)
    _register_sweep(fake_cloud, ctx)
    result = teardown(ctx, ctx.ledger.entries("lab1", live=True), prefix=ctx.names.prefix, timeout=30, dry_run=True)
    assert all(c.startswith("GET") for c in fake_cloud.calls())
    assert "disassociate floating-ip " + ctx.names.of("fip", 1) + " (pre-1)" in result.as_details()["would"]
    assert len(result.planned) == 9 and ctx.ledger.has_live("lab1")
