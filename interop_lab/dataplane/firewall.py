"""Neutron security groups as a stateful nftables table inside each VM's network namespace.

Pure part: :func:`render_sg` turns the ports of one VM (their fixed IPs and the rules of their
security groups, with remote groups already resolved to member addresses) into the text of
table ``inet lab_sg``: default drop in both directions, established/related accepted, invalid
dropped, one chain per port, one accept rule per Neutron rule, egress anti-spoofing on the
source IP. :func:`group_members` resolves remote groups exactly as Neutron does: members'
FIXED IPs (and allowed address pairs), never their floating IPs.

Applying: :func:`apply_sg` replaces the table atomically in the VM's namespace, pins
``nf_conntrack_tcp_loose=0`` there (otherwise a deleted entry is re-created from the next
mid-stream packet and the connection survives) and deletes the conntrack entries the new rules
no longer allow, so a removed rule also ends established connections, as in Neutron.

Why inside the VM namespace and not on the host tap: the kernel's bridge has no conntrack of
its own here (no NF_CONNTRACK_BRIDGE), while every network namespace has its own conntrack.
Not a security boundary: root in the VM can flush the table (the lab is not a multi-tenant
cloud).
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from . import names, system

TABLE = "lab_sg"
FAMILY = "inet"
Direction = Literal["ingress", "egress"]
Ethertype = Literal["IPv4", "IPv6"]

L4_WITH_PORTS = ("tcp", "udp", "sctp", "dccp", "udplite")
_PROTO_BY_NUMBER = {"1": "icmp", "6": "tcp", "17": "udp", "33": "dccp", "58": "ipv6-icmp",
                    "132": "sctp", "136": "udplite"}
_ANY = ("", "any", "0", "none")


def normalize_protocol(protocol: str | int | None, ethertype: Ethertype) -> str | None:
    """Neutron's protocol field -> an nft l4proto name (or number); None means any protocol."""
    if protocol is None:
        return None
    text = str(protocol).strip().lower()
    if text in _ANY:
        return None
    text = _PROTO_BY_NUMBER.get(text, text)
    if text in ("icmpv6", "ipv6-icmp") or (text == "icmp" and ethertype == "IPv6"):
        return "ipv6-icmp"
    return text


@dataclass(frozen=True)
class SgRule:
    """One Neutron security-group rule (the fields that decide what it lets through)."""

    direction: Direction
    ethertype: Ethertype = "IPv4"
    protocol: str | None = None
    port_range_min: int | None = None
    port_range_max: int | None = None
    remote_ip_prefix: str | None = None
    remote_group_id: str | None = None

    def __post_init__(self) -> None:
        if self.direction not in ("ingress", "egress"):
            raise ValueError(f"direction must be ingress or egress, not {self.direction!r}")
        if self.ethertype not in ("IPv4", "IPv6"):
            raise ValueError(f"ethertype must be IPv4 or IPv6, not {self.ethertype!r}")
        if self.remote_ip_prefix and self.remote_group_id:
            raise ValueError("a rule has a remote IP prefix or a remote group, not both")
        if self.remote_ip_prefix:
            ipaddress.ip_network(self.remote_ip_prefix, strict=False)

    @classmethod
    def from_neutron(cls, rule: Mapping[str, Any]) -> SgRule:
        """From a Neutron API rule dict (or an openstacksdk SecurityGroupRule)."""
        return cls(
            direction=rule["direction"],
            ethertype=rule.get("ethertype") or "IPv4",
            protocol=None if rule.get("protocol") is None else str(rule["protocol"]),
            port_range_min=rule.get("port_range_min"),
            port_range_max=rule.get("port_range_max"),
            remote_ip_prefix=rule.get("remote_ip_prefix"),
            remote_group_id=rule.get("remote_group_id"),
        )


@dataclass(frozen=True)
class PortFirewall:
    """Everything the firewall of one VM interface depends on.

    ``remote_groups`` maps every remote group id used by ``rules`` to its members' addresses
    (build it with :func:`group_members`); a group missing from it has no members.
    """

    port_id: str
    ifname: str
    fixed_ips: tuple[str, ...]
    rules: tuple[SgRule, ...] = ()
    remote_groups: Mapping[str, frozenset[str]] = field(default_factory=dict)
    allowed_address_pairs: tuple[str, ...] = ()
    port_security: bool = True

    def own_addresses(self) -> tuple[str, ...]:
        return tuple(self.fixed_ips) + tuple(self.allowed_address_pairs)


@dataclass(frozen=True)
class MemberPort:
    """A port as seen for remote-group membership."""

    fixed_ips: tuple[str, ...]
    security_groups: tuple[str, ...]
    allowed_address_pairs: tuple[str, ...] = ()
    floating_ips: tuple[str, ...] = ()  # deliberately ignored: Neutron matches fixed IPs only


def group_members(ports: Iterable[MemberPort]) -> dict[str, frozenset[str]]:
    """Security group id -> fixed IPs (and allowed address pairs) of the ports in it.

    Floating IPs are never members, exactly as in Neutron: traffic that arrives from a
    member's floating IP is NOT matched by a remote-group rule. (A lab that allowed it would
    let a harness pass here and fail on a real cloud.)
    """
    members: dict[str, set[str]] = {}
    for port in ports:
        addresses = set(port.fixed_ips) | set(port.allowed_address_pairs)
        for group in port.security_groups:
            members.setdefault(group, set()).update(addresses)
    return {group: frozenset(addrs) for group, addrs in members.items()}


# --------------------------------------------------------------------------- compiled form
@dataclass(frozen=True)
class Match:
    """What one rule accepts, in a form both the renderer and the conntrack check use."""

    direction: Direction
    family: int  # 4 or 6
    protocol: str | None
    ports: tuple[int, int] | None = None
    icmp: tuple[int, int | None] | None = None
    remotes: tuple[str, ...] | None = None  # None: any address; (): nobody
    remote_set: str | None = None  # named set holding `remotes` (remote groups)


def _family(ethertype: Ethertype) -> int:
    return 4 if ethertype == "IPv4" else 6


def _networks(addresses: Iterable[str], family: int) -> tuple[str, ...]:
    nets = {ipaddress.ip_network(a, strict=False) for a in addresses}
    return tuple(str(n) for n in sorted((n for n in nets if n.version == family),
                                        key=lambda n: (int(n.network_address), n.prefixlen)))


def group_set_name(group_id: str, family: int) -> str:
    return f"rg_{names.short_id(group_id)}_v{family}"


def compile_rule(rule: SgRule, remote_groups: Mapping[str, frozenset[str]]) -> Match | None:
    """The Match of one rule, or None if the rule can never match (family mismatch)."""
    family = _family(rule.ethertype)
    protocol = normalize_protocol(rule.protocol, rule.ethertype)
    ports = icmp = None
    lo, hi = rule.port_range_min, rule.port_range_max
    if protocol in L4_WITH_PORTS and lo is not None:
        ports = (int(lo), int(hi if hi is not None else lo))
        if not 0 < ports[0] <= ports[1] <= 65535:
            raise ValueError(f"bad port range {lo}-{hi}")
    elif protocol in ("icmp", "ipv6-icmp") and lo is not None:
        icmp = (int(lo), None if hi is None else int(hi))
    remotes: tuple[str, ...] | None = None
    remote_set = None
    if rule.remote_group_id:
        remotes = _networks(remote_groups.get(rule.remote_group_id, ()), family)
        remote_set = group_set_name(rule.remote_group_id, family)
    elif rule.remote_ip_prefix:
        net = ipaddress.ip_network(rule.remote_ip_prefix, strict=False)
        if net.version != family:
            return None
        remotes = None if net.prefixlen == 0 else (str(net),)
    return Match(rule.direction, family, protocol, ports, icmp, remotes, remote_set)


def compile_port(port: PortFirewall) -> list[Match]:
    matches = [compile_rule(rule, port.remote_groups) for rule in port.rules]
    unique: list[Match] = []
    for m in matches:
        if m is not None and m not in unique:
            unique.append(m)
    return unique


# --------------------------------------------------------------------------- rendering
def _addr(net: str) -> str:
    n = ipaddress.ip_network(net)
    return str(n.network_address) if n.num_addresses == 1 else str(n)


def _addr_set(nets: Sequence[str]) -> str:
    return _addr(nets[0]) if len(nets) == 1 else "{ " + ", ".join(_addr(n) for n in nets) + " }"


def _rule_line(m: Match) -> str:
    ipkw = "ip" if m.family == 4 else "ip6"
    side = "saddr" if m.direction == "ingress" else "daddr"
    parts: list[str] = []
    if m.remote_set is not None:
        parts.append(f"{ipkw} {side} @{m.remote_set}")
    elif m.remotes is not None:
        parts.append(f"{ipkw} {side} {_addr_set(m.remotes)}")
    else:
        parts.append(f"meta nfproto ipv{m.family}")
    if m.ports is not None:
        lo, hi = m.ports
        parts.append(f"{m.protocol} dport {lo}" if lo == hi else f"{m.protocol} dport {lo}-{hi}")
    elif m.icmp is not None:
        kw = "icmp" if m.protocol == "icmp" else "icmpv6"
        parts.append(f"meta l4proto {m.protocol} {kw} type {m.icmp[0]}")
        if m.icmp[1] is not None:
            parts.append(f"{kw} code {m.icmp[1]}")
    elif m.protocol is not None:
        parts.append(f"meta l4proto {m.protocol}")
    return "    " + " ".join(parts) + " accept"


def _chain_id(port_id: str) -> str:
    return names.short_id(port_id)


def render_sg(ports: Sequence[PortFirewall]) -> str:
    """Text of table ``inet lab_sg`` for the given ports of ONE VM (pure; [] = drop all)."""
    sets: dict[str, tuple[int, tuple[str, ...]]] = {}
    inp = ["  chain input {", "    type filter hook input priority filter; policy drop;",
           '    iif "lo" accept', "    ct state established,related accept",
           "    ct state invalid drop"]
    out = ["  chain output {", "    type filter hook output priority filter; policy drop;",
           '    oif "lo" accept', "    ct state established,related accept",
           "    ct state invalid drop"]
    chains: list[str] = []
    for port in sorted(ports, key=lambda p: p.ifname):
        names.check_ifname(port.ifname)
        if not port.port_security:
            inp.append(f'    iifname "{port.ifname}" accept')
            out.append(f'    oifname "{port.ifname}" accept')
            continue
        cid = _chain_id(port.port_id)
        inp.append(f'    iifname "{port.ifname}" jump in_{cid}')
        out.append(f'    oifname "{port.ifname}" jump out_{cid}')
        matches = compile_port(port)
        for m in matches:
            if m.remote_set is not None:
                sets[m.remote_set] = (m.family, m.remotes or ())
        ingress = [_rule_line(m) for m in matches if m.direction == "ingress"]
        spoof = []
        for family, ipkw in ((4, "ip"), (6, "ip6")):
            own = _networks(port.own_addresses(), family)
            if own:
                spoof.append(f"    {ipkw} saddr != {_addr_set(own)} drop")
            else:
                spoof.append(f"    meta nfproto ipv{family} drop")
        egress = [_rule_line(m) for m in matches if m.direction == "egress"]
        chains += [f"  chain in_{cid} {{", *ingress, "  }",
                   f"  chain out_{cid} {{", *spoof, *egress, "  }"]
    set_lines: list[str] = []
    for set_name, (family, members) in sorted(sets.items()):
        kind = "ipv4_addr" if family == 4 else "ipv6_addr"
        set_lines += [f"  set {set_name} {{", f"    type {kind}", "    flags interval"]
        if members:
            set_lines.append("    elements = { " + ", ".join(_addr(n) for n in members) + " }")
        set_lines.append("  }")
    return "\n".join([f"table {FAMILY} {TABLE} {{", *set_lines, *inp, "  }", *out, "  }",
                      *chains, "}", ""])


# --------------------------------------------------------------------------- conntrack
@dataclass(frozen=True)
class Conn:
    """The original-direction tuple of one conntrack entry."""

    family: int
    protocol: str
    src: str
    dst: str
    sport: int | None = None
    dport: int | None = None
    icmp_type: int | None = None
    icmp_code: int | None = None
    icmp_id: int | None = None


def parse_conntrack(text: str, family: int = 4) -> list[Conn]:
    """Parse ``conntrack -L`` output (the first, original-direction tuple of each line)."""
    conns = []
    for line in text.splitlines():
        words = line.split()
        if len(words) < 3 or "=" in words[0]:
            continue
        proto = {"icmpv6": "ipv6-icmp"}.get(words[0], words[0])
        if proto == "unknown":
            proto = words[1]
        fields: dict[str, str] = {}
        for word in words[2:]:
            if "=" in word:
                key, _, value = word.partition("=")
                if key in fields:  # second tuple (reply direction) starts
                    break
                fields[key] = value
        if "src" not in fields or "dst" not in fields:
            continue

        def num(key: str, fields: dict[str, str] = fields) -> int | None:
            return int(fields[key]) if key in fields else None

        conns.append(Conn(family, proto, fields["src"], fields["dst"], num("sport"),
                          num("dport"), num("type"), num("code"), num("id")))
    return conns


def _in(address: str, nets: Iterable[str]) -> bool:
    ip = ipaddress.ip_address(address)
    return any(ip in ipaddress.ip_network(n, strict=False) for n in nets)


def permits(port: PortFirewall, conn: Conn) -> bool:
    """Would ``port``'s rules let the connection ``conn`` be opened? (Python twin of render_sg.)"""
    if not port.port_security:
        return True
    own = port.own_addresses()
    inbound, outbound = _in(conn.dst, own), _in(conn.src, own)
    if inbound and outbound:
        return True
    if not (inbound or outbound):
        return True  # not this port's traffic
    direction = "ingress" if inbound else "egress"
    remote = conn.src if inbound else conn.dst
    for m in compile_port(port):
        if m.direction != direction or m.family != conn.family:
            continue
        if m.protocol is not None and m.protocol != conn.protocol:
            continue
        if m.ports is not None and not (conn.dport is not None and m.ports[0] <= conn.dport <= m.ports[1]):
            continue
        if m.icmp is not None and (conn.icmp_type != m.icmp[0] or
                                   (m.icmp[1] is not None and conn.icmp_code != m.icmp[1])):
            continue
        if m.remotes is not None and not _in(remote, m.remotes):
            continue
        return True
    return False


def _delete_args(conn: Conn) -> list[str]:
    args = ["conntrack", "-D", "-f", "ipv4" if conn.family == 4 else "ipv6",
            "-s", conn.src, "-d", conn.dst]
    proto = "icmpv6" if conn.protocol == "ipv6-icmp" else conn.protocol
    args += ["-p", proto]
    if conn.sport is not None and conn.dport is not None:
        args += ["--sport", str(conn.sport), "--dport", str(conn.dport)]
    elif conn.icmp_type is not None:
        args += ["--icmp-type", str(conn.icmp_type)]
        if conn.icmp_code is not None:
            args += ["--icmp-code", str(conn.icmp_code)]
        if conn.icmp_id is not None:
            args += ["--icmp-id", str(conn.icmp_id)]
    return args


# --------------------------------------------------------------------------- applying
@dataclass(frozen=True)
class ApplyResult:
    seconds: float
    conntrack_deleted: int


def apply_sg(netns: str, ports: Sequence[PortFirewall], *, cleanup: bool = True) -> ApplyResult:
    """Make ``netns`` (a VM namespace) enforce exactly ``ports``' rules, now.

    The table is replaced in one nft transaction; then every conntrack entry the new rules
    would not have allowed is deleted, so connections a removed rule or group member let in
    die too (with tcp_loose=0 their next packet is INVALID and dropped).
    """
    start = time.monotonic()
    system.nft_replace_table(netns, FAMILY, TABLE, render_sg(ports))
    system.set_sysctls({"net.netfilter.nf_conntrack_tcp_loose": "0"}, netns=netns)
    deleted = 0
    if cleanup:
        deleted = _drop_disallowed(netns, ports)
    return ApplyResult(time.monotonic() - start, deleted)


def still_allowed(ports: Sequence[PortFirewall], conn: Conn) -> bool:
    """May ``conn`` (an entry in the VM's conntrack table) live on under ``ports``' rules?"""
    if ipaddress.ip_address(conn.src).is_loopback or ipaddress.ip_address(conn.dst).is_loopback:
        return True
    if not ports:
        return False  # the drop-all table
    own = [a for p in ports for a in p.own_addresses()]
    if _in(conn.src, own) and _in(conn.dst, own):
        return True  # the VM talking to itself
    owners = [p for p in ports if _in(conn.src, p.own_addresses()) or _in(conn.dst, p.own_addresses())]
    return all(permits(p, conn) for p in owners)


def _drop_disallowed(netns: str, ports: Sequence[PortFirewall]) -> int:
    deleted = 0
    for family in (4, 6):
        listing = system.run(system.ns_cmd(netns, [
            "conntrack", "-L", "-f", "ipv4" if family == 4 else "ipv6"]), check=False)
        for conn in parse_conntrack(listing.stdout, family):
            if still_allowed(ports, conn):
                continue
            result = system.run(system.ns_cmd(netns, _delete_args(conn)), check=False)
            if result.returncode == 0:
                deleted += 1
    return deleted


def remove_sg(netns: str) -> None:
    system.nft_delete_table(netns, FAMILY, TABLE)
