"""prepare.yml for real on lab servers (namespace VMs behind floating IPs), through the
harness's ansible-runner wrapper: what the dry run does on every server of every cloud.

The lab's servers share the lab host's kernel: the test also shows that preparing them
changes only each server's own network namespace and /etc, never the host's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from patroni_lab import TOOLS
from vm_clouds import VmClouds

from harness.configure.ansible import run_playbook
from harness.configure.inventory import build_inventory, servers_from_facts
from harness.record import RunDir, new_run_id
from harness.stacks.k8s_cockroach import pins
from interop_lab.dataplane import leftovers

pytestmark = [pytest.mark.k8s, pytest.mark.lab]

EXT_OCTET = 37     # external network 172.29.37.0/24: used by nothing else
TENANT_BASE = 40   # tenant networks 10.231.41.0/24 ...: clear of the hosts-patroni lab tests'


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[VmClouds, dict[str, Any], Path]]:
    if os.geteuid() != 0:
        pytest.skip("booting namespace VMs needs root")
    missing = [t for t in TOOLS if shutil.which(t) is None and not os.path.exists(t)]
    if missing:
        pytest.skip(f"missing {missing}: apt-get install $(cat interop_lab/dataplane/packages.txt)")
    base = tmp_path_factory.mktemp("k3s-prepare")
    key = base / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    vms = VmClouds(base / "vms", key, ext_octet=EXT_OCTET, tenant_base=TENANT_BASE)
    try:
        facts = vms.boot({"k1": 2})
        yield vms, facts, key
    finally:
        vms.close()
        assert leftovers(vms.state_dir) == [], "the test VMs left something behind"


def _prepare(run: RunDir, facts: dict[str, Any], key: Path, label: str) -> Any:
    servers = servers_from_facts({"servers": facts["k1"]}, "k1")
    names = [s.name for s in servers]
    inventory = build_inventory(servers, ssh_key=key, known_hosts=key.parent / "known_hosts",
                                groups={"k3s": names, "k3s_server": names[:1], "k3s_agent": names[1:]})
    return run_playbook(run, cloud="k1", phase="configure", playbook="prepare.yml", project_dir=pins.PLAYBOOKS,
                        inventory=inventory, label=label, timeout=300, extravars=pins.load().extravars())


def _ssh(key: Path, address: str, command: str) -> str:
    r = subprocess.run(["ssh", "-i", str(key), "-o", f"UserKnownHostsFile={key.parent / 'known_hosts'}",
                        "-o", "StrictHostKeyChecking=accept-new", "-o", "BatchMode=yes", f"root@{address}", command],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_prepare_runs_on_lab_servers_and_stays_inside_them(
        lab: tuple[VmClouds, dict[str, Any], Path], tmp_path: Path) -> None:
    _, facts, key = lab
    host_forward = Path("/proc/sys/net/ipv4/ip_forward").read_text()
    host_conf = Path("/etc/sysctl.d/90-k3s.conf").exists()
    run = RunDir(tmp_path / "reports", new_run_id()).create()
    first = _prepare(run, facts, key, "prepare")
    assert first.status == "successful" and not first.summary.failures
    assert [p.name for p in first.summary.plays] == ["Prepare the k3s nodes"]
    changed = first.summary.changed_tasks()
    for server in facts["k1"]:  # a fresh server forwards nothing: prepare turned it on
        assert f"{server['name']}: Set the sysctls that differ" in changed, changed
    for server in facts["k1"]:
        got = _ssh(key, server["public_ip"], "cat /proc/sys/net/ipv4/ip_forward /etc/sysctl.d/90-k3s.conf "
                                             "/etc/modules-load.d/k3s.conf; test -d /var/lib/rancher/k3s/agent/images")
        assert got.splitlines()[0] == "1"
        assert "net.bridge.bridge-nf-call-iptables = 1" in got and "br_netfilter" in got
    # the host's own namespace and /etc are as they were
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text() == host_forward
    assert Path("/etc/sysctl.d/90-k3s.conf").exists() == host_conf
    second = _prepare(run, facts, key, "prepare")
    assert second.summary.changed_tasks() == []  # idempotent: nothing left to change
