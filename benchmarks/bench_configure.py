"""Configure + join of the hosts-patroni stack: 3 clouds x 2 servers (target: 3 min on 2 cores).

Boots namespace VMs directly (tests/stacks/vm_clouds.py: a router with floating IPs per
"cloud", no OpenStack), runs the harness's configure and deploy phases for every cloud in
parallel threads (as xdist workers would), and prints per cloud: configure time with its plays,
deploy time, join time (plan known -> the cloud's members streaming or leader), the cluster's
readiness; then a second configure (changed tasks must be 0) and, with --failover, a leader
kill (time until a new leader, time until healthy after restarting the old one).
Everything is torn down at the end, also on failure. Needs root; uses 172.29.32.0/24 and
10.231.11-19.0/24.

usage: python benchmarks/bench_configure.py [--clouds 3] [--servers 2] [--failover]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "stacks")]

from vm_clouds import VmClouds  # noqa: E402

from harness.challenge import Challenge  # noqa: E402
from harness.engine import CloudRun  # noqa: E402
from harness.provision.pipeline import pipeline_for  # noqa: E402
from harness.record import RunDir, new_run_id  # noqa: E402
from harness.stacks import load_stack  # noqa: E402
from harness.stacks.hosts_patroni.pins import PINS_FILE  # noqa: E402
from interop_lab.image import ensure_image, load_image  # noqa: E402


def run_phase(runs: dict[str, CloudRun], name: str) -> dict[str, tuple[float, Any]]:
    """``name`` on every cloud at once through the engine (timed, withdrawn on failure)."""
    out: dict[str, tuple[float, Any]] = {}

    def one(cloud: str) -> None:
        t0 = time.monotonic()
        try:
            out[cloud] = (time.monotonic() - t0, runs[cloud].run_phase(name))
        except Exception as exc:
            out[cloud] = (time.monotonic() - t0, exc)

    threads = [threading.Thread(target=one, args=(c,)) for c in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clouds", type=int, default=3)
    ap.add_argument("--servers", type=int, default=2)
    ap.add_argument("--failover", action="store_true")
    args = ap.parse_args()
    t = time.monotonic()
    print(f"lab image: {ensure_image(load_image([PINS_FILE]), log=print)}")
    base = Path(tempfile.mkdtemp(prefix="bench-configure-"))
    key = base / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    clouds = {f"bench{i}": args.servers for i in range(1, args.clouds + 1)}
    lab = VmClouds(base / "vms", key, ext_octet=32, tenant_base=10)
    failed = False
    try:
        t0 = time.monotonic()
        facts = lab.boot(clouds)
        print(f"boot {len(clouds)} x {args.servers} VMs: {time.monotonic() - t0:.1f}s")
        rd = RunDir(base / "reports", new_run_id()).create()
        rd.append("run-start", run_id=rd.run_id, clouds=list(clouds))
        challenge = Challenge.model_validate({"clouds": {c: {} for c in clouds}})
        pipeline = pipeline_for(load_stack(challenge.stack))
        runs = {c: CloudRun(cloud=c, challenge=challenge, clouds=None, run_dir=rd.path,  # type: ignore[arg-type]
                            pipeline=pipeline, facts={"servers": facts[c], "ssh_key": str(key)}) for c in clouds}
        start = time.monotonic()
        configure = run_phase(runs, "configure")
        deploy = run_phase(runs, "deploy")
        total = time.monotonic() - start
        print(f"\n{'cloud':8} {'configure':>10} {'deploy':>8} {'join':>7} {'ready':>7}  plays (configure | deploy)")
        for c in clouds:
            (ct, cd), (dt, dd) = configure[c], deploy[c]
            if isinstance(cd, Exception) or isinstance(dd, Exception):
                failed = True
                print(f"{c:8} FAILED: {cd if isinstance(cd, Exception) else dd}")
                continue
            plays = " ".join(f"{p['seconds']:.1f}" for p in cd["plays"]) + " | " + \
                " ".join(f"{p['seconds']:.1f}" for p in dd["ansible"]["plays"][1:3])
            print(f"{c:8} {ct:9.1f}s {dt:7.1f}s {dd['join_s']:6.1f}s {dd['cluster_ready_s']:6.1f}s  {plays}")
        print(f"\nconfigure + join, {len(clouds)} clouds x {args.servers} servers: {total:.1f}s "
              f"(target 180s) -> {'OK' if total <= 180 and not failed else 'MISSED'}")
        if failed:
            return 1
        any_run = next(iter(runs.values()))
        db = any_run.state["database"]
        health = db.health()
        print(f"leader {health.leader}, timeline {health.timeline}, sync standbys {health.sync_standbys}")
        again = run_phase(runs, "configure")
        changed = {c: (d if isinstance(d, Exception) else d["changed"]) for c, (_, d) in again.items()}
        print(f"second configure: {', '.join(f'{c} {t:.1f}s' for c, (t, _) in again.items())}; changed {changed}")
        if args.failover:
            old = health.leader
            t1 = time.monotonic()
            db.kill(old)
            new = None
            while new in (None, old) and time.monotonic() - t1 < 120:
                time.sleep(0.25)
                new = db.health().leader
            print(f"failover: killed {old}, new leader {new} after {time.monotonic() - t1:.1f}s")
            db.restart(old)
            print(f"old leader restarted, cluster healthy after {db.wait_healthy(120):.1f}s")
        print(f"run record: {rd.events_path}")
    finally:
        lab.close()
        print(f"torn down; wall {time.monotonic() - t:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
