"""Neutron routers as network namespaces, with floating IPs by DNAT/SNAT (legacy L3 model).

::

    root netns = "the internet" (never forwards)          harness: ssh root@<floating IP>
      ilx-public  172.24.4.1/24 ──┬── ilg<port> ══ qg-<port> [ilab-rt-<router>] gateway IP +
                                  │                          floating IPs as /32, nft ip lab_nat
      ilb<net> (L2 only) ── ilr<port> ══ qr-<port>  subnet gateway IP (10.x.y.1/24)
                 └── ilt<port> ══ eth0 [ilab-vm-<vm>]

* Isolation comes from routing, as in Neutron: a router knows only its own tenant subnets;
  everything else goes to its default route, the root namespace, which does not forward
  (``forwarding=0`` on the external bridge). So tenant networks of different routers never
  reach each other directly, only through floating IPs, and VMs reach nothing outside the lab.
* NAT follows neutron-l3-agent (see :func:`render_nat`): DNAT floating IP -> fixed IP; SNAT
  fixed IP -> its floating IP (also for hairpin traffic inside one router); everything else
  leaving through the gateway is SNATed to the router's gateway IP; no NAT east-west. So a VM
  reaching another VM's floating IP is seen with ITS floating IP as the source.
* The root namespace gets an ``unreachable`` route per tenant subnet (a harness bug addressing
  a fixed IP fails locally instead of leaving through the host's default route), or, for
  ``expose_fixed`` routers ("routable fixed IPs"), a route via the router's gateway IP.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import LabError

from . import fabric, names, system
from .state import Ledger

NAT_TABLE = "lab_nat"
EXTERNAL_MARK = "0x2"  # neutron-l3-agent's mark for packets that came in on the gateway leg


@dataclass(frozen=True)
class ExternalNet:
    """The lab's external ("public") network; the root namespace holds its gateway IP."""

    bridge: str = names.DEFAULT_EXTERNAL_BRIDGE
    cidr: str = "172.24.4.0/24"
    gateway: str = "172.24.4.1"

    def __post_init__(self) -> None:
        names.check_ifname(self.bridge)
        if ipaddress.ip_address(self.gateway) not in ipaddress.ip_network(self.cidr):
            raise ValueError(f"{self.gateway} is not in {self.cidr}")

    @property
    def prefixlen(self) -> int:
        return ipaddress.ip_network(self.cidr).prefixlen


@dataclass(frozen=True)
class RouterInterface:
    """A router port on a tenant network: carries the subnet's gateway IP."""

    port_id: str
    network_id: str
    mac: str
    ip: str
    prefixlen: int
    mtu: int = 1500

    @property
    def cidr(self) -> str:
        return str(ipaddress.ip_interface(f"{self.ip}/{self.prefixlen}").network)

    @property
    def ifname(self) -> str:
        return names.router_internal(self.port_id)


@dataclass(frozen=True)
class RouterGateway:
    """The router's port on the external network."""

    port_id: str
    mac: str
    ip: str
    prefixlen: int

    @property
    def ifname(self) -> str:
        return names.router_gateway(self.port_id)


@dataclass(frozen=True)
class FloatingIp:
    floating_ip: str
    fixed_ip: str


@dataclass(frozen=True)
class RouterSpec:
    router_id: str
    gateway: RouterGateway | None = None
    interfaces: tuple[RouterInterface, ...] = ()
    floating_ips: tuple[FloatingIp, ...] = ()
    snat: bool = True
    expose_fixed: bool = False  # root namespace routes the tenant subnets via the gateway IP
    project: str | None = field(default=None, compare=False)  # informational ("cloud")

    def __post_init__(self) -> None:
        if self.floating_ips and self.gateway is None:
            raise ValueError(f"router {self.router_id}: floating IPs need a gateway")
        fips = [f.floating_ip for f in self.floating_ips]
        if len(set(fips)) != len(fips):
            raise ValueError(f"router {self.router_id}: a floating IP is mapped twice")
        cidrs = [ipaddress.ip_network(i.cidr) for i in self.interfaces]
        for i, a in enumerate(cidrs):
            if any(a.overlaps(b) for b in cidrs[i + 1:]):
                raise ValueError(f"router {self.router_id}: overlapping subnets on one router")
        for f in self.floating_ips:
            if not any(ipaddress.ip_address(f.fixed_ip) in c for c in cidrs):
                raise ValueError(f"floating IP {f.floating_ip}: fixed IP {f.fixed_ip} is not "
                                 f"on a subnet of router {self.router_id}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RouterSpec:
        gw = data.get("gateway")
        return cls(
            router_id=data["router_id"],
            gateway=RouterGateway(**gw) if gw else None,
            interfaces=tuple(RouterInterface(**i) for i in data.get("interfaces", ())),
            floating_ips=tuple(FloatingIp(**f) for f in data.get("floating_ips", ())),
            snat=data.get("snat", True),
            expose_fixed=data.get("expose_fixed", False),
            project=data.get("project"),
        )

    def fip_map(self) -> dict[str, str]:
        return {f.floating_ip: f.fixed_ip for f in self.floating_ips}


# --------------------------------------------------------------------------- pure rendering
def render_nat(spec: RouterSpec) -> str:
    """Text of table ``ip lab_nat`` for one router, rule for rule as neutron-l3-agent does.

    * prerouting/output: ``ip daddr FIP dnat to FIXED`` (output: traffic the router makes).
    * postrouting, in this order:
      1. ``oifname != qg ct status ! dnat accept``: east-west traffic is never NATed;
      2. ``ip saddr FIXED snat to FIP``: a VM with a FIP is seen with it, also on hairpin;
      3. ``oifname qg snat to GW_IP``: the rest leaves with the router's gateway IP (if SNAT);
      4. ``meta mark != 0x2 ct status dnat snat to GW_IP``: hairpin from a VM without a FIP
         to a FIP behind the same router (so the reply comes back through the router); not
         for traffic that entered on the gateway leg (marked 0x2), whose source is kept.
    """
    gw = spec.gateway
    dnat = [f"    ip daddr {f.floating_ip} dnat to {f.fixed_ip}"
            for f in sorted(spec.floating_ips, key=lambda f: ipaddress.ip_address(f.floating_ip))]
    mark: list[str] = []
    post: list[str] = []
    if gw is not None:
        qg = gw.ifname
        mark.append(f'    iifname "{qg}" meta mark set {EXTERNAL_MARK}')
        post.append(f'    oifname != "{qg}" ct status ! dnat accept')
        post += [f"    ip saddr {f.fixed_ip} snat to {f.floating_ip}"
                 for f in sorted(spec.floating_ips, key=lambda f: ipaddress.ip_address(f.fixed_ip))]
        if spec.snat:
            post.append(f'    oifname "{qg}" snat to {gw.ip}')
            post.append(f"    meta mark != {EXTERNAL_MARK} ct status dnat snat to {gw.ip}")
    return "\n".join([
        f"table ip {NAT_TABLE} {{",
        "  chain mark_external {",
        "    type filter hook prerouting priority mangle; policy accept;", *mark, "  }",
        "  chain prerouting {",
        "    type nat hook prerouting priority dstnat; policy accept;", *dnat, "  }",
        "  chain output {",
        "    type nat hook output priority -100; policy accept;", *dnat, "  }",
        "  chain postrouting {",
        "    type nat hook postrouting priority srcnat; policy accept;", *post, "  }",
        "}", ""])


def root_routes(specs: list[RouterSpec]) -> dict[str, list[str]]:
    """Routes the root namespace needs for these routers: key -> ``ip route add`` arguments."""
    routes: dict[str, list[str]] = {}
    for spec in specs:
        for iface in spec.interfaces:
            if spec.expose_fixed and spec.gateway is not None:
                key = f"{iface.cidr} via {spec.gateway.ip}"
                routes.setdefault(key, [iface.cidr, "via", spec.gateway.ip])
            else:
                key = f"unreachable {iface.cidr}"
                routes.setdefault(key, ["unreachable", iface.cidr])
    return routes


# --------------------------------------------------------------------------- applying
class RouterHost:
    """Creates, updates and deletes router namespaces; all state under ``state_dir``."""

    def __init__(self, state_dir: Path | str, external: ExternalNet | None = None) -> None:
        self.state_dir = Path(state_dir).absolute()
        self.ledger = Ledger(self.state_dir)
        self.external = external or ExternalNet()

    def ensure_external(self) -> None:
        """The external bridge with the root namespace's address on it (idempotent)."""
        with self.ledger.transaction() as data:
            self._ensure_external(data)

    def _ensure_external(self, data: dict[str, Any]) -> None:
        ext = self.external
        recorded = data["external"]
        if recorded and recorded != asdict(ext):
            raise LabError(f"this state dir serves external network {recorded}, not {asdict(ext)}")
        data["external"] = asdict(ext)
        if system.link_exists(ext.bridge) and ext.bridge not in data["bridges"]:
            raise LabError(f"interface {ext.bridge} exists but was not created by this lab")
        data["bridges"][ext.bridge] = "external"
        system.ensure_bridge(ext.bridge, names.bridge_mac("external:" + ext.bridge))
        # the root namespace plays the internet: it must never route between lab routers
        system.set_sysctls({f"net.ipv4.conf.{ext.bridge}.forwarding": "0"})
        have = {f"{a['local']}/{a['prefixlen']}" for link in system.ip_json("addr", "show", "dev", ext.bridge)
                for a in link.get("addr_info", []) if a.get("family") == "inet"}
        want = f"{ext.gateway}/{ext.prefixlen}"
        if want not in have:
            system.ip("addr", "add", want, "dev", ext.bridge)

    def apply(self, spec: RouterSpec) -> float:
        """Make the router's namespace match ``spec``; returns the seconds it took."""
        start = time.monotonic()
        if spec.gateway is not None:
            for addr in [spec.gateway.ip, *spec.fip_map()]:
                if ipaddress.ip_address(addr) not in ipaddress.ip_network(self.external.cidr):
                    raise LabError(f"router {spec.router_id}: {addr} is not on {self.external.cidr}")
        ns = names.router_netns(spec.router_id)
        with self.ledger.transaction() as data:
            prev_rec = data["routers"].get(spec.router_id)
            prev = RouterSpec.from_dict(prev_rec["spec"]) if prev_rec else None
            data["routers"][spec.router_id] = {"spec": spec.to_dict(), "netns": ns}
            if spec.gateway is not None:
                self._ensure_external(data)
            if not system.netns_exists(ns):
                system.netns_add(ns)
                system.set_sysctls({
                    "net.ipv4.ip_forward": "1",
                    "net.ipv4.conf.all.send_redirects": "0",
                    "net.ipv4.conf.default.send_redirects": "0",
                    "net.ipv6.conf.all.disable_ipv6": "1",
                    "net.ipv6.conf.default.disable_ipv6": "1",
                }, netns=ns)
                prev = None
            self._sync_legs(data, spec, ns)
            self._sync_addresses(spec, ns)
            if spec.gateway is not None:
                system.ip("route", "replace", "default", "via", self.external.gateway,
                          "dev", spec.gateway.ifname, netns=ns)
            else:
                system.ip("route", "delete", "default", netns=ns, check=False)
            system.nft_replace_table(ns, "ip", NAT_TABLE, render_nat(spec))
            self._forget_moved_fips(data, spec, prev, ns)
            self._sync_root_routes(data)
        return time.monotonic() - start

    def delete(self, router_id: str) -> None:
        with self.ledger.transaction() as data:
            rec = data["routers"].get(router_id)
            if rec is None:
                return
            spec = RouterSpec.from_dict(rec["spec"])
            for host_end, bridge in self._legs(spec).values():
                fabric.delete_veth(data, host_end)
                if bridge != self.external.bridge:  # the root's gateway stays, for the next router
                    fabric.release_bridge(data, bridge)
            system.netns_delete(rec["netns"])
            del data["routers"][router_id]
            self._sync_root_routes(data)

    def netns(self, router_id: str) -> str:
        return names.router_netns(router_id)

    def specs(self) -> list[RouterSpec]:
        return [RouterSpec.from_dict(r["spec"]) for r in self.ledger.read()["routers"].values()]

    # ---- internals
    def _legs(self, spec: RouterSpec) -> dict[str, tuple[str, str]]:
        """router-side ifname -> (root-side veth end, bridge)."""
        legs = {i.ifname: (names.router_internal_peer(i.port_id), names.bridge(i.network_id))
                for i in spec.interfaces}
        if spec.gateway is not None:
            legs[spec.gateway.ifname] = (names.router_gateway_peer(spec.gateway.port_id),
                                         self.external.bridge)
        return legs

    def _sync_legs(self, data: dict[str, Any], spec: RouterSpec, ns: str) -> None:
        want = self._legs(spec)
        have = {link["ifname"] for link in system.ip_json("link", netns=ns)}
        for ifname in sorted(have):
            if ifname[:3] in ("qr-", "qg-") and ifname not in want:
                owner = f"router:{spec.router_id}:{ifname}"
                host_end = next((h for h, o in data["links"].items() if o == owner), None)
                # the bridge is read before the veth goes: deleting either end deletes both
                bridge = system.link_master(host_end) if host_end else None
                system.ip("link", "delete", ifname, netns=ns, check=False)
                if host_end:
                    fabric.delete_veth(data, host_end)
                    if bridge and bridge != self.external.bridge:
                        fabric.release_bridge(data, bridge)
        for iface in spec.interfaces:
            if iface.ifname not in have:
                bridge = fabric.ensure_tenant_bridge(data, iface.network_id)
                fabric.delete_veth(data, want[iface.ifname][0])  # a stale half, if any
                fabric.add_veth(data, host_end=want[iface.ifname][0], bridge=bridge,
                                peer=iface.ifname, peer_netns=ns, peer_mac=iface.mac,
                                mtu=iface.mtu, owner=f"router:{spec.router_id}:{iface.ifname}")
        gw = spec.gateway
        if gw is not None and gw.ifname not in have:
            fabric.delete_veth(data, want[gw.ifname][0])
            fabric.add_veth(data, host_end=want[gw.ifname][0], bridge=self.external.bridge,
                            peer=gw.ifname, peer_netns=ns, peer_mac=gw.mac, mtu=1500,
                            owner=f"router:{spec.router_id}:{gw.ifname}")

    def _sync_addresses(self, spec: RouterSpec, ns: str) -> None:
        want: dict[str, set[str]] = {i.ifname: {f"{i.ip}/{i.prefixlen}"} for i in spec.interfaces}
        if spec.gateway is not None:
            want[spec.gateway.ifname] = {f"{spec.gateway.ip}/{spec.gateway.prefixlen}"} | {
                f"{fip}/32" for fip in spec.fip_map()}
        for link in system.ip_json("addr", netns=ns):
            dev = link["ifname"]
            if dev not in want:
                continue
            have = {f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info", [])
                    if a.get("family") == "inet"}
            for addr in sorted(want[dev] - have):
                system.ip("addr", "add", addr, "dev", dev, netns=ns)
            for addr in sorted(have - want[dev]):
                system.ip("addr", "delete", addr, "dev", dev, netns=ns)

    def _forget_moved_fips(self, data: dict[str, Any], spec: RouterSpec,
                           prev: RouterSpec | None, ns: str) -> None:
        old, new = (prev.fip_map() if prev else {}), spec.fip_map()
        for fip, fixed in old.items():
            if new.get(fip) != fixed:  # removed or re-pointed: its NATed connections end
                system.run(system.ns_cmd(ns, ["conntrack", "-D", "-d", fip]), check=False)
                system.run(system.ns_cmd(ns, ["conntrack", "-D", "-q", fip]), check=False)
        appeared = [fip for fip in new if fip not in old]
        if appeared:
            # no gratuitous ARP: forget the address's old owner where it may be cached
            others = [r["netns"] for rid, r in data["routers"].items() if rid != spec.router_id]
            for fip in appeared:
                system.ip("neigh", "flush", "to", fip, check=False)
                for other in others:
                    if system.netns_exists(other):
                        system.ip("neigh", "flush", "to", fip, netns=other, check=False)

    def _sync_root_routes(self, data: dict[str, Any]) -> None:
        want = root_routes([RouterSpec.from_dict(r["spec"]) for r in data["routers"].values()])
        for key in sorted(set(data["routes"]) - set(want)):
            system.ip("route", "delete", *data["routes"].pop(key), check=False)
        for key, args in sorted(want.items()):
            if key in data["routes"]:
                continue
            if system.ip("route", "add", *args, check=False).returncode == 0:
                data["routes"][key] = args  # only routes we added are ours to delete
