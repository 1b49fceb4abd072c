"""The survive phase's costs. Now: the checkers over a synthetic history of 1,000,000 operations.

--checkers-only (the default; no lab needed): 8 clients' set adds, bank transfers and bank
reads, 3% failed and 2% unknown, a process kill (writes failing for 6 s) and a cloud cut with
observations after its heal, then the final bank and set reads; written with the harness's own
HistoryWriter, with faults.json beside it. Reading it and running every checker (one streamed
pass, harness.survive.checks) is timed in a fresh child process, whose peak RSS (ru_maxrss) is
the memory figure. Targets (issue 11): under 10 s and under 1 GiB. Every verdict must pass:
the synthetic history is correct by construction, so anything else is a checker bug (exit 1).
(The throughput threshold is 0 here: the synthetic kill stops every write, as a lost leader does.)

--live (root; boots a 3-cloud x 2-server hosts-patroni cluster on this host as network
namespaces, like bench_configure.py): the survive workload at each of --rates for --seconds:
writes/s and operations/s achieved (the baseline throughput), and the harness's CPU (this
process: every client thread) next to PostgreSQL's (every postgres process on the host). The
client must not be the bottleneck: harness CPU / database CPU under 1.

usage: python benchmarks/bench_survive.py [--checkers-only | --live] [--operations N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from harness.survive.faults import Faults, FaultWindow, Observation, dump_faults  # noqa: E402
from harness.survive.history import NS, HistoryWriter, OpType, read_history  # noqa: E402

TARGET_S, TARGET_BYTES = 10.0, 1 << 30
CLIENTS, ACCOUNTS, TOTAL = 8, 10, 10_000
STEP_NS = 500_000  # 0.5 ms between two lines: 1,000,000 lines span about 500 s
KILL_AT, KILL_FOR = 0.4, 6 * NS  # a process kill 40% in: writes fail for 6 s
CUT_AT, CUT_FOR = 0.7, 10 * NS  # lab3 cut off 70% in, for 10 s; its node acknowledges nothing meanwhile


class Clock:
    """The writer's clock, moved by the generator: synthetic time, real file."""

    def __init__(self) -> None:
        self.ns = 0

    def __call__(self) -> int:
        return self.ns


def generate(path: Path, operations: int, seed: int = 11) -> Faults:
    """Write ``operations`` lines of history to ``path``; return the faults they went through."""
    rng = random.Random(seed)
    clock = Clock()
    span = operations * STEP_NS
    kill = FaultWindow("lab2 process-kill lab2-1", "process-kill", "lab2", int(span * KILL_AT),
                       int(span * KILL_AT) + KILL_FOR)
    cut = FaultWindow("lab3 cloud-cut", "cloud-cut", "lab3", int(span * CUT_AT), int(span * CUT_AT) + CUT_FOR)
    balances = {f"acct{i}": TOTAL // ACCOUNTS for i in range(ACCOUNTS)}
    present: list[int] = []
    open_ops: dict[int, Any] = {}
    next_value = 0
    with HistoryWriter(path, clock=clock) as history:
        # each step either starts a client's next operation or completes its open one, round robin
        for step in range(operations - 4):  # the last four lines: the final reads
            clock.ns = step * STEP_NS
            process = step % CLIENTS
            op = open_ops.pop(process, None)
            if op is None:
                roll = rng.random()
                if roll < 0.45:
                    open_ops[process] = history.invoke(process, "add", next_value)
                    next_value += 1
                elif roll < 0.9:
                    src, dst = rng.sample(sorted(balances), 2)
                    open_ops[process] = history.invoke(process, "transfer",
                                                       {"from": src, "to": dst, "amount": rng.randint(1, 50)})
                else:
                    open_ops[process] = history.invoke(process, "read")
                continue
            _complete(history, op, rng, clock.ns, kill, cut, balances, present)
        for op in open_ops.values():  # the clients stop: their last operations complete
            _complete(history, op, rng, clock.ns, kill, cut, balances, present)
        clock.ns += NS
        history.complete(history.invoke(100, "read"), "ok", dict(balances), node="lab1-1", cloud="lab1")
        history.complete(history.invoke(101, "read"), "ok", present, node="lab1-1", cloud="lab1")
    after = cut.healed + 5 * NS
    members = [("lab1-1", "leader"), ("lab1-2", "replica"), ("lab2-1", "replica"), ("lab3-1", "replica")]
    return Faults((kill, cut), None, tuple(Observation(after, m, role, 2) for m, role in members))


def _complete(history: HistoryWriter, op: Any, rng: random.Random, now: int, kill: FaultWindow,
              cut: FaultWindow, balances: dict[str, int], present: list[int]) -> None:
    node, cloud = rng.choice([("lab1-1", "lab1"), ("lab2-1", "lab2"), ("lab3-1", "lab3")])
    roll = rng.random()
    outcome: OpType = "ok" if roll < 0.95 else "fail" if roll < 0.98 else "info"
    if kill.start <= now < kill.healed:
        outcome = "fail" if roll < 0.7 else "info"  # the leader is gone: nothing is acknowledged
    elif cut.start <= now < cut.healed and cloud == "lab3":
        node, cloud = "lab1-1", "lab1"  # clients reach the majority side only
    if op.f == "read":
        value = dict(balances) if outcome == "ok" else None
        history.complete(op, outcome, value, node=node, cloud=cloud)
        return
    if op.f == "add" and (outcome == "ok" or (outcome == "info" and rng.random() < 0.5)):
        present.append(op.value)
    if op.f == "transfer":
        t = op.value
        if balances[t["from"]] < t["amount"] and outcome == "ok":
            outcome = "fail"  # insufficient funds: the transaction rolls back
        if outcome == "ok" or (outcome == "info" and rng.random() < 0.5 and balances[t["from"]] >= t["amount"]):
            balances[t["from"]] -= t["amount"]
            balances[t["to"]] += t["amount"]
    history.complete(op, outcome, node=node, cloud=cloud)


def child(history: Path, faults: Path) -> None:
    """Read + every checker, in this fresh process; print the figures as JSON."""
    from harness.survive.checks import Thresholds, check_history
    from harness.survive.faults import load_faults

    t0 = time.perf_counter()
    report = check_history(history, load_faults(faults),
                           Thresholds(max_lost_writes=0, max_unavailable_s=30, min_throughput_ratio=0.0,
                                      bank_total=TOTAL))
    elapsed = time.perf_counter() - t0
    print(json.dumps({"seconds": elapsed, "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                      "operations": report.operations,
                      "verdicts": [[s.cloud, s.verdict.check, s.verdict.outcome, s.verdict.figure(), s.verdict.reason]
                                   for s in report.verdicts]}))


def checkers_only(operations: int, keep: Path | None) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        where = keep or Path(tmp)
        where.mkdir(parents=True, exist_ok=True)
        history, faults_file = where / "history.jsonl", where / "faults.json"
        history.unlink(missing_ok=True)
        t0 = time.perf_counter()
        faults = generate(history, operations)
        dump_faults(faults, faults_file)
        written = time.perf_counter() - t0
        out = subprocess.run([sys.executable, __file__, "--child", str(history), str(faults_file)],
                             capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            sys.exit(f"the checkers failed ({out.returncode}):\n{out.stderr[-3000:]}")
        figures = json.loads(out.stdout)
        size = history.stat().st_size
    print(f"checkers over a synthetic history: {operations:,} lines ({figures['operations']:,} operations, "
          f"{size / 2**20:.0f} MiB, {CLIENTS} clients, a process kill and a cloud cut)")
    print(f"  written by HistoryWriter    {written:6.2f} s   (not a target)")
    ok_time = figures["seconds"] < TARGET_S
    ok_mem = figures["maxrss"] < TARGET_BYTES
    print(f"  read + every checker        {figures['seconds']:6.2f} s   target < {TARGET_S:.0f} s    "
          f"{'OK' if ok_time else 'MISSED'}")
    print(f"  peak RSS of that process    {figures['maxrss'] / 2**20:6.0f} MiB target < 1 GiB   "
          f"{'OK' if ok_mem else 'MISSED'}")
    bad = [v for v in figures["verdicts"] if v[2] != "passed"]
    for cloud, check, outcome, figure, reason in figures["verdicts"]:
        print(f"  {check:16s} {cloud or '-':5s} {outcome:7s} {figure}: {reason}")
    if bad:
        print(f"{len(bad)} verdicts did not pass on a correct history: a checker is wrong", file=sys.stderr)
        return 1
    return 0


def _postgres_cpu() -> float:
    """CPU seconds (user + system) of every postgres process on this host: the lab's servers are
    network namespaces on it, so their databases are host processes."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        if name == "postgres":
            fields = text[text.rindex(")") + 2:].split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def live(rates: list[float], seconds: float, clients: int) -> int:
    """A 3-cloud x 2-server hosts-patroni cluster on this host (tests/stacks' VM clouds, as
    bench_configure.py), then the survive workload at each rate: writes/s achieved, and the
    harness's CPU (this process, every client thread) next to the database's."""
    sys.path[:0] = [str(ROOT / "tests" / "stacks"), str(ROOT / "tests")]
    from pipelines import cloud_run
    from vm_clouds import VmClouds

    from harness.challenge import Challenge
    from harness.record import RunDir, new_run_id
    from harness.stacks.hosts_patroni.names import PINS_FILE
    from harness.survive.checks import Thresholds, check_history
    from harness.survive.workload import Limits, Workload, bank_total, prepare
    from interop_lab.image import ensure_image, load_image

    ensure_image(load_image([PINS_FILE]))
    base = Path(tempfile.mkdtemp(prefix="bench-survive-"))
    key = base / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    clouds = {f"bench{i}": 2 for i in range(1, 4)}
    lab = VmClouds(base / "vms", key, ext_octet=33, tenant_base=20)
    try:
        facts = lab.boot(clouds)
        rd = RunDir(base / "reports", new_run_id()).create()
        rd.append("run-start", run_id=rd.run_id, clouds=list(clouds))
        challenge = Challenge.model_validate({"clouds": {c: {} for c in clouds}})
        runs = {c: cloud_run(challenge, c, rd.path) for c in clouds}
        for c, run in runs.items():
            run.facts.update(servers=facts[c], ssh_key=str(key))
        for phase in ("configure", "deploy"):
            errors: dict[str, BaseException] = {}

            def one(cloud: str, phase: str = phase, errors: dict[str, BaseException] = errors) -> None:
                try:
                    runs[cloud].run_phase(phase)
                except BaseException as exc:
                    errors[cloud] = exc

            threads = [threading.Thread(target=one, args=(c,)) for c in clouds]
            for t in threads:
                t.start()
            for t in threads:
                t.join(900)
            if errors:
                print(f"{phase} failed: {errors}")
                return 1
        db = runs["bench1"].state["database"]
        prepare(db.dsn())
        print("\n" + " ".join(f"{h:>{w}}" for h, w in (("rate asked", 10), ("writes/s", 9), ("ops/s", 7),
                                                     ("harness CPU", 12), ("postgres CPU", 13), ("ratio", 6))))
        worst = 0.0
        for i, rate in enumerate(rates):
            path = base / f"history-{i}.jsonl"
            with HistoryWriter(path) as history:
                own, pg = _own_cpu(), _postgres_cpu()
                workload = Workload(db.dsn(), history, cloud="bench1", prefix=f"bench-{i}-",
                                    limits=Limits(clients=clients, rate=rate, max_seconds=seconds + 5)).start()
                time.sleep(seconds)
                workload.stop(30)
                own, pg = _own_cpu() - own, _postgres_cpu() - pg
                workload.final_reads()
            report = check_history(path, None, Thresholds(0, 30, 0.0, bank_total=bank_total()))
            writes = sum(1 for op in read_history(path) if op.type == "ok" and op.f in ("add", "transfer"))
            ops = sum(1 for op in read_history(path) if op.type != "invoke")
            ratio = own / pg if pg else float("inf")
            worst = max(worst, ratio)
            print(f"{rate:10.0f} {writes / seconds:9.1f} {ops / seconds:7.1f} {own:11.2f}s {pg:12.2f}s {ratio:6.2f}"
                  f"  checks: {', '.join(f'{s.verdict.check} {s.verdict.outcome}' for s in report.verdicts)}")
        print(f"\nharness CPU / database CPU, worst: {worst:.2f} (the client must not be the bottleneck: "
              f"target < 1) -> {'OK' if worst < 1 else 'MISSED'}")
        return 0
    finally:
        lab.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkers-only", action="store_true", help="only the checkers on a synthetic history")
    parser.add_argument("--live", action="store_true",
                        help="also the workload against a 3-cloud cluster on this host (root; about 3 minutes)")
    parser.add_argument("--rates", default="40,200,1000", help="workload rates to try, ops/s (default 40,200,1000)")
    parser.add_argument("--seconds", type=float, default=20.0, help="per rate (default 20)")
    parser.add_argument("--clients", type=int, default=4, help="client threads (default 4)")
    parser.add_argument("--operations", type=int, default=1_000_000, help="history lines (default 1,000,000)")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="write the history here and keep it")
    parser.add_argument("--child", nargs=2, metavar=("HISTORY", "FAULTS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), Path(args.child[1]))
        return
    rc = checkers_only(args.operations, args.keep)
    if args.live and not args.checkers_only:
        rc = max(rc, live([float(r) for r in args.rates.split(",")], args.seconds, args.clients))
    sys.exit(rc)


if __name__ == "__main__":
    main()
