"""Helpers shared by the data-plane tests (imported by conftest and the test modules)."""

from __future__ import annotations

import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from interop_lab.dataplane import ExternalNet, NicSpec, RouterHost, VmHost, leftovers, names, system


@dataclass
class Ssh:
    key: Path

    def run(self, ip: str, command: str, *, timeout: float = 15.0,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        args = ["ssh", "-i", str(self.key), "-o", "BatchMode=yes",
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=3", f"root@{ip}", command]
        return subprocess.run(args, capture_output=True, text=True, timeout=timeout, input=input)

    def check(self, ip: str, command: str, **kw: object) -> str:
        r = self.run(ip, command, **kw)  # type: ignore[arg-type]
        assert r.returncode == 0, f"ssh {ip} {command!r}: rc={r.returncode} {r.stderr.strip()}"
        return r.stdout


def assert_nothing_left(state_dir: Path, before: dict[str, list[str]]) -> None:
    assert leftovers(state_dir) == []
    # objects that appeared meanwhile and are still there: ours unless another data plane
    # on this host (the running lab's nova-compute and agent) recorded them
    others = _recorded_elsewhere(state_dir)
    new_netns = sorted(set(system.list_netns()) - set(before["netns"]) - others)
    new_links = sorted(set(system.list_links()) - set(before["links"]) - others)
    assert not new_netns, f"namespaces left behind: {new_netns}"
    assert not new_links, f"interfaces left behind: {new_links}"
    with open("/proc/mounts") as f:
        mounts = [line for line in f if str(state_dir) in line or "ilab-" in line]
    new_mounts = [m for m in set(mounts) - set(before["mounts"])
                  if not any(f"/{name} " in m for name in others)]
    assert not new_mounts, f"mounts left behind: {new_mounts}"


def _recorded_elsewhere(state_dir: Path) -> set[str]:
    """Names recorded by the lab's own data plane (not this test's), also root-side veth ends."""
    from interop_lab import default_state_dir
    from interop_lab.dataplane.state import Ledger

    lab = default_state_dir() / "dataplane"
    if lab == state_dir or not (lab / "dataplane.json").exists():
        return set()
    data = Ledger(lab).read()
    found = {v["netns"] for v in data["vms"].values()} | {r["netns"] for r in data["routers"].values()}
    found |= set(data["links"]) | set(data["bridges"])
    for vm in data["vms"].values():
        found |= {names.vm_tap(nic["port_id"]) for nic in vm["spec"]["nics"]}
    return found


def host_snapshot() -> dict[str, list[str]]:
    with open("/proc/mounts") as f:
        mounts = [line for line in f if "ilab-" in line]
    return {"netns": system.list_netns(), "links": system.list_links(), "mounts": mounts}


@dataclass
class Env:
    state_dir: Path
    vms: VmHost
    routers: RouterHost
    external: ExternalNet

    def nic(self, network: str, ip: str, gateway: str) -> NicSpec:
        mac = "fa:16:3e:" + ":".join(uuid.uuid4().hex[i:i + 2] for i in (0, 2, 4))
        return NicSpec(port_id=str(uuid.uuid4()), network_id=network, mac=mac, ip=ip,
                       prefixlen=24, gateway=gateway)


