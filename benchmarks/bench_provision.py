"""Provision + teardown of 3 servers on one lab cloud: the harness against a plain openstacksdk
script making the same calls (benchmarks/plain_provision.py), interleaved, in one run.

The harness side runs the real phases through CloudRun (keypair, network, security-groups,
servers, floating-ips, teardown): phase timer and run record, resource ledger, retry wrapper,
rendezvous. Both sides open a fresh Connection per round (authentication included) and count
every HTTP request their session sends. Target (issue 5): harness / plain <= 1.1.

    eval "$(interop lab env)"; python benchmarks/bench_provision.py [--rounds N] [--cloud lab1] [--nodes 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.challenge import Challenge  # noqa: E402
from harness.clouds import CloudsConfig  # noqa: E402
from harness.engine import CloudRun  # noqa: E402
from harness.provision.keypair import run_key  # noqa: E402
from harness.provision.naming import Names  # noqa: E402
from harness.provision.pipeline import pipeline_for  # noqa: E402
from harness.provision.security_groups import harness_cidrs  # noqa: E402
from harness.record import new_run_id  # noqa: E402
from harness.stacks import load_stack  # noqa: E402

PHASES = ("keypair", "network", "security-groups", "servers", "floating-ips", "teardown")


def count_requests(conn: Any) -> list[int]:
    counter = [0]

    def hook(response: Any, *args: Any, **kwargs: Any) -> None:
        counter[0] += 1

    conn.session.session.hooks["response"].append(hook)
    return counter


def harness_round(config: CloudsConfig, challenge: Challenge, cloud: str, reports: Path) -> tuple[float, int]:
    run_dir = reports / new_run_id()
    run_dir.mkdir(parents=True)
    run = CloudRun(cloud=cloud, challenge=challenge, clouds=config, run_dir=run_dir,
                   pipeline=pipeline_for(load_stack(challenge.stack)))
    t0 = time.perf_counter()
    conn = run.connection()
    counter = count_requests(conn)
    try:
        for phase in PHASES:
            run.run_phase(phase)
    finally:
        elapsed = time.perf_counter() - t0
        run.close()
    return elapsed, counter[0]


def plain_round(config: CloudsConfig, cloud: str, settings: Any, public_key: str,
                harness_cidr: str) -> tuple[float, int]:
    from plain_provision import provision_and_teardown

    t0 = time.perf_counter()
    conn = config.connect(cloud)
    counter = count_requests(conn)
    try:
        provision_and_teardown(conn, Names.for_run(new_run_id(), cloud).prefix, nodes=settings.nodes,
                               image=settings.image, flavor=settings.flavor, public_key=public_key,
                               cidr="10.240.0.0/24", harness_cidr=harness_cidr)
    finally:
        elapsed = time.perf_counter() - t0
        conn.close()
    return elapsed, counter[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cloud", default="lab1")
    parser.add_argument("--nodes", type=int, default=3)
    args = parser.parse_args()
    if "OS_CLIENT_CONFIG_FILE" not in os.environ or "INTEROP_CHALLENGE" not in os.environ:
        sys.exit('set up the lab first: interop lab up; eval "$(interop lab env)"')
    base = yaml.safe_load(Path(os.environ["INTEROP_CHALLENGE"]).read_text())
    challenge = Challenge.model_validate({"stack": "hosts-patroni", "clouds": {args.cloud: {}},
                                          "defaults": {**base.get("defaults", {}), "nodes": args.nodes}})
    settings = challenge.settings_for(args.cloud)
    config = CloudsConfig.load()
    with tempfile.TemporaryDirectory() as tmp:
        reports = Path(tmp, "reports")
        public_key = run_key(Path(tmp, "key")).public_key
        harness_cidr = harness_cidrs("172.24.4.1")[0][0]
        results: dict[str, list[tuple[float, int]]] = {"harness": [], "plain sdk": []}
        for r in range(args.rounds):  # interleaved, so drift hits both sides alike
            results["harness"].append(harness_round(config, challenge, args.cloud, reports))
            results["plain sdk"].append(plain_round(config, args.cloud, settings, public_key, harness_cidr))
            print(f"round {r + 1}/{args.rounds}: " + ", ".join(
                f"{name} {res[-1][0]:.2f}s / {res[-1][1]} requests" for name, res in results.items()), flush=True)
    med = {name: statistics.median(t for t, _ in res) for name, res in results.items()}
    reqs = {name: statistics.median(n for _, n in res) for name, res in results.items()}
    print(f"\nprovision + teardown of {args.nodes} servers on {args.cloud}, median of {args.rounds} rounds:")
    for name in results:
        times = [t for t, _ in results[name]]
        print(f"  {name:10s} {med[name]:6.2f} s (min {min(times):.2f}, max {max(times):.2f})   "
              f"{reqs[name]:.0f} API requests = {reqs[name] / args.nodes:.1f} per server")
    ratio = med["harness"] / med["plain sdk"]
    print(f"\nharness / plain sdk = {ratio:.2f}x  (target <= 1.1x) {'OK' if ratio <= 1.1 else 'MISSED'}")


if __name__ == "__main__":
    main()
