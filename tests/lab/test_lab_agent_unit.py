"""The lab agent's converge-and-report cycle, with recorded Neutron JSON and fake kernel/RPC.

The agent module imports neutron only inside its RPC class, so its cycle runs here in the
harness venv; routers, firewalls, links and namespaces are fakes recording what it asks for.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from test_lab_translate_unit import FIP, NETWORK_INFO, PORT, RECORDED, ROUTER, SERVER

from interop_lab import translate
from interop_lab.agent import Agent, changed_lists
from interop_lab.dataplane import names
from interop_lab.dataplane.firewall import PortFirewall
from interop_lab.dataplane.router import ExternalNet, RouterSpec
from interop_lab.dataplane.state import Ledger

HOST = "interop-lab-compute"


class FakeNeutron:
    def __init__(self, snap: dict[str, Any]) -> None:
        self.snap = snap
        self.reads = 0
        self.asked: list[set[str] | None] = []

    def snapshot(self, lists: Collection[str] | None = None) -> dict[str, Any]:
        self.reads += 1
        self.asked.append(None if lists is None else set(lists))
        return copy.deepcopy(self.snap)


class FakeReport:
    def __init__(self) -> None:
        self.devices_calls: list[tuple[list[str], list[str]]] = []
        self.fip_calls: list[tuple[str, dict[str, str]]] = []

    def devices(self, up: Sequence[str], down: Sequence[str]) -> dict[str, Any]:
        self.devices_calls.append((list(up), list(down)))
        return {"devices_up": list(up), "failed_devices_up": [], "devices_down": list(down),
                "failed_devices_down": []}

    def floatingips(self, router_id: str, statuses: Mapping[str, str]) -> None:
        self.fip_calls.append((router_id, dict(statuses)))


class FakeRouters:
    def __init__(self, ledger: Ledger, fail: bool = False) -> None:
        self.ledger = ledger
        self.applied: list[RouterSpec] = []
        self.deleted: list[str] = []
        self.external = 0
        self.fail = fail

    def apply(self, spec: RouterSpec) -> float:
        if self.fail:
            raise ValueError("boom")
        self.applied.append(spec)
        with self.ledger.transaction() as data:
            data["routers"][spec.router_id] = {"spec": spec.to_dict(), "netns": names.router_netns(spec.router_id)}
        return 0.01

    def delete(self, router_id: str) -> None:
        self.deleted.append(router_id)
        with self.ledger.transaction() as data:
            data["routers"].pop(router_id, None)

    def ensure_external(self) -> None:
        self.external += 1


class Rig:
    """An agent wired to fakes; ``taps`` and ``namespaces`` say what exists in the "kernel"."""

    def __init__(self, tmp_path: Path, snap: dict[str, Any], *, fail_routers: bool = False) -> None:
        self.ledger = Ledger(tmp_path)
        self.neutron = FakeNeutron(snap)
        self.report = FakeReport()
        self.routers = FakeRouters(self.ledger, fail_routers)
        self.firewalls: list[tuple[str, list[PortFirewall]]] = []
        self.taps: set[str] = set()
        self.namespaces: dict[str, tuple[int, int]] = {}
        self.fp: object = 1
        self.now = 1000.0
        self.external_args: list[ExternalNet] = []

        def make_routers(ext: ExternalNet) -> FakeRouters:
            self.external_args.append(ext)
            return self.routers

        self.agent = Agent(HOST, tmp_path, self.neutron, self.report, fingerprint=lambda: self.fp,
                           routers=make_routers, apply_firewall=lambda ns, ports: self.firewalls.append((ns, list(ports))),
                           link_exists=lambda name: name in self.taps, netns_id=self.namespaces.get,
                           clock=lambda: self.now)

    def boot_vm(self) -> str:
        """What nova-compute's driver leaves behind: the VM in the ledger, namespace, tap."""
        spec = translate.vm_spec(SERVER, "rec-srv", RECORDED["keypair_public_key"], NETWORK_INFO)
        netns = names.vm_netns(SERVER)
        with self.ledger.transaction() as data:
            data["vms"][SERVER] = {"spec": spec.to_dict(), "netns": netns, "dir": "/x", "pid": None, "pid_start": None}
        self.namespaces[netns] = (1, 42)
        self.namespaces[names.router_netns(ROUTER)] = (1, 7)
        self.taps.add(names.vm_tap(PORT))
        return netns

    def cycle(self, seconds: float = 1.0) -> None:
        self.now += seconds
        self.agent.cycle()


@pytest.fixture
def snap() -> dict[str, Any]:
    return copy.deepcopy(RECORDED["snapshot"])


def test_first_cycle_wires_everything_and_reports_it(tmp_path: Path, snap: dict[str, Any]) -> None:
    rig = Rig(tmp_path, snap)
    netns = rig.boot_vm()
    rig.cycle()
    assert rig.external_args == [ExternalNet(cidr="172.24.4.0/24", gateway="172.24.4.1")] and rig.routers.external == 1
    assert [s.router_id for s in rig.routers.applied] == [ROUTER]
    assert [(ns, [p.port_id for p in ports]) for ns, ports in rig.firewalls] == [(netns, [PORT])]
    assert rig.report.devices_calls == [([PORT], [])]
    assert rig.report.fip_calls == [(ROUTER, {FIP: "ACTIVE"})]


def test_nothing_is_redone_while_nothing_changes(tmp_path: Path, snap: dict[str, Any]) -> None:
    rig = Rig(tmp_path, snap)
    rig.boot_vm()
    for _ in range(5):
        rig.cycle()
    assert rig.neutron.reads == 1  # the fingerprint did not move
    assert len(rig.routers.applied) == 1 and len(rig.firewalls) == 1
    assert len(rig.report.devices_calls) == 1 and len(rig.report.fip_calls) == 1
    rig.cycle(seconds=10)  # resync: the API is read, but nothing changed in it
    assert rig.neutron.reads == 2 and len(rig.routers.applied) == 1 and len(rig.firewalls) == 1


def test_a_rule_change_is_applied_on_the_next_cycle(tmp_path: Path, snap: dict[str, Any]) -> None:
    rig = Rig(tmp_path, snap)
    rig.boot_vm()
    rig.cycle()
    group = next(g for g in rig.neutron.snap["security_groups"] if any(
        r.get("port_range_min") == 22 for r in g["security_group_rules"]))
    group["security_group_rules"] = [r for r in group["security_group_rules"] if r.get("port_range_min") != 22]
    rig.fp = 2
    rig.cycle()
    assert len(rig.firewalls) == 2
    assert not any(r.port_range_min == 22 for r in rig.firewalls[-1][1][0].rules)
    assert len(rig.routers.applied) == 1  # the router did not change


def test_a_vm_not_plugged_yet_is_left_alone_until_it_is(tmp_path: Path, snap: dict[str, Any]) -> None:
    rig = Rig(tmp_path, snap)
    rig.boot_vm()
    rig.taps.clear()  # the driver has recorded the VM but not created its veth yet
    rig.cycle()
    assert rig.firewalls == [] and rig.report.devices_calls == []
    rig.taps.add(names.vm_tap(PORT))  # plugged: served from the snapshot already read
    rig.cycle()
    assert len(rig.firewalls) == 1 and rig.report.devices_calls == [([PORT], [])]
    assert rig.neutron.reads == 1


def test_a_port_goes_up_only_once_its_floating_ip_is_routed(tmp_path: Path, snap: dict[str, Any]) -> None:
    rig = Rig(tmp_path, snap, fail_routers=True)
    rig.boot_vm()
    rig.cycle()
    assert len(rig.firewalls) == 1  # its security groups are in place ...
    assert rig.report.devices_calls == []  # ... but its floating IP is not NATed: not ACTIVE yet
    assert rig.agent.stats["errors"] >= 1
    rig.routers.fail = False
    rig.cycle()
    assert rig.report.devices_calls == [([PORT], [])]


def test_status_reports_are_repeated_only_when_neutron_ignored_them(tmp_path: Path, snap: dict[str, Any]) -> None:
    rig = Rig(tmp_path, snap)
    rig.boot_vm()
    rig.cycle()
    rig.cycle(seconds=1)
    assert len(rig.report.devices_calls) == 1
    rig.cycle(seconds=6)  # still DOWN in the snapshot after 7 s: say it again
    assert len(rig.report.devices_calls) == 2
    next(p for p in rig.neutron.snap["ports"] if p["id"] == PORT)["status"] = "ACTIVE"
    rig.fp = 3
    rig.cycle(seconds=6)
    assert len(rig.report.devices_calls) == 2


def test_ports_of_a_vanished_vm_go_down_and_gone_routers_are_deleted(tmp_path: Path, snap: dict[str, Any]) -> None:
    next(p for p in snap["ports"] if p["id"] == PORT)["status"] = "ACTIVE"
    rig = Rig(tmp_path, snap)
    rig.cycle()  # no VM in the ledger for this ACTIVE port
    assert rig.report.devices_calls == [([], [PORT])]
    rig.neutron.snap["routers"] = []
    rig.neutron.snap["floatingips"][0]["status"] = "ACTIVE"  # as Neutron holds it after our report
    rig.fp = 4
    rig.cycle()
    assert rig.routers.deleted == [ROUTER]
    # its floating IP is no longer NATed: Neutron hears DOWN (it would keep ACTIVE otherwise)
    assert rig.report.fip_calls == [(ROUTER, {FIP: "ACTIVE"}), (ROUTER, {FIP: "DOWN"})]


def test_unused_tenant_bridges_are_collected_never_the_external_one(tmp_path: Path, snap: dict[str, Any]) -> None:
    rig = Rig(tmp_path, snap)
    with rig.ledger.transaction() as data:  # names that do not exist on this host: ledger-only work
        data["bridges"].update({"ilbdeadbeef0001": "tenant", "ilx-gone0001": "external"})
    rig.cycle()  # a read: collect
    assert rig.ledger.read()["bridges"] == {"ilx-gone0001": "external"}


def test_a_missing_external_bridge_is_recreated(tmp_path: Path, snap: dict[str, Any]) -> None:
    rig = Rig(tmp_path, snap)
    rig.taps.add("ilx-public")
    rig.cycle()
    assert rig.routers.external == 1
    rig.taps.discard("ilx-public")  # someone deleted it
    rig.cycle()
    assert rig.routers.external == 2


def test_a_busy_neutron_is_read_at_most_once_a_second(tmp_path: Path, snap: dict[str, Any]) -> None:
    rig = Rig(tmp_path, snap)
    rig.cycle()
    for step in range(1, 9):  # something changes every 0.25 s for 2 s
        rig.fp = f"change {step}"
        rig.cycle(seconds=0.25)
    assert rig.neutron.reads == 3  # the first read, then one per second
    rig.fp = "change 9"
    rig.cycle(seconds=0.25)
    assert rig.neutron.reads == 3
    rig.cycle(seconds=1)  # the last change is not lost
    assert rig.neutron.reads == 4 and rig.agent.snap_fp == "change 9"


def test_only_the_lists_that_changed_are_read_again(tmp_path: Path, snap: dict[str, Any]) -> None:
    rig = Rig(tmp_path, snap)
    rig.fp = {"ports": (1, 10, 1), "securitygrouprules": (3, 9, 0), "routers": (1, 5, 2)}
    rig.cycle()
    rig.fp = {"ports": (2, 11, 2), "securitygrouprules": (4, 12, 0), "routers": (1, 5, 2)}
    rig.cycle()
    rig.fp = {**rig.fp, "networksegments": (1, 13, 0)}  # nothing the agent reads
    rig.cycle()
    rig.cycle(seconds=10)  # resync: everything
    assert rig.neutron.asked == [None, {"ports", "security_groups"}, set(), None]
    assert changed_lists(None, rig.fp) is None


def test_an_agent_started_before_the_public_network_exists_takes_it_when_it_appears(
        tmp_path: Path, snap: dict[str, Any]) -> None:
    # a fresh lab: the agent starts before bootstrap creates `public`
    empty = copy.deepcopy(snap)
    empty["networks"] = [n for n in empty["networks"] if not n.get("router:external")]
    rig = Rig(tmp_path, empty)
    rig.cycle()
    assert rig.routers.external == 0
    rig.neutron.snap = copy.deepcopy(snap)  # bootstrap created the public network
    rig.fp = 2
    rig.cycle()
    assert rig.external_args[-1] == ExternalNet(cidr="172.24.4.0/24", gateway="172.24.4.1")
    assert rig.routers.external == 1
