"""Remove everything the data plane of one state directory created, and prove it is gone.

Works from the ledger alone (no live objects needed), so it also cleans up after a crash.
Order: cuts, VM processes (SIGKILL by pid, only pids inside our own namespaces or recorded
with their start time), router and VM namespaces (their nft tables, conntrack and in-namespace
veth ends go with them), remaining root-namespace veth ends, bridges, root routes, VM disks.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import LabError

from . import isolate, system
from .state import Ledger


@dataclass
class TeardownReport:
    killed_pids: list[int] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    bridges: list[str] = field(default_factory=list)
    routes: list[str] = field(default_factory=list)
    cuts_healed: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)


def _recorded_pids(data: dict[str, Any]) -> list[tuple[int, int]]:
    return [(v["pid"], v["pid_start"]) for v in data["vms"].values()
            if v.get("pid") and v.get("pid_start")]


def leftovers(state_dir: Path | str, data: dict[str, Any] | None = None) -> list[str]:
    """Everything recorded in the ledger (or ``data``) that still exists on this host."""
    state_dir = Path(state_dir).absolute()
    data = data if data is not None else Ledger(state_dir).read()
    left: list[str] = []
    netns = [v["netns"] for v in data["vms"].values()] + [r["netns"] for r in data["routers"].values()]
    for ns in netns:
        if system.netns_exists(ns):
            left.append(f"namespace {ns}")
        for pid in system.pids_in_netns(ns):
            left.append(f"process {pid} in {ns}")
    for pid, start in _recorded_pids(data):
        if system.process_start_time(pid) == start and system.is_alive(pid):
            left.append(f"process {pid}")
    for name in list(data["links"]) + list(data["bridges"]):
        if system.link_exists(name):
            left.append(f"interface {name}")
    routes = system.run(["ip", "route", "show"], check=False).stdout
    for key in data["routes"]:
        if any(line.strip() == key or line.startswith(key + " ") for line in routes.splitlines()):
            left.append(f"route {key}")
    with open("/proc/mounts") as f:
        for line in f:
            mountpoint = line.split()[1]
            if mountpoint.startswith(str(state_dir)) or any(
                    mountpoint == str(system.netns_path(ns)) for ns in netns):
                left.append(f"mount {mountpoint}")
    vms_dir = state_dir / "vms"
    if vms_dir.exists() and any(vms_dir.iterdir()):
        left.append(f"files in {vms_dir}")
    return left


def teardown_all(state_dir: Path | str, *, timeout: float = 30.0) -> TeardownReport:
    """Remove every namespace, veth, bridge, nft table, route, process and VM disk recorded
    under ``state_dir``; raise LabError naming whatever could not be removed."""
    state_dir = Path(state_dir).absolute()
    ledger = Ledger(state_dir)
    report = TeardownReport()
    if not ledger.path.exists():
        return report
    report.cuts_healed = isolate.heal_all(state_dir)
    with ledger.transaction() as data:
        for rec in data["vms"].values():
            if system.netns_exists(rec["netns"]):
                report.killed_pids += system.kill_netns_processes(rec["netns"], timeout=timeout)
        alive = [pid for pid, start in _recorded_pids(data)
                 if system.process_start_time(pid) == start and system.is_alive(pid)]
        if alive:
            system.kill_pids(alive, what="lab VMs", timeout=timeout)
            report.killed_pids += alive
        for rec in [*data["routers"].values(), *data["vms"].values()]:
            if system.netns_exists(rec["netns"]):
                system.netns_delete(rec["netns"])
                report.namespaces.append(rec["netns"])
        for name in list(data["links"]):
            if system.link_exists(name):
                system.delete_link(name)
                report.links.append(name)
        for name in list(data["bridges"]):
            if system.link_exists(name):
                system.delete_link(name)
                report.bridges.append(name)
        for key, args in data["routes"].items():
            if system.ip("route", "delete", *args, check=False).returncode == 0:
                report.routes.append(key)
        shutil.rmtree(state_dir / "vms", ignore_errors=True)
        report.leftovers = leftovers(state_dir, data)
        if not report.leftovers:
            for section in data.values():
                section.clear()
    if report.leftovers:
        raise LabError("lab data plane teardown left: " + "; ".join(report.leftovers))
    ledger.remove()
    return report
