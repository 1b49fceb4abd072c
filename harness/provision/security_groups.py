"""Least-privilege security groups: the rule set is the stack's data (:class:`Rule`), audited.

Each rule says what it is for and who may connect:

- ``harness``: the harness's own address (/32), for SSH and for checking the database;
- ``group``: the other servers of the same cloud, by ``remote_group_id``;
- ``peers``: the other clouds' node addresses (/32 each), added once every cloud has published
  them at the rendezvous;
- nothing is ever opened to 0.0.0.0/0 unless the challenge file lists the port in
  ``open_to_world`` (the 2017 group opened 20000-32767 to the internet).

>>> len(initial_rules("sg-1", [Rule("ssh", "tcp", (22, 22), ("harness",))], ["192.0.2.1/32"], []))
1
>>> audit([{"direction": "ingress", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22,
...         "remote_ip_prefix": "0.0.0.0/0", "ethertype": "IPv4"}], open_to_world=[])
['ingress tcp 22 from 0.0.0.0/0 is open to the world and port 22 is not in open_to_world']
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..stacks.base import Rule
from .context import Context

WORLD = ("0.0.0.0/0", "::/0")
HARNESS_CIDR_ENV = "INTEROP_HARNESS_CIDR"


def harness_cidrs(toward: str | None) -> tuple[list[str], str]:
    """The harness's own address(es) as /32, and how they were found.

    ``$INTEROP_HARNESS_CIDR`` (comma-separated) wins: behind NAT only the operator knows the
    public address. Otherwise the local address the kernel would use to reach ``toward`` (the
    external network's gateway): right when the harness is not behind NAT, as in the lab.
    """
    env = os.environ.get(HARNESS_CIDR_ENV, "").strip()
    if env:
        cidrs = [str(ipaddress.ip_network(c.strip(), strict=False)) for c in env.split(",") if c.strip()]
        return cidrs, f"${HARNESS_CIDR_ENV}"
    target = toward or "192.0.2.1"  # TEST-NET-1: any routable destination picks the default route
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect((target, 9))  # UDP connect sends nothing; it only picks the source address
        address = sock.getsockname()[0]
    return [f"{address}/32"], f"source address toward {target}"


def _rule_body(sg_id: str, rule: Rule, *, remote_ip: str | None = None, remote_group: str | None = None,
               ) -> dict[str, Any]:
    body: dict[str, Any] = {"security_group_id": sg_id, "direction": "ingress", "ethertype": "IPv4",
                            "protocol": rule.protocol, "description": f"interop {rule.purpose}"}
    if rule.ports is not None:
        body["port_range_min"], body["port_range_max"] = rule.ports
    if remote_group:
        body["remote_group_id"] = remote_group
    else:
        body["remote_ip_prefix"] = remote_ip
    return body


def initial_rules(sg_id: str, rules: Sequence[Rule], harness: Sequence[str],
                  open_to_world: Iterable[int] = ()) -> list[dict[str, Any]]:
    """Rule bodies for the harness and the group (peers come later), plus what the challenge opens."""
    bodies = []
    for rule in rules:
        if "harness" in rule.sources:
            bodies += [_rule_body(sg_id, rule, remote_ip=cidr) for cidr in harness]
        if "group" in rule.sources:
            bodies.append(_rule_body(sg_id, rule, remote_group=sg_id))
    for port in sorted(set(open_to_world)):
        bodies.append(_rule_body(sg_id, Rule(f"open-to-world-{port}", "tcp", (port, port), ()), remote_ip=WORLD[0]))
    return bodies


def peer_rules(sg_id: str, rules: Sequence[Rule], peers: Mapping[str, Sequence[str]]) -> list[dict[str, Any]]:
    """Rule bodies opening the ``peers`` ports to each other cloud's node addresses, /32 each."""
    bodies = []
    for rule in rules:
        if "peers" not in rule.sources:
            continue
        for cloud in sorted(peers):
            for address in sorted(set(peers[cloud])):
                body = _rule_body(sg_id, rule, remote_ip=f"{ipaddress.ip_address(address)}/32")
                body["description"] += f" from {cloud}"
                bodies.append(body)
    return bodies


def create_security_group(ctx: Context, rules: Sequence[Rule], harness: Sequence[str],
                          open_to_world: Iterable[int] = ()) -> dict[str, Any]:
    """The run's group with its initial rules (one bulk request); returns id, name and rules."""
    name = ctx.names.of("sg")
    ctx.intend("security-group", name)
    sg = ctx.call(ctx.conn.network.create_security_group, name=name,
                  description=f"interop harness run {ctx.names.run_id}", doing=f"creating security group {name}")
    ctx.created("security-group", name, sg.id)
    bodies = initial_rules(sg.id, rules, harness, open_to_world)
    created = add_rules(ctx, bodies, doing=f"adding {len(bodies)} rules to {name}")
    existing = [_as_dict(r) for r in (getattr(sg, "security_group_rules", None) or [])]
    return {"id": sg.id, "name": name, "rules": existing + created}


def add_rules(ctx: Context, bodies: list[dict[str, Any]], *, doing: str) -> list[dict[str, Any]]:
    if not bodies:
        return []
    made = ctx.call(lambda: list(ctx.conn.network.create_security_group_rules(bodies)), doing=doing)
    return [_as_dict(r) for r in made]


def _as_dict(rule: Any) -> dict[str, Any]:
    if isinstance(rule, dict):
        return rule
    to_dict = getattr(rule, "to_dict", None)
    data = to_dict(computed=False) if to_dict else dict(rule)
    return {k: data.get(k) for k in ("id", "direction", "ethertype", "protocol", "port_range_min",
                                     "port_range_max", "remote_ip_prefix", "remote_group_id", "description")}


# ---- audit ------------------------------------------------------------------------------------


def describe_rule(rule: Mapping[str, Any]) -> str:
    """``ingress tcp 5432 from 10.0.0.5/32`` (from the group / from anywhere)."""
    proto = rule.get("protocol") or "any"
    low, high = rule.get("port_range_min"), rule.get("port_range_max")
    ports = "" if low is None else (f" {low}" if low == high else f" {low}-{high}")
    if rule.get("remote_group_id"):
        source = f"group {str(rule['remote_group_id'])[:8]}"
    else:
        source = rule.get("remote_ip_prefix") or "anywhere"
    return f"{rule.get('direction', 'ingress')} {proto}{ports} from {source}"


def _open_to_world(rule: Mapping[str, Any]) -> bool:
    if rule.get("direction", "ingress") != "ingress" or rule.get("remote_group_id"):
        return False
    prefix = rule.get("remote_ip_prefix")
    if prefix is None:  # Neutron reads "no remote" as "any address"
        return True
    return ipaddress.ip_network(prefix, strict=False).prefixlen == 0


def audit(rules: Iterable[Mapping[str, Any]], *, open_to_world: Iterable[int]) -> list[str]:
    """Every ingress rule open to any address on a port the challenge did not list; [] is clean."""
    allowed = set(open_to_world)
    problems = []
    for rule in rules:
        if not _open_to_world(rule):
            continue
        low, high = rule.get("port_range_min"), rule.get("port_range_max")
        proto = rule.get("protocol")
        if proto in ("tcp", "udp", "6", "17") and low is not None and high is not None:
            outside = [p for p in range(int(low), int(high) + 1) if p not in allowed]
            if not outside:
                continue
            what = f"port {outside[0]}" if len(outside) == 1 else f"ports {outside[0]}..{outside[-1]}"
            problems.append(f"{describe_rule(rule)} is open to the world and {what} "
                            f"{'is' if len(outside) == 1 else 'are'} not in open_to_world")
        else:
            problems.append(f"{describe_rule(rule)} is open to the world on every port")
    return problems
