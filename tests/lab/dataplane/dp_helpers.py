"""Helpers shared by the data-plane tests (imported by conftest and the test modules)."""

from __future__ import annotations

import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from harness.lab.dataplane import ExternalNet, NicSpec, RouterHost, VmHost, leftovers, system


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
    assert system.list_netns() == before["netns"], "namespaces left behind"
    assert system.list_links() == before["links"], "interfaces left behind"
    with open("/proc/mounts") as f:
        mounts = [line for line in f if str(state_dir) in line or "ilab-" in line]
    assert mounts == before["mounts"], "mounts left behind"


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


