"""A synthetic run directory shaped like a real one: the record, the survive files, artifacts.

Events follow what the harness writes: phase-start/phase-end per phase, nothing for the phases a
cloud skips after a failure (the engine raises before the timer) but teardown (it always runs),
``ansible-play`` and ``fault`` notes, ``check`` events, details with the fields the phases record
(and a secret in each, which no report may show). Used by the report tests and the benchmark.

>>> run = build_run(tmp_path / "r1", clouds=["lab1", "lab2"], fail={"lab2": ("identity", "401")})  # doctest: +SKIP
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

T0 = 1_795_000_000.0  # 2026-11-18
SECRET = "hunter2-synthetic-secret"
PHASES = ("identity", "keypair", "network", "security-groups", "servers", "floating-ips", "ssh-ready",
          "configure", "deploy", "survive", "teardown")
FAULT_STEPS = (("inject", 0.4), ("effect", 2.0), ("hold", 15.0), ("recover", 1.5), ("recovered", 6.0))


def _details(cloud: str, phase: str, i: int) -> dict[str, Any]:
    details: dict[str, Any] = {"token": SECRET}
    if phase == "security-groups":
        details.update(id=f"sg-{i}", name=f"interop-{cloud}-sg", harness=["172.24.4.1/32"], harness_from="gateway",
                       rules=["ingress tcp 22 from 172.24.4.1/32 (ssh)", "ingress tcp 5432 from group 1a2b3c4d"],
                       audit="no rule open to the world")
    elif phase == "floating-ips":
        details.update(peers_waited_s=4.0 + i % 3, peer_rules=6, peers={"lab1": 2})
    elif phase == "configure":
        details.update(plays=[{"name": "Check the hosts", "seconds": 2.98}], changed=6)
    elif phase == "deploy":
        details.update(peers_waited_s=2.5, join_s=19.13, cluster_ready_s=20.5, leader=f"{cloud}-server-0",
                       sync_standbys=[f"{cloud}-server-1", f"{cloud}-server-2"],
                       dsn=f"postgresql://app:{SECRET}@x/db")
    return details


def _samples(seconds: int, fault_at: int, rng: random.Random) -> list[dict[str, Any]]:
    out = []
    for s in range(seconds):
        down = fault_at <= s < fault_at + 6
        ok = 0 if down else 38 + rng.randint(0, 4)
        out.append({"second": s, "ok": ok, "fail": 3 if down else 0, "info": 1 if down else 0,
                    "p50_s": 0.01, "p99_s": 0.05, "max_s": 0.2})
    return out


def build_run(run_dir: Path, *, clouds: Sequence[str] = ("lab1", "lab2", "lab3"), phases: Sequence[str] = PHASES,
              fail: dict[str, tuple[str, str]] | None = None, samples_s: int = 60, name: str | None = "Synthetic challenge",
              stack: str | None = None, ended: bool = True, seed: int = 7) -> Path:
    """Write ``run_dir/events.jsonl`` (and survive files, artifacts) for a run of ``clouds`` x ``phases``.

    ``fail`` maps a cloud to ``(phase, reason)``: that phase fails, the later ones are not recorded
    (teardown still runs). Phases take turns at ``survive`` (each cloud waits for the earlier ones).
    """
    fail = fail or {}
    rng = random.Random(seed)
    run_id = run_dir.name
    events: list[dict[str, Any]] = [{"type": "run-start", "ts": T0, "schema": 1, "run_id": run_id, "clouds": list(clouds),
                                     "challenge": "/etc/interop/challenge.yaml",
                                     **({"name": name} if name else {}), **({"stack": stack} if stack else {})}]
    end_of_run = T0
    turn_end = T0
    for i, cloud in enumerate(clouds):
        t = T0 + 0.5 + i * 0.01
        failed_at = None
        for phase in phases:
            if failed_at is not None and phase != "teardown":
                continue
            duration = round(1.0 + rng.random() * 20 + (i % 5), 3)
            details = _details(cloud, phase, i)
            if phase == "survive":  # turns: wait for the clouds before, then the faults
                wait = max(0.0, turn_end - t)
                details.update(turn=i + 1, waited_for_turn_s=round(wait, 2), skipped={"split-brain": "no cloud-cut fault"})
                duration = wait + samples_s
                history_t0 = t + wait
                _survive(run_dir, events, cloud, history_t0, samples_s, rng)
                turn_end = t + duration
            events.append({"type": "phase-start", "ts": t, "cloud": cloud, "phase": phase, "start": t})
            outcome, error = "passed", None
            if fail.get(cloud, ("", ""))[0] == phase:
                outcome, error, failed_at = "failed", fail[cloud][1], phase
            events.append({"type": "phase-end", "ts": t + duration, "cloud": cloud, "phase": phase, "start": t,
                           "end": t + duration, "duration": duration, "outcome": outcome, "error": error,
                           "error_type": "CloudError" if error else None, "details": details})
            if phase == "configure":
                events.append({"type": "note", "ts": t + 3, "note": "ansible-play", "cloud": cloud, "phase": phase,
                               "label": "configure", "play": "Check the hosts", "start": t, "end": t + 2.98,
                               "duration": 2.98})
            t += duration
        end_of_run = max(end_of_run, t)
        artifacts = run_dir / "artifacts" / cloud / "ansible-configure"
        artifacts.mkdir(parents=True, exist_ok=True)
        (artifacts / "stdout.txt").write_text("PLAY [Check the hosts]\n")
    if ended:
        events.append({"type": "run-end", "ts": end_of_run + 1, "run_id": run_id, "exitstatus": 1 if fail else 0})
    events.sort(key=lambda e: e["ts"])
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "events.jsonl").write_text("".join(json.dumps(e, separators=(",", ":")) + "\n" for e in events))
    return run_dir


def _survive(run_dir: Path, events: list[dict[str, Any]], cloud: str, t0: float, seconds: int,
             rng: random.Random) -> None:
    """The survive phase's files and events for one cloud's turn, starting at epoch ``t0``."""
    fault_at = min(20, seconds // 3)
    where = run_dir / "survive" / cloud
    where.mkdir(parents=True, exist_ok=True)
    (where / "samples.json").write_text(json.dumps(_samples(seconds, fault_at, rng)) + "\n")
    at = t0 + fault_at
    inject_end = healed = 0.0
    for step, took in FAULT_STEPS:
        extra: dict[str, Any] = {"rejoin_s": took} if step == "recovered" else {}
        if step == "effect":
            extra["down_after_s"] = took
        events.append({"type": "note", "ts": at + took, "note": "fault", "cloud": cloud, "phase": "survive",
                       "fault": "process-kill", "target": f"{cloud}-server-0", "step": step, "start": at,
                       "end": at + took, **extra})
        if step == "inject":
            inject_end = at + took - t0
        if step == "recover":
            healed = at - t0
        at += took
    (where / "faults.json").write_text(json.dumps({"version": 1, "baseline": {"start_s": 0, "end_s": 8}, "faults": [
        {"name": f"{cloud} process-kill {cloud}-server-0", "kind": "process-kill", "cloud": cloud,
         "start_s": inject_end, "healed_s": healed}]}) + "\n")
    checks = [("unavailability", 6.0, "s", 30, "longest write gap 6 s"),
              ("throughput-ratio", 0.62, "ratio", 0.5, "ok writes/s during the fault over the baseline"),
              ("recovery-time", 4.0, "s", None, "4 s from the heal to throughput back"),
              ("set", 0, "writes", 0, "no acknowledged add lost"), ("bank", 0, "", 0, "total unchanged")]
    for check, value, unit, threshold, reason in checks:
        details: dict[str, Any] = {"unknown": 2, "lost": {"count": 0, "first": []}} if check == "set" else {}
        events.append({"type": "check", "ts": t0 + seconds, "cloud": cloud, "phase": "survive",
                       "scope": "cluster" if check in ("set", "bank") else cloud, "check": check, "outcome": "passed",
                       "value": value, "unit": unit, "threshold": threshold, "reason": reason,
                       "details": {**details, "password": SECRET}})
