"""Neutron and Nova data -> the lab data plane's specs (pure functions, plain dicts in).

Shared by the lab's Nova virt driver (:mod:`.nova_driver`: a server's ``network_info`` ->
:class:`VmSpec`) and its network agent (:mod:`.agent`: a Neutron snapshot -> router specs,
per-VM firewalls, port and floating-IP status). Nothing here imports OpenStack or touches the
kernel, so the rules are tested with recorded API JSON.

A Neutron *snapshot* is a dict of lists as the API returns them: ``ports``,
``security_groups`` (with ``security_group_rules``), ``floatingips``, ``routers``,
``subnets``, ``networks``.

>>> nics_from_network_info([{"id": "p1", "address": "fa:16:3e:00:00:01", "network": {
...     "id": "n1", "meta": {"mtu": 1450}, "subnets": [{"cidr": "10.0.0.0/24", "version": 4,
...     "gateway": {"address": "10.0.0.1"}, "ips": [{"address": "10.0.0.5"}]}]}}])[0].ip
'10.0.0.5'
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .dataplane import names
from .dataplane.firewall import MemberPort, PortFirewall, SgRule, group_members
from .dataplane.router import ExternalNet, FloatingIp, RouterGateway, RouterInterface, RouterSpec
from .dataplane.vm import NicSpec, VmSpec

Json = Mapping[str, Any]

GATEWAY_OWNER = "network:router_gateway"
INTERFACE_OWNERS = ("network:router_interface", "network:router_interface_distributed")
COMPUTE_OWNER_PREFIX = "compute:"
ACTIVE, DOWN = "ACTIVE", "DOWN"
_LABEL_RE = re.compile(r"[^a-z0-9-]+")

# the fields the agent asks Neutron for (the API returns only these: less to send and parse)
PORT_FIELDS = ("id", "network_id", "mac_address", "fixed_ips", "device_owner", "device_id", "status",
               "security_groups", "port_security_enabled", "allowed_address_pairs", "binding:host_id",
               "admin_state_up", "project_id")
SG_FIELDS = ("id", "security_group_rules")
FIP_FIELDS = ("id", "floating_ip_address", "fixed_ip_address", "port_id", "router_id", "status",
              "floating_network_id")
ROUTER_FIELDS = ("id", "external_gateway_info", "admin_state_up", "project_id")
SUBNET_FIELDS = ("id", "cidr", "gateway_ip", "network_id", "ip_version")
NETWORK_FIELDS = ("id", "mtu", "router:external", "name")


class UnsupportedServer(ValueError):
    """A server the lab data plane cannot host (the message says why and what to do)."""


# --------------------------------------------------------------------------- Nova side
def vm_hostname(hostname: str | None, uuid: str) -> str:
    """A valid Linux hostname (one DNS label) for a server; Nova's own if it is one."""
    label = _LABEL_RE.sub("-", (hostname or "").lower().split(".")[0]).strip("-")[:63].strip("-")
    return label or f"host-{names.short_id(uuid, 8)}"


def public_key(key_data: str | None) -> str:
    """The first OpenSSH public key line of a keypair ('' without one, or for x509 keypairs)."""
    for line in (key_data or "").splitlines():
        line = line.strip()
        if line.startswith(("ssh-", "ecdsa-", "sk-")):
            return line
    return ""


def nics_from_network_info(network_info: Iterable[Json]) -> tuple[NicSpec, ...]:
    """One NIC per VIF of Nova's ``network_info``: port id, network, MAC, first IPv4 address.

    Raises :class:`UnsupportedServer` for a port without an IPv4 address or on a provider
    (physical) network such as ``public``: the lab puts servers on tenant networks only.
    """
    nics = []
    for vif in network_info:
        network = vif["network"]
        meta = network.get("meta") or {}
        if meta.get("physical_network"):
            raise UnsupportedServer(
                f"port {vif['id']} is on provider network {network.get('label') or network['id']} "
                f"(physical network {meta['physical_network']!r}): the lab data plane hosts servers on "
                "tenant networks only; boot on a tenant network behind a router and use a floating IP")
        chosen = None
        for subnet in network.get("subnets") or []:
            cidr = ipaddress.ip_network(subnet["cidr"])
            if cidr.version != 4 or not subnet.get("ips"):
                continue
            gateway = (subnet.get("gateway") or {}).get("address")
            chosen = (subnet["ips"][0]["address"], cidr.prefixlen, gateway or None)
            break
        if chosen is None:
            raise UnsupportedServer(f"port {vif['id']} has no IPv4 address: the lab data plane is IPv4 only")
        ip, prefixlen, gateway = chosen
        nics.append(NicSpec(port_id=vif["id"], network_id=network["id"], mac=vif["address"].lower(),
                            ip=ip, prefixlen=prefixlen, gateway=gateway, mtu=int(meta.get("mtu") or 1500)))
    return tuple(nics)


def vm_spec(uuid: str, hostname: str | None, key_data: str | None, network_info: Iterable[Json]) -> VmSpec:
    """The VM of one Nova instance (named by its uuid, so the agent finds it by port id)."""
    return VmSpec(name=uuid, hostname=vm_hostname(hostname, uuid), public_key=public_key(key_data),
                  nics=nics_from_network_info(network_info))


def vif_plugged_events(network_info: Iterable[Json]) -> list[tuple[str, str]]:
    """The ``network-vif-plugged`` events to wait for: ports not ACTIVE yet (as libvirt does)."""
    return [("network-vif-plugged", vif["id"]) for vif in network_info if vif.get("active", True) is False]


# --------------------------------------------------------------------------- Neutron side
@dataclass(frozen=True)
class PortLocation:
    """Where a Neutron port lives on this host: which VM, its namespace and interface."""

    vm: str
    netns: str
    ifname: str
    tap: str  # root-namespace end: exists only once the VM's NIC is plugged


def port_locations(ledger_vms: Mapping[str, Json]) -> dict[str, PortLocation]:
    """port id -> location, from the ``vms`` section of the data plane's ledger."""
    found = {}
    for name, rec in ledger_vms.items():
        spec = VmSpec.from_dict(rec["spec"])
        for index, nic in enumerate(spec.nics):
            found[nic.port_id] = PortLocation(name, rec["netns"], names.vm_nic(index), names.vm_tap(nic.port_id))
    return found


def _by_id(items: Iterable[Json]) -> dict[str, Json]:
    return {item["id"]: item for item in items}


def _v4_ips(port: Json, subnets: Mapping[str, Json]) -> list[tuple[str, Json]]:
    """(address, subnet) of a port's IPv4 fixed IPs on subnets we know."""
    found = []
    for fixed in port.get("fixed_ips") or []:
        subnet = subnets.get(fixed.get("subnet_id", ""))
        if subnet is not None and subnet.get("ip_version") == 4:
            found.append((fixed["ip_address"], subnet))
    return found


def external_network(snapshot: Json) -> tuple[str, ExternalNet] | None:
    """(network id, ExternalNet) of the external network with an IPv4 gateway, if any.

    Its subnet's gateway IP is held by the root namespace (the "internet" side), so routers
    take their default route through it and the harness reaches floating IPs from there.
    """
    subnets = [s for s in snapshot.get("subnets", []) if s.get("ip_version") == 4 and s.get("gateway_ip")]
    for network in sorted(snapshot.get("networks", []), key=lambda n: (n.get("name") != "public", n["id"])):
        if not network.get("router:external"):
            continue
        for subnet in subnets:
            if subnet["network_id"] == network["id"]:
                return network["id"], ExternalNet(cidr=subnet["cidr"], gateway=subnet["gateway_ip"])
    return None


@dataclass
class Desired:
    """What the data plane should look like for one snapshot, and what could not be built."""

    routers: dict[str, RouterSpec] = field(default_factory=dict)
    fip_router: dict[str, str] = field(default_factory=dict)  # fip id -> router id it is NATed by
    errors: dict[str, str] = field(default_factory=dict)  # object id -> why it is left out


def router_specs(snapshot: Json, external: tuple[str, ExternalNet] | None) -> Desired:
    """One :class:`RouterSpec` per admin-up Neutron router (with its legs and floating IPs).

    A router without SNAT (``enable_snat: false``) exposes its tenant subnets to the external
    network: the root namespace routes them via the router's gateway IP ("routable fixed IPs").
    """
    desired = Desired()
    subnets = _by_id(snapshot.get("subnets", []))
    networks = _by_id(snapshot.get("networks", []))
    ext_id, ext = external if external else (None, None)
    legs: dict[str, dict[str, Any]] = {}
    for router in snapshot.get("routers", []):
        if router.get("admin_state_up", True):
            legs[router["id"]] = {"gateway": None, "interfaces": [], "fips": []}
    for port in sorted(snapshot.get("ports", []), key=lambda p: p["id"]):
        entry = legs.get(port.get("device_id", ""))
        owner = port.get("device_owner", "")
        if entry is None or (owner != GATEWAY_OWNER and owner not in INTERFACE_OWNERS):
            continue
        ips = _v4_ips(port, subnets)
        if not ips:
            continue
        ip, subnet = ips[0]
        prefixlen = ipaddress.ip_network(subnet["cidr"]).prefixlen
        if owner == GATEWAY_OWNER:
            if ext is None or port["network_id"] != ext_id:
                desired.errors[port["device_id"]] = (
                    f"router gateway on network {port['network_id']}, which is not the lab's external network")
                continue
            entry["gateway"] = RouterGateway(port["id"], port["mac_address"].lower(), ip, prefixlen)
        else:
            mtu = int(networks.get(port["network_id"], {}).get("mtu") or 1500)
            entry["interfaces"].append(RouterInterface(port["id"], port["network_id"], port["mac_address"].lower(),
                                                       ip, prefixlen, mtu))
    for fip in sorted(snapshot.get("floatingips", []), key=lambda f: f["floating_ip_address"]):
        entry = legs.get(fip.get("router_id") or "")
        if entry is None or not fip.get("port_id") or not fip.get("fixed_ip_address"):
            continue
        entry["fips"].append(fip)
    for router in snapshot.get("routers", []):
        entry = legs.get(router["id"])
        if entry is None or (entry["gateway"] is None and not entry["interfaces"]):
            continue
        cidrs = [ipaddress.ip_network(i.cidr) for i in entry["interfaces"]]
        fips: list[FloatingIp] = []
        fip_ids: list[str] = []
        for fip in entry["fips"]:
            fixed = ipaddress.ip_address(fip["fixed_ip_address"])
            if entry["gateway"] is None or ext is None:
                desired.errors[fip["id"]] = f"router {router['id']} has no gateway on the external network"
            elif ipaddress.ip_address(fip["floating_ip_address"]) not in ipaddress.ip_network(ext.cidr):
                desired.errors[fip["id"]] = f"floating IP {fip['floating_ip_address']} is not on {ext.cidr}"
            elif fixed.version != 4 or not any(fixed in cidr for cidr in cidrs):
                desired.errors[fip["id"]] = (f"fixed IP {fixed} is not on a subnet of router {router['id']} "
                                             "(yet: its interface may still be coming)")
            else:
                fips.append(FloatingIp(fip["floating_ip_address"], str(fixed)))
                fip_ids.append(fip["id"])
        gateway_info = router.get("external_gateway_info") or {}
        snat = bool(gateway_info.get("enable_snat", True))
        try:
            spec = RouterSpec(router_id=router["id"], gateway=entry["gateway"], interfaces=tuple(entry["interfaces"]),
                              floating_ips=tuple(fips), snat=snat, expose_fixed=not snat,
                              project=router.get("project_id"))
        except ValueError as exc:
            desired.errors[router["id"]] = str(exc)
            continue
        desired.routers[router["id"]] = spec
        desired.fip_router.update({fip_id: router["id"] for fip_id in fip_ids})
    return desired


def sg_rules(group: Json) -> tuple[tuple[SgRule, ...], list[str]]:
    """A security group's rules as :class:`SgRule`; rules the lab cannot enforce are left out.

    Left out means "allows nothing", the safe side: a remote *address group* rule is not
    widened to "any address".
    """
    rules, skipped = [], []
    for rule in group.get("security_group_rules") or []:
        if rule.get("remote_address_group_id"):
            skipped.append(f"rule {rule.get('id')}: remote address groups are not supported by the lab")
            continue
        rules.append(SgRule.from_neutron(rule))
    return tuple(rules), skipped


def port_firewalls(snapshot: Json, locations: Mapping[str, PortLocation]) -> dict[str, list[PortFirewall]]:
    """VM name -> the firewall of each of its ports that Neutron knows.

    Remote groups resolve to their members' fixed IPs and allowed address pairs over every
    port of the snapshot, never to floating IPs (Neutron's semantics). A port that is
    administratively down gets no rules (nothing passes); ``port_security_enabled: false``
    lets everything through, as in Neutron.
    """
    groups = {g["id"]: sg_rules(g)[0] for g in snapshot.get("security_groups", [])}
    ports = snapshot.get("ports", [])

    def addresses(port: Json) -> tuple[tuple[str, ...], tuple[str, ...]]:
        fixed = tuple(f["ip_address"] for f in port.get("fixed_ips") or [])
        pairs = tuple(p["ip_address"] for p in port.get("allowed_address_pairs") or [])
        return fixed, pairs

    members = group_members(
        MemberPort(fixed_ips=addresses(p)[0], allowed_address_pairs=addresses(p)[1],
                   security_groups=tuple(p.get("security_groups") or ()))
        for p in ports)
    found: dict[str, list[PortFirewall]] = {}
    for port in sorted(ports, key=lambda p: p["id"]):
        where = locations.get(port["id"])
        if where is None:
            continue
        fixed, pairs = addresses(port)
        security = port.get("port_security_enabled", True) is not False
        up = port.get("admin_state_up", True) is not False
        rules: tuple[SgRule, ...] = ()
        if up:
            rules = tuple(r for group in port.get("security_groups") or () for r in groups.get(group, ()))
        remote = {r.remote_group_id: members.get(r.remote_group_id, frozenset())
                  for r in rules if r.remote_group_id}
        found.setdefault(where.vm, []).append(PortFirewall(
            port_id=port["id"], ifname=where.ifname, fixed_ips=fixed, rules=rules, remote_groups=remote,
            allowed_address_pairs=pairs, port_security=security or not up))
    return found


def port_fips(snapshot: Json) -> dict[str, set[str]]:
    """port id -> ids of the floating IPs associated with it."""
    found: dict[str, set[str]] = {}
    for fip in snapshot.get("floatingips", []):
        if fip.get("port_id"):
            found.setdefault(fip["port_id"], set()).add(fip["id"])
    return found


def bound_compute_ports(snapshot: Json, host: str) -> dict[str, Json]:
    """Server ports bound to ``host`` (the ones this agent reports up and down)."""
    return {p["id"]: p for p in snapshot.get("ports", [])
            if p.get("binding:host_id") == host and str(p.get("device_owner", "")).startswith(COMPUTE_OWNER_PREFIX)}


def fip_statuses(snapshot: Json, applied: Mapping[str, str], reported: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """router id -> {fip id: status} to report: ACTIVE once NATed (``applied``: fip -> router), else DOWN.

    Neutron keeps a floating IP ACTIVE after its port is gone; only an agent saying DOWN fixes
    that. ``reported`` (fip -> status already sent) avoids sending the same status twice.
    """
    todo: dict[str, dict[str, str]] = {}
    for fip in snapshot.get("floatingips", []):
        want = ACTIVE if fip["id"] in applied else DOWN
        if fip.get("status") == want or reported.get(fip["id"]) == want:
            continue
        router = applied.get(fip["id"]) or fip.get("router_id") or "none"
        todo.setdefault(router, {})[fip["id"]] = want
    return todo
