"""Pure rendering tests: firewall, router NAT, cuts, names. No root, no namespaces."""

from __future__ import annotations

import pytest

from interop_lab.dataplane import names
from interop_lab.dataplane.firewall import (
    Conn,
    MemberPort,
    PortFirewall,
    SgRule,
    group_members,
    parse_conntrack,
    permits,
    render_sg,
    still_allowed,
)
from interop_lab.dataplane.isolate import render_cut
from interop_lab.dataplane.router import FloatingIp, RouterGateway, RouterInterface, RouterSpec, render_nat, root_routes

HARNESS = "172.24.4.1"


def port(*rules: SgRule, groups: dict[str, frozenset[str]] | None = None,
         ips: tuple[str, ...] = ("10.0.1.5",), **kw: object) -> PortFirewall:
    return PortFirewall(port_id="11111111-2222-3333-4444-555555555555", ifname="eth0",
                        fixed_ips=ips, rules=rules, remote_groups=groups or {}, **kw)  # type: ignore[arg-type]


def chain(text: str, name: str) -> list[str]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith(f"chain {name}"))
    end = next(i for i in range(start, len(lines)) if lines[i].strip() == "}")
    return [line.strip() for line in lines[start + 1:end]]


# --------------------------------------------------------------------------- firewall
def test_default_drop_both_ways_and_stateful_accept() -> None:
    text = render_sg([port()])
    assert text.startswith("table inet lab_sg {")
    for hook in ("input", "output"):
        body = chain(text, hook)
        assert f"type filter hook {hook} priority filter; policy drop;" in body
        assert "ct state established,related accept" in body
        assert "ct state invalid drop" in body
    assert 'iifname "eth0" jump in_111111112222' in chain(text, "input")
    assert 'oifname "eth0" jump out_111111112222' in chain(text, "output")


def test_no_ports_is_drop_all_but_loopback() -> None:
    text = render_sg([])
    assert chain(text, "input")[-1] == "ct state invalid drop"
    assert 'iif "lo" accept' in chain(text, "input")
    assert "jump" not in text


def test_ingress_tcp_from_cidr() -> None:
    text = render_sg([port(SgRule("ingress", protocol="tcp", port_range_min=22, port_range_max=22,
                                  remote_ip_prefix=f"{HARNESS}/32"))])
    assert chain(text, "in_111111112222") == [f"ip saddr {HARNESS} tcp dport 22 accept"]


def test_egress_udp_port_range_and_any() -> None:
    text = render_sg([port(SgRule("egress", protocol="udp", port_range_min=5000, port_range_max=5100,
                                  remote_ip_prefix="10.9.0.0/16"),
                           SgRule("egress"))])
    out = chain(text, "out_111111112222")
    assert "ip daddr 10.9.0.0/16 udp dport 5000-5100 accept" in out
    assert "meta nfproto ipv4 accept" in out
    assert chain(text, "in_111111112222") == []


def test_protocol_numbers_and_icmp_type_code() -> None:
    text = render_sg([port(SgRule("ingress", protocol="6", port_range_min=80, port_range_max=80),
                           SgRule("ingress", protocol="icmp", port_range_min=8, port_range_max=0),
                           SgRule("ingress", protocol="icmp"),
                           SgRule("ingress", protocol="47"))])
    body = chain(text, "in_111111112222")
    assert "meta nfproto ipv4 tcp dport 80 accept" in body
    assert "meta nfproto ipv4 meta l4proto icmp icmp type 8 icmp code 0 accept" in body
    assert "meta nfproto ipv4 meta l4proto icmp accept" in body
    assert "meta nfproto ipv4 meta l4proto 47 accept" in body


def test_tcp_without_ports_and_zero_prefix() -> None:
    text = render_sg([port(SgRule("ingress", protocol="tcp", remote_ip_prefix="0.0.0.0/0"))])
    assert chain(text, "in_111111112222") == ["meta nfproto ipv4 meta l4proto tcp accept"]


def test_ipv6_rule_with_ipv4_prefix_is_ignored() -> None:
    text = render_sg([port(SgRule("ingress", ethertype="IPv6", remote_ip_prefix="10.0.0.0/8"))])
    assert chain(text, "in_111111112222") == []


def test_egress_anti_spoofing() -> None:
    text = render_sg([port(ips=("10.0.1.5",), allowed_address_pairs=("10.0.1.200/32",))])
    out = chain(text, "out_111111112222")
    assert out[0] == "ip saddr != { 10.0.1.5, 10.0.1.200 } drop"
    assert out[1] == "meta nfproto ipv6 drop"


def test_port_security_disabled_accepts_everything_on_that_interface() -> None:
    text = render_sg([port(port_security=False)])
    assert 'iifname "eth0" accept' in chain(text, "input")
    assert 'oifname "eth0" accept' in chain(text, "output")


def test_remote_group_is_members_fixed_ips_never_floating_ips() -> None:
    members = group_members([
        MemberPort(fixed_ips=("10.0.1.7",), security_groups=("sg-db",), floating_ips=("172.24.4.77",)),
        MemberPort(fixed_ips=("10.0.2.8",), security_groups=("sg-db", "sg-web"),
                   floating_ips=("172.24.4.88",)),
        MemberPort(fixed_ips=("10.0.3.9",), security_groups=("sg-web",)),
    ])
    assert members["sg-db"] == frozenset({"10.0.1.7", "10.0.2.8"})
    rule = SgRule("ingress", protocol="tcp", port_range_min=5432, port_range_max=5432,
                  remote_group_id="sg-db")
    text = render_sg([port(rule, groups=members)])
    setname = f"rg_{names.short_id('sg-db')}_v4"
    assert f"ip saddr @{setname} tcp dport 5432 accept" in chain(text, "in_111111112222")
    assert "elements = { 10.0.1.7, 10.0.2.8 }" in text
    assert "172.24.4.77" not in text and "172.24.4.88" not in text
    fw = port(rule, groups=members)
    assert permits(fw, Conn(4, "tcp", "10.0.2.8", "10.0.1.5", 40000, 5432))
    assert not permits(fw, Conn(4, "tcp", "172.24.4.88", "10.0.1.5", 40000, 5432))


def test_remote_group_without_members_matches_nobody() -> None:
    text = render_sg([port(SgRule("ingress", remote_group_id="sg-empty"))])
    setname = f"rg_{names.short_id('sg-empty')}_v4"
    assert f"  set {setname} {{" in text and "elements" not in text
    assert not permits(port(SgRule("ingress", remote_group_id="sg-empty")),
                       Conn(4, "tcp", "10.0.1.9", "10.0.1.5", 1, 2))


def test_rule_validation() -> None:
    with pytest.raises(ValueError):
        SgRule("sideways")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        SgRule("ingress", remote_ip_prefix="10.0.0.0/8", remote_group_id="x")
    assert SgRule.from_neutron({"direction": "egress", "ethertype": "IPv4", "protocol": None,
                                "port_range_min": None, "port_range_max": None,
                                "remote_ip_prefix": None, "remote_group_id": None}) == SgRule("egress")


def test_conntrack_parse_and_still_allowed() -> None:
    listing = (
        "tcp      6 431999 ESTABLISHED src=172.24.4.1 dst=10.0.1.5 sport=51000 dport=22 "
        "src=10.0.1.5 dst=172.24.4.1 sport=22 dport=51000 [ASSURED] mark=0 use=1\n"
        "tcp      6 431999 ESTABLISHED src=172.24.4.9 dst=10.0.1.5 sport=51001 dport=7000 "
        "src=10.0.1.5 dst=172.24.4.9 sport=7000 dport=51001 [ASSURED] mark=0 use=1\n"
        "icmp     1 29 src=10.0.1.5 dst=172.24.4.1 type=8 code=0 id=7 src=172.24.4.1 "
        "dst=10.0.1.5 type=0 code=0 id=7 mark=0 use=1\n"
        "tcp      6 10 TIME_WAIT src=127.0.0.1 dst=127.0.0.1 sport=1 dport=2 src=127.0.0.1 "
        "dst=127.0.0.1 sport=2 dport=1 mark=0 use=1\n")
    conns = parse_conntrack(listing)
    assert conns[0] == Conn(4, "tcp", "172.24.4.1", "10.0.1.5", 51000, 22)
    assert conns[2].icmp_type == 8 and conns[2].icmp_id == 7
    fw = port(SgRule("ingress", protocol="tcp", port_range_min=22, port_range_max=22,
                     remote_ip_prefix=f"{HARNESS}/32"), SgRule("egress"))
    assert [still_allowed([fw], c) for c in conns] == [True, False, True, True]
    assert [still_allowed([], c) for c in conns] == [False, False, False, True]


# --------------------------------------------------------------------------- router NAT
GW = RouterGateway(port_id="aaaaaaaa-0000-0000-0000-000000000001", mac="fa:16:3e:00:00:01",
                   ip="172.24.4.10", prefixlen=24)
IFACE = RouterInterface(port_id="bbbbbbbb-0000-0000-0000-000000000002", network_id="net-1",
                        mac="fa:16:3e:00:00:02", ip="10.0.1.1", prefixlen=24)


def test_nat_rules_follow_neutron_l3_agent() -> None:
    spec = RouterSpec("r1", gateway=GW, interfaces=(IFACE,),
                      floating_ips=(FloatingIp("172.24.4.101", "10.0.1.5"),
                                    FloatingIp("172.24.4.102", "10.0.1.6")))
    text = render_nat(spec)
    qg = names.router_gateway(GW.port_id)
    assert qg == "qg-aaaaaaaa000"
    assert chain(text, "mark_external")[1:] == [f'iifname "{qg}" meta mark set 0x2']
    dnat = ["ip daddr 172.24.4.101 dnat to 10.0.1.5", "ip daddr 172.24.4.102 dnat to 10.0.1.6"]
    assert chain(text, "prerouting")[1:] == dnat
    assert chain(text, "output")[1:] == dnat
    assert chain(text, "postrouting")[1:] == [
        f'oifname != "{qg}" ct status ! dnat accept',       # east-west: no NAT
        "ip saddr 10.0.1.5 snat to 172.24.4.101",           # fixed -> its FIP (also hairpin)
        "ip saddr 10.0.1.6 snat to 172.24.4.102",
        f'oifname "{qg}" snat to 172.24.4.10',              # default SNAT
        "meta mark != 0x2 ct status dnat snat to 172.24.4.10",  # hairpin without FIP
    ]


def test_nat_without_snat_or_gateway() -> None:
    no_snat = render_nat(RouterSpec("r1", gateway=GW, interfaces=(IFACE,), snat=False))
    assert "snat to 172.24.4.10" not in no_snat
    bare = render_nat(RouterSpec("r2", interfaces=(IFACE,)))
    assert chain(bare, "postrouting")[1:] == [] and "dnat" not in bare


def test_router_spec_validation_and_roundtrip() -> None:
    with pytest.raises(ValueError):
        RouterSpec("r", interfaces=(IFACE,), floating_ips=(FloatingIp("172.24.4.5", "10.0.1.5"),))
    with pytest.raises(ValueError):
        RouterSpec("r", gateway=GW, interfaces=(IFACE,), floating_ips=(FloatingIp("172.24.4.5", "10.9.9.9"),))
    spec = RouterSpec("r", gateway=GW, interfaces=(IFACE,), floating_ips=(FloatingIp("172.24.4.5", "10.0.1.5"),))
    assert RouterSpec.from_dict(spec.to_dict()) == spec


def test_root_routes_guard_or_expose() -> None:
    guarded = RouterSpec("r1", gateway=GW, interfaces=(IFACE,))
    assert root_routes([guarded]) == {"unreachable 10.0.1.0/24": ["unreachable", "10.0.1.0/24"]}
    exposed = RouterSpec("r1", gateway=GW, interfaces=(IFACE,), expose_fixed=True)
    assert root_routes([exposed]) == {"10.0.1.0/24 via 172.24.4.10": ["10.0.1.0/24", "via", "172.24.4.10"]}


def test_cut_rendering_is_bounded() -> None:
    text = render_cut("qg-aaaaaaaa000", ["172.24.4.1", "172.24.4.10", "172.24.4.101"], 30)
    assert 'elements = { "qg-aaaaaaaa000" timeout 30000ms }' in text
    assert "elements = { 172.24.4.1, 172.24.4.10, 172.24.4.101 }" in text
    assert "iifname @cut ip saddr != @allow drop" in text
    assert "oifname @cut ip daddr != @allow drop" in text
    with pytest.raises(ValueError):
        render_cut("qg-x", [], 0)
    with pytest.raises(ValueError):
        render_cut("qg-x", [], 7200)


# --------------------------------------------------------------------------- names
@pytest.mark.parametrize("make", [names.bridge, names.vm_tap, names.router_internal_peer,
                                  names.router_gateway_peer, names.router_internal,
                                  names.router_gateway])
@pytest.mark.parametrize("ident", ["3f0c2a9e-1b6d-4e2a-9c1f-0a1b2c3d4e5f", "net-a", "x" * 200])
def test_interface_names_fit_and_are_stable(make, ident: str) -> None:  # type: ignore[no-untyped-def]
    name = make(ident)
    assert len(name) <= names.IFNAMSIZ
    assert name == make(ident)
    assert name.startswith(("il", "qr-", "qg-"))


def test_root_namespace_names_carry_the_prefix() -> None:
    uid = "3f0c2a9e-1b6d-4e2a-9c1f-0a1b2c3d4e5f"
    assert names.bridge(uid) == "ilb3f0c2a9e1b6d"
    assert names.vm_tap(uid).startswith("ilt") and names.router_gateway_peer(uid).startswith("ilg")
    assert names.vm_netns(uid) == "ilab-vm-3f0c2a9e1b6d"
    assert names.router_netns(uid) == "ilab-rt-3f0c2a9e1b6d"
    assert names.is_ours_ifname(names.bridge(uid)) and not names.is_ours_ifname("eth0")
    assert names.vm_tap("a") != names.vm_tap("b")


def test_invalid_interface_names_are_refused() -> None:
    for bad in ("", "x" * 16, "has space", "slash/"):
        with pytest.raises(ValueError):
            names.check_ifname(bad)
    with pytest.raises(ValueError):
        names.short_id("abc", 3)


def test_bridge_mac_is_fixed_and_local_unicast() -> None:
    mac = names.bridge_mac("net-1")
    assert mac == names.bridge_mac("net-1") != names.bridge_mac("net-2")
    assert mac.startswith("02:") and len(mac) == 17
