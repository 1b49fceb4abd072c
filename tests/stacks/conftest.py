"""Fixtures for the hosts-patroni lab tests: "clouds" of data-plane VMs, no OpenStack.

One module-scoped cluster (3 clouds x 2 servers, plus a 4th cloud whose only server has its
sshd stopped before configure) is configured and deployed once through the harness's phase
functions; the tests then look at what that left behind. Everything is torn down in the
finalizer, after failures too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest
from patroni_lab import BROKEN, EXT_OCTET, SHAPE, TOOLS, LabCluster
from pipelines import cloud_run
from vm_clouds import VmClouds

from harness.challenge import Challenge
from harness.record import RunDir, new_run_id
from interop_lab.dataplane import leftovers


@pytest.fixture(scope="session")
def lab_host_ready() -> None:
    if os.geteuid() != 0:
        pytest.skip("the hosts-patroni lab tests boot namespace VMs: run as root")
    missing = [t for t in TOOLS if shutil.which(t) is None and not os.path.exists(t)]
    if missing:
        pytest.skip(f"missing {missing}: apt-get install $(cat interop_lab/dataplane/packages.txt)")
    from harness.stacks.hosts_patroni.pins import PINS_FILE
    from interop_lab.image import ensure_image, load_image
    ensure_image(load_image([PINS_FILE]))  # PostgreSQL, etcd, the Patroni venv: the lab's "image"


@pytest.fixture(scope="module")
def cluster(lab_host_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabCluster]:
    taken = subprocess.run(["ip", "-4", "route", "show", "to", "match", f"172.29.{EXT_OCTET}.1"],
                           capture_output=True, text=True).stdout
    if f"172.29.{EXT_OCTET}.0/24" in taken:
        pytest.fail(f"172.29.{EXT_OCTET}.0/24 is in use on this host (a crashed earlier run?): {taken.strip()}")
    base = tmp_path_factory.mktemp("patroni")
    key = base / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    lab = VmClouds(base / "vms", key, ext_octet=EXT_OCTET)
    try:
        facts = lab.boot(SHAPE)
        lab.stop(facts[BROKEN][0]["name"])  # sshd (pid 1 of the VM) and all else gone; the address stays
        run = RunDir(base / "reports", new_run_id()).create()
        run.append("run-start", run_id=run.run_id, clouds=list(SHAPE))
        challenge = Challenge.model_validate({"clouds": {c: {} for c in SHAPE},
                                              "timeouts": {"configure": 300, "deploy": 300}})
        runs = {c: cloud_run(challenge, c, run.path) for c in SHAPE}
        for c, r in runs.items():
            r.facts.update(servers=facts[c], ssh_key=str(key))
        cluster = LabCluster(lab, run, key, runs)
        cluster.phase("configure", list(SHAPE))
        ok = [c for c in SHAPE if (c, "configure") not in cluster.errors]
        cluster.phase("deploy", ok)
        yield cluster
    finally:
        lab.close()
        assert leftovers(lab.state_dir) == [], "the test VMs left something behind"
