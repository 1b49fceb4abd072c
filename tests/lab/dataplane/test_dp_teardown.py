"""Overlapping tenant subnets, a failed boot, and teardown_all leaving nothing behind."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from dp_helpers import Env, Ssh, assert_nothing_left, host_snapshot

from harness.errors import PhaseTimeout
from interop_lab.dataplane import (
    FloatingIp,
    PortFirewall,
    RouterGateway,
    RouterInterface,
    RouterSpec,
    SgRule,
    VmHost,
    VmSpec,
    apply_sg,
    cut,
    is_ssh_ready,
    leftovers,
    system,
    teardown_all,
)
from interop_lab.dataplane.state import Ledger

pytestmark = pytest.mark.lab


def test_overlapping_tenant_subnets_then_teardown_all_leaves_nothing(
        make_env: Callable[[int], Env], ssh_key: Path, ssh: Ssh) -> None:
    before = host_snapshot()
    root_tables = system.nft_tables(None)
    env = make_env(6)
    fixed = "10.229.9.5"  # the same subnet and fixed IP in two clouds
    vms = []
    for n, (router_ip, fip) in enumerate((("172.29.6.10", "172.29.6.101"),
                                          ("172.29.6.20", "172.29.6.102"))):
        nic = env.nic(f"net-overlap-{n}", fixed, "10.229.9.1")
        spec = VmSpec(name=f"vm-ov{n}-{uuid.uuid4().hex[:6]}", public_key=ssh_key.with_suffix(".pub").read_text(),
                      nics=(nic,))
        state = env.vms.boot(spec)
        router = RouterSpec(
            router_id=str(uuid.uuid4()),
            gateway=RouterGateway(str(uuid.uuid4()), env.nic("x", "10.0.0.2", "10.0.0.1").mac, router_ip, 24),
            interfaces=(RouterInterface(str(uuid.uuid4()), nic.network_id,
                                        env.nic("x", "10.0.0.2", "10.0.0.1").mac, "10.229.9.1", 24),),
            floating_ips=(FloatingIp(fip, fixed),))
        env.routers.apply(router)
        apply_sg(state.netns, [PortFirewall(nic.port_id, "eth0", (fixed,), (
            SgRule("ingress", protocol="tcp", port_range_min=22, port_range_max=22,
                   remote_ip_prefix=env.external.cidr),))])
        vms.append((spec, state, router, fip))
    for spec, _, _, fip in vms:
        assert ssh.check(fip, "hostname").strip() == spec.host_name
    cut(env.state_dir, "cloud-0", [vms[0][2].router_id], seconds=60)
    pids = [p for _, state, _, _ in vms for p in system.pids_in_netns(state.netns)]
    assert pids

    report = teardown_all(env.state_dir)

    assert report.cuts_healed == ["cloud-0"]
    assert set(report.killed_pids) >= set(pids)
    assert not any(system.is_alive(p) for p in pids)
    assert len(report.namespaces) == 4 and report.leftovers == []
    assert_nothing_left(env.state_dir, before)
    assert system.nft_tables(None) == root_tables  # nothing was ever added in the root namespace
    for _, state, _, fip in vms:
        assert not is_ssh_ready(fip, timeout=0.3)
        assert state.netns not in system.list_netns()
    assert not Ledger(env.state_dir).path.exists()
    assert teardown_all(env.state_dir).leftovers == []  # idempotent


def test_boot_timeout_is_bounded_and_cleans_up(need_root: None, tmp_path: Path, ssh_key: Path) -> None:
    before = host_snapshot()
    host = VmHost(tmp_path / "state", boot_timeout=0.001)
    spec = VmSpec(name="vm-slow", public_key=ssh_key.with_suffix(".pub").read_text(),
                  nics=(Env(tmp_path, host, None, None).nic("net-slow", "10.229.8.5", "10.229.8.1"),))  # type: ignore[arg-type]
    with pytest.raises(PhaseTimeout) as err:
        host.boot(spec)
    assert "sshd of VM vm-slow" in str(err.value)
    assert host.names() == []
    assert leftovers(tmp_path / "state") == []
    assert_nothing_left(tmp_path / "state", before)


def test_state_dir_under_var_stays_invisible(need_root: None, ssh_key: Path) -> None:
    """The lab keeps its state in /var/tmp/interop-lab: VM disks then live inside the host /var
    that the VMs overlay. That must neither loop (overlayfs ELOOP) nor show the state dir."""
    before = host_snapshot()
    base = Path("/var/tmp") / f"ilab-test-{uuid.uuid4().hex[:6]}"
    state_dir = base / "dataplane"
    host = VmHost(state_dir)
    nic = Env(state_dir, host, None, None).nic("net-var", "10.229.5.5", "10.229.5.1")  # type: ignore[arg-type]
    try:
        state = host.boot(VmSpec(name="vm-var", public_key=ssh_key.with_suffix(".pub").read_text(),
                                 nics=(nic,)))
        out = system.run(["nsenter", f"--net={system.netns_path(state.netns)}", "--",
                          "ssh", "-q", "-i", str(ssh_key), "-o", "BatchMode=yes",
                          "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                          f"root@{nic.ip}",
                          f"ls -A /var/tmp; test -e {base} && echo VISIBLE; "
                          "mkdir -p /var/lib/pg/data && echo ok > /var/lib/pg/data/f && cat /var/lib/pg/data/f"]).stdout
        assert out.split() == ["ok"]
        assert not Path("/var/lib/pg").exists()
    finally:
        teardown_all(state_dir)
        assert_nothing_left(state_dir, before)
        shutil.rmtree(base, ignore_errors=True)
