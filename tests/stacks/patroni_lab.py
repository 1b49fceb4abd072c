"""The lab cluster the hosts-patroni lab tests share (imported by conftest and the tests)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.phases import CloudRun
from harness.record import RunDir, phase_timer
from harness.stacks import hosts_patroni
from vm_clouds import VmClouds

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

    def phase(self, name: str, fn: Callable[[CloudRun], dict[str, Any]], clouds: list[str]) -> None:
        """Run a phase on ``clouds`` in parallel, as xdist workers would: timed, failures recorded."""
        def one(cloud: str) -> None:
            run = self.runs[cloud]
            try:
                with phase_timer(self.run, cloud=cloud, phase=name) as rec:
                    rec.details.update(fn(run))
                self.details[(cloud, name)] = rec.details
            except BaseException as exc:  # the runner's ON_FAILURE hook, then keep the error
                hosts_patroni.on_failure(run, name, str(exc))
                self.errors[(cloud, name)] = exc

        threads = [threading.Thread(target=one, args=(c,)) for c in clouds]
        for t in threads:
            t.start()
        for t in threads:
            t.join(900)
