"""Neutron/Nova data -> data-plane specs, on JSON recorded from the lab's own API (no lab needed).

``data/neutron_snapshot.json``: what the lab agent reads (admin, the agent's field lists) for a
project with one network 10.50.1.0/24, a router with a gateway on ``public`` and an interface,
a security group (SSH from the harness, 5432 from its own members, ICMP from anywhere), a
server port with a floating IP; other projects' router gateway ports are in it too.
``data/network_info.json``: Nova's network_info of that server (as its info cache holds it).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from interop_lab import translate
from interop_lab.dataplane import VmSpec, names, render_sg
from interop_lab.dataplane.router import ExternalNet, FloatingIp

DATA = Path(__file__).parent / "data"
RECORDED = json.loads((DATA / "neutron_snapshot.json").read_text())
NETWORK_INFO = json.loads((DATA / "network_info.json").read_text())
SERVER = RECORDED["server"]
PORT = "7eca5f18-603e-45ec-ba9b-557c7b3a123c"
ROUTER = "e203aa90-4731-4748-bd6a-42b16b6fac35"
FIP = "0ae9fb26-46c9-4a8f-b598-2251b8b2ca95"
SG = "574966ee-d04e-47d8-8dd5-35b44dab9ab7"


@pytest.fixture
def snap() -> dict[str, Any]:
    return copy.deepcopy(RECORDED["snapshot"])


def port(snap: dict[str, Any], port_id: str = PORT) -> dict[str, Any]:
    return next(p for p in snap["ports"] if p["id"] == port_id)


def locations() -> dict[str, translate.PortLocation]:
    spec = translate.vm_spec(SERVER, "rec-srv", RECORDED["keypair_public_key"], NETWORK_INFO)
    ledger = {SERVER: {"spec": spec.to_dict(), "netns": names.vm_netns(SERVER)}}
    return translate.port_locations(ledger)


# --------------------------------------------------------------------------- Nova side
def test_network_info_becomes_the_vms_nics() -> None:
    (nic,) = translate.nics_from_network_info(NETWORK_INFO)
    assert (nic.port_id, nic.mac, nic.ip, nic.prefixlen, nic.gateway, nic.mtu) == (
        PORT, "fa:16:3e:e7:ce:82", "10.50.1.137", 24, "10.50.1.1", 1450)
    assert nic.network_id == port(RECORDED["snapshot"])["network_id"]


def test_vm_spec_carries_the_keypair_and_a_valid_hostname() -> None:
    key = RECORDED["keypair_public_key"]
    spec = translate.vm_spec(SERVER, "Rec_Srv.example.org", key + "\n", NETWORK_INFO)
    assert spec.name == SERVER and spec.public_key == key.strip()
    assert spec.host_name == "rec-srv"
    assert translate.vm_spec(SERVER, None, None, NETWORK_INFO).host_name == f"host-{SERVER[:8]}"
    assert translate.vm_spec(SERVER, "x", "-----BEGIN CERTIFICATE-----", NETWORK_INFO).public_key == ""
    assert VmSpec.from_dict(spec.to_dict()) == spec


def test_unsupported_servers_are_refused_with_the_reason() -> None:
    on_public = copy.deepcopy(NETWORK_INFO)
    on_public[0]["network"]["meta"]["physical_network"] = "public"
    with pytest.raises(translate.UnsupportedServer, match="tenant networks only"):
        translate.nics_from_network_info(on_public)
    v6_only = copy.deepcopy(NETWORK_INFO)
    v6_only[0]["network"]["subnets"][0]["cidr"] = "fd00::/64"
    with pytest.raises(translate.UnsupportedServer, match="IPv4 only"):
        translate.nics_from_network_info(v6_only)


def test_nova_waits_only_for_ports_that_are_not_active_yet() -> None:
    assert translate.vif_plugged_events(NETWORK_INFO) == [("network-vif-plugged", PORT)]
    active = copy.deepcopy(NETWORK_INFO)
    active[0]["active"] = True
    assert translate.vif_plugged_events(active) == []


# --------------------------------------------------------------------------- routers
def test_the_public_network_is_the_external_network(snap: dict[str, Any]) -> None:
    network_id, ext = translate.external_network(snap) or (None, None)
    assert ext == ExternalNet(cidr="172.24.4.0/24", gateway="172.24.4.1")
    assert network_id == RECORDED["snapshot"]["floatingips"][0]["floating_network_id"]
    snap["networks"] = [n for n in snap["networks"] if not n["router:external"]]
    assert translate.external_network(snap) is None


def test_router_spec_with_gateway_interface_and_floating_ip(snap: dict[str, Any]) -> None:
    desired = translate.router_specs(snap, translate.external_network(snap))
    assert list(desired.routers) == [ROUTER] and desired.errors == {}
    spec = desired.routers[ROUTER]
    assert spec.gateway is not None and spec.gateway.ip == "172.24.4.157" and spec.gateway.prefixlen == 24
    (iface,) = spec.interfaces
    assert (iface.ip, iface.prefixlen, iface.mtu, iface.cidr) == ("10.50.1.1", 24, 1450, "10.50.1.0/24")
    assert spec.floating_ips == (FloatingIp("172.24.4.216", "10.50.1.137"),)
    assert spec.snat and not spec.expose_fixed
    assert spec.project == snap["routers"][0]["project_id"]
    assert desired.fip_router == {FIP: ROUTER}


def test_a_router_without_snat_exposes_its_fixed_ips(snap: dict[str, Any]) -> None:
    snap["routers"][0]["external_gateway_info"]["enable_snat"] = False
    spec = translate.router_specs(snap, translate.external_network(snap)).routers[ROUTER]
    assert spec.expose_fixed and not spec.snat


def test_a_floating_ip_that_cannot_be_routed_is_left_out_not_the_router(snap: dict[str, Any]) -> None:
    snap["floatingips"][0]["fixed_ip_address"] = "10.99.0.5"
    desired = translate.router_specs(snap, translate.external_network(snap))
    assert desired.routers[ROUTER].floating_ips == () and desired.fip_router == {}
    assert "not on a subnet" in desired.errors[FIP]


def test_admin_down_or_gatewayless_routers(snap: dict[str, Any]) -> None:
    snap["routers"][0]["admin_state_up"] = False
    assert translate.router_specs(snap, translate.external_network(snap)).routers == {}
    snap = copy.deepcopy(RECORDED["snapshot"])
    desired = translate.router_specs(snap, None)  # no external network known
    spec = desired.routers[ROUTER]
    assert spec.gateway is None and spec.floating_ips == () and len(spec.interfaces) == 1
    assert FIP in desired.errors


# --------------------------------------------------------------------------- security groups
def test_port_firewall_from_the_recorded_security_group(snap: dict[str, Any]) -> None:
    firewalls = translate.port_firewalls(snap, locations())
    (fw,) = firewalls[SERVER]
    assert fw.port_id == PORT and fw.ifname == "eth0" and fw.fixed_ips == ("10.50.1.137",)
    assert fw.port_security
    # remote group = members' FIXED IPs only: the member's floating IP is not in it (Neutron)
    assert fw.remote_groups == {SG: frozenset({"10.50.1.137"})}
    table = render_sg([fw])
    assert "ip saddr 172.24.4.1 tcp dport 22 accept" in table
    assert "tcp dport 5432 accept" in table and "172.24.4.216" not in table
    assert "meta l4proto icmp accept" in table


def test_ports_of_other_vms_are_members_but_get_no_firewall_here(snap: dict[str, Any]) -> None:
    other = copy.deepcopy(port(snap))
    other.update(id="11111111-2222-3333-4444-555555555555", fixed_ips=[{"ip_address": "10.50.1.200",
                                                                       "subnet_id": "x"}])
    snap["ports"].append(other)
    firewalls = translate.port_firewalls(snap, locations())
    assert list(firewalls) == [SERVER]
    assert firewalls[SERVER][0].remote_groups[SG] == frozenset({"10.50.1.137", "10.50.1.200"})


def test_unsupported_rules_allow_nothing_instead_of_everything(snap: dict[str, Any]) -> None:
    group = next(g for g in snap["security_groups"] if g["id"] == SG)
    group["security_group_rules"] = [dict(group["security_group_rules"][0], direction="ingress", protocol="tcp",
                                          port_range_min=80, port_range_max=80, remote_ip_prefix=None,
                                          remote_group_id=None, remote_address_group_id="ag-1")]
    rules, skipped = translate.sg_rules(group)
    assert rules == () and "address groups" in skipped[0]
    (fw,) = translate.port_firewalls(snap, locations())[SERVER]
    assert "dport 80" not in render_sg([fw])


def test_port_security_off_and_admin_down(snap: dict[str, Any]) -> None:
    port(snap)["port_security_enabled"] = False
    (fw,) = translate.port_firewalls(snap, locations())[SERVER]
    assert not fw.port_security and 'iifname "eth0" accept' in render_sg([fw])
    port(snap)["admin_state_up"] = False
    (fw,) = translate.port_firewalls(snap, locations())[SERVER]
    assert fw.port_security and fw.rules == ()


# --------------------------------------------------------------------------- status
def test_bound_ports_and_their_floating_ips(snap: dict[str, Any]) -> None:
    assert list(translate.bound_compute_ports(snap, "interop-lab-compute")) == [PORT]
    assert translate.bound_compute_ports(snap, "elsewhere") == {}
    assert translate.port_fips(snap) == {PORT: {FIP}}


def test_floating_ip_status_follows_the_nat_rules(snap: dict[str, Any]) -> None:
    assert translate.fip_statuses(snap, {FIP: ROUTER}, {}) == {ROUTER: {FIP: "ACTIVE"}}
    assert translate.fip_statuses(snap, {FIP: ROUTER}, {FIP: "ACTIVE"}) == {}  # already sent
    assert translate.fip_statuses(snap, {}, {}) == {}  # DOWN already
    snap["floatingips"][0].update(status="ACTIVE", port_id=None, router_id=None)
    assert translate.fip_statuses(snap, {}, {}) == {"none": {FIP: "DOWN"}}


def test_port_locations_name_the_vm_namespace_and_interfaces() -> None:
    where = locations()[PORT]
    assert where.vm == SERVER and where.netns == names.vm_netns(SERVER)
    assert where.ifname == "eth0" and where.tap == names.vm_tap(PORT)
