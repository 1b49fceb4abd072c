"""Boot N lab VMs concurrently through interop_lab.dataplane and time them to SSH.

For each VM, from the start of its boot:
  boot -> sshd answers   VmHost.boot() returned (sshd banner on the fixed IP, inside the netns)
  boot -> FIP SSH        its security group applied and the harness (root netns) gets the
                         sshd banner through the router at the VM's floating IP
  ssh true               one real `ssh root@FIP true` afterwards (client cost included)
Then: a security-group rule change -> enforced (apply + first probe seeing the change), and
idle memory per VM. Everything is torn down at the end (teardown_all), even on failure.

Needs root and the packages in interop_lab/dataplane/packages.txt. Uses 172.29.7.0/24 as the
external network and 10.229.7.0/24 as the tenant network (not the lab's own ranges).

usage: python benchmarks/bench_vm_boot.py [--count 10] [--rounds 1]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.waiting import wait_for  # noqa: E402
from interop_lab.dataplane import (  # noqa: E402
    ExternalNet,
    FloatingIp,
    NicSpec,
    PortFirewall,
    RouterGateway,
    RouterHost,
    RouterInterface,
    RouterSpec,
    SgRule,
    VmHost,
    VmSpec,
    apply_sg,
    is_ssh_ready,
    system,
    teardown_all,
)

EXT = ExternalNet(bridge="ilx-bench", cidr="172.29.7.0/24", gateway="172.29.7.1")
NET = "bench-net"
SSH_RULE = SgRule("ingress", protocol="tcp", port_range_min=22, port_range_max=22,
                  remote_ip_prefix=f"{EXT.gateway}/32")


def mac() -> str:
    return "fa:16:3e:" + ":".join(uuid.uuid4().hex[i:i + 2] for i in (0, 2, 4))


def stats(xs: list[float]) -> str:
    return f"median {statistics.median(xs):6.3f}s  max {max(xs):6.3f}s  min {min(xs):6.3f}s"


def rss_kib(netns: str) -> int:
    total = 0
    for pid in system.pids_in_netns(netns):
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def run_round(state_dir: Path, key: Path, count: int) -> dict[str, list[float]]:
    vms, routers = VmHost(state_dir), RouterHost(state_dir, EXT)
    fixed = [f"10.229.7.{10 + i}" for i in range(count)]
    fips = [f"172.29.7.{100 + i}" for i in range(count)]
    routers.apply(RouterSpec(
        router_id=str(uuid.uuid4()),
        gateway=RouterGateway(str(uuid.uuid4()), mac(), "172.29.7.10", 24),
        interfaces=(RouterInterface(str(uuid.uuid4()), NET, mac(), "10.229.7.1", 24),),
        floating_ips=tuple(FloatingIp(f, x) for f, x in zip(fips, fixed, strict=True))))
    pub = key.with_suffix(".pub").read_text()
    out: dict[str, list[float]] = {"boot": [], "fip": [], "ssh": []}
    errors: list[BaseException] = []
    lock = threading.Lock()
    barrier = threading.Barrier(count)

    def one(i: int) -> None:
        try:
            nic = NicSpec(str(uuid.uuid4()), NET, mac(), fixed[i], 24, "10.229.7.1")
            spec = VmSpec(f"bench-{i}-{uuid.uuid4().hex[:6]}", pub, (nic,))
            barrier.wait(30)
            t0 = time.monotonic()
            state = vms.boot(spec)
            t1 = time.monotonic()
            apply_sg(state.netns, [PortFirewall(nic.port_id, "eth0", (nic.ip,), (SSH_RULE,))])
            wait_for(lambda: is_ssh_ready(fips[i], timeout=1.0), timeout=30, interval=0.02,
                     what=f"SSH banner at {fips[i]}")
            t2 = time.monotonic()
            with lock:
                out["boot"].append(t1 - t0)
                out["fip"].append(t2 - t0)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    wall = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    wall = time.monotonic() - wall
    if errors:
        raise errors[0]
    for fip in fips:
        t = time.monotonic()
        subprocess.run(["ssh", "-i", str(key), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                        "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
                        f"root@{fip}", "true"], check=True, timeout=30)
        out["ssh"].append(time.monotonic() - t)
    print(f"{count} VMs booted concurrently, all answering at their FIP after {wall:.2f}s wall")
    mem = [rss_kib(vms.state(n).netns) for n in vms.names()]
    print(f"idle RSS per VM (unshare + sshd): median {statistics.median(mem) / 1024:.1f} MiB")

    # security-group rule change -> enforced, on one VM
    name = vms.names()[0]
    state = vms.state(name)
    nic = state.nics[0]
    fip = fips[fixed.index(nic.ip)]
    closed, opened = [], []
    for _ in range(5):
        t = time.monotonic()
        apply_sg(state.netns, [PortFirewall(nic.port_id, "eth0", (nic.ip,), ())])
        wait_for(lambda: not is_ssh_ready(fip, timeout=0.2), timeout=5, interval=0.01, what="SSH closed")
        closed.append(time.monotonic() - t)
        t = time.monotonic()
        apply_sg(state.netns, [PortFirewall(nic.port_id, "eth0", (nic.ip,), (SSH_RULE,))])
        wait_for(lambda: is_ssh_ready(fip, timeout=1.0), timeout=5, interval=0.01, what="SSH open")
        opened.append(time.monotonic() - t)
    out["rule_removed"], out["rule_added"] = closed, opened
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=1)
    args = ap.parse_args()
    totals: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-vm-") as tmp:
        key = Path(tmp) / "id_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        for r in range(args.rounds):
            state_dir = Path(tmp) / f"state{r}"
            try:
                for k, v in run_round(state_dir, key, args.count).items():
                    totals.setdefault(k, []).extend(v)
            finally:
                t = time.monotonic()
                report = teardown_all(state_dir)
                print(f"teardown_all: {len(report.namespaces)} namespaces, "
                      f"{len(report.killed_pids)} processes in {time.monotonic() - t:.2f}s, "
                      f"leftovers: {report.leftovers or 'none'}")
    print(f"boot -> sshd answers (in VM netns): {stats(totals['boot'])}  (n={len(totals['boot'])})")
    print(f"boot -> SSH banner at FIP (+SG)   : {stats(totals['fip'])}")
    print(f"ssh root@FIP true afterwards      : {stats(totals['ssh'])}")
    print(f"SG rule removed -> SSH refused    : {stats(totals['rule_removed'])}  (apply + 0.2 s probe)")
    print(f"SG rule added -> SSH answers      : {stats(totals['rule_added'])}")


if __name__ == "__main__":
    main()
