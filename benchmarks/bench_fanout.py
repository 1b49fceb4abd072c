"""Fan-out cost: `interop run` (identity phase) over 1 and over 6 lab clouds, against a plain
openstacksdk script doing the same calls with 6 threads, measured side by side in one run.

Targets (issue 3): harness over 6 clouds <= 1.5x the plain script over 6, and <= 2x the
harness over 1 cloud. Needs a lab with 6 clouds:  interop lab up --clouds 6; eval "$(interop lab env)"

usage: python benchmarks/bench_fanout.py [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CLOUDS = [f"lab{i}" for i in range(1, 7)]


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"benchmark command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout[-3000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if "OS_CLIENT_CONFIG_FILE" not in os.environ:
        sys.exit('set up the lab first: interop lab up --clouds 6; eval "$(interop lab env)"')
    env = dict(os.environ)
    interop = str(Path(sys.executable).with_name("interop"))
    with tempfile.TemporaryDirectory() as tmp:
        one, six = Path(tmp, "one.yaml"), Path(tmp, "six.yaml")
        one.write_text("clouds: {lab1: {}}\n")
        six.write_text("clouds: {" + ", ".join(f"{c}: {{}}" for c in CLOUDS) + "}\n")
        reports = str(Path(tmp, "reports"))
        cases = {
            "harness, 1 cloud": [interop, "run", "--challenge", str(one), "--reports-dir", reports,
                                 "--", "-k", "identity"],
            "harness, 6 clouds": [interop, "run", "--challenge", str(six), "--reports-dir", reports,
                                  "--", "-k", "identity"],
            "plain sdk, 6 threads": [sys.executable, str(HERE / "plain_identity.py"), *CLOUDS],
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        timed(cases["plain sdk, 6 threads"], env)  # warm the page cache for both sides alike
        for r in range(args.rounds):
            for name, cmd in cases.items():  # interleaved, so drift hits every case alike
                times[name].append(timed(cmd, env))
            laps = ", ".join(f"{n} {t[-1]:.2f}s" for n, t in times.items())
            print(f"round {r + 1}/{args.rounds}: {laps}", flush=True)
    med = {name: statistics.median(t) for name, t in times.items()}
    print("\nmedian wall time (process start to exit, identity phase):")
    for name, value in med.items():
        print(f"  {name:22s} {value:6.2f} s   (min {min(times[name]):.2f}, max {max(times[name]):.2f})")
    r_plain = med["harness, 6 clouds"] / med["plain sdk, 6 threads"]
    r_one = med["harness, 6 clouds"] / med["harness, 1 cloud"]
    print(f"\nharness 6 clouds / plain sdk 6 threads = {r_plain:.2f}x  (target <= 1.5x) "
          f"{'OK' if r_plain <= 1.5 else 'MISSED'}")
    print(f"harness 6 clouds / harness 1 cloud     = {r_one:.2f}x  (target <= 2.0x) "
          f"{'OK' if r_one <= 2.0 else 'MISSED'}")


if __name__ == "__main__":
    main()
