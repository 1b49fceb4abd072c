"""The lab cluster the hosts-patroni lab tests share (imported by conftest and the tests)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vm_clouds import VmClouds

from harness.engine import CloudRun
from harness.record import RunDir

TOOLS = ("ip", "nft", "nsenter", "unshare", "ssh", "ssh-keygen", "/usr/sbin/sshd", "start-stop-daemon")
EXT_OCTET = 31  # external network 172.29.31.0/24, tenants 10.231.x.0/24: used by nothing else
SHAPE = {"c1": 2, "c2": 2, "c3": 2, "c4": 1}
BROKEN = "c4"


@dataclass
class LabCluster:
    lab: VmClouds
    run: RunDir
    key: Path
    runs: dict[str, CloudRun]
    errors: dict[tuple[str, str], BaseException] = field(default_factory=dict)
    details: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def phase(self, name: str, clouds: list[str]) -> None:
        """Run a phase through the engine on ``clouds`` in parallel, as lanes would: timed,
        withdrawn from the rendezvous on failure, the error kept."""
        def one(cloud: str) -> None:
            try:
                self.details[(cloud, name)] = self.runs[cloud].run_phase(name)
            except BaseException as exc:
                self.errors[(cloud, name)] = exc

        threads = [threading.Thread(target=one, args=(c,)) for c in clouds]
        for t in threads:
            t.start()
        for t in threads:
            t.join(900)
