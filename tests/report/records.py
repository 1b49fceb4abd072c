"""Synthetic run records for report tests: the events a run would write, without running one::

    rec = Record("r1", ["lab1", "lab2"], stack="hosts-patroni")
    rec.phase("lab1", "identity", 0.4, details={"cpid": "ks-1"}).phase("lab2", "identity", 1.0, "failed", "401")
    rec.check("lab1", "unavailability", "passed", 4.2, "s", 30).end()
    rec.write(tmp_path / "r1")     # -> tmp_path/r1/events.jsonl
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.record import SCHEMA_VERSION, append_event

T0 = 1_795_000_000.0  # 2026-11-18, a fixed epoch so outputs are deterministic


class Record:
    """Builds a record: each cloud's phases follow one another on that cloud's own clock."""

    def __init__(self, run_id: str, clouds: list[str], *, stack: str = "hosts-patroni", t0: float = T0,
                 **run_start: Any) -> None:
        self.run_id, self.t0 = run_id, t0
        self.clock = dict.fromkeys(clouds, t0 + 1.0)
        self.events: list[dict[str, Any]] = [
            {"type": "run-start", "ts": t0, "schema": SCHEMA_VERSION, "run_id": run_id, "stack": stack,
             "clouds": clouds, "challenge": "challenge.yaml", **run_start}]

    def phase(self, cloud: str, phase: str, duration: float, outcome: str = "passed", error: str | None = None,
              *, details: dict[str, Any] | None = None, start: float | None = None) -> Record:
        start = self.clock.get(cloud, self.t0 + 1.0) if start is None else start
        end = start + duration
        self.clock[cloud] = end
        base = {"cloud": cloud, "phase": phase, "start": start, "worker": "gw0", "pid": 1}
        self.events.append({"type": "phase-start", "ts": start, **base})
        self.events.append({"type": "phase-end", "ts": end, **base, "end": end, "duration": duration,
                            "outcome": outcome, "error": error, "error_type": None, "details": details or {}})
        return self

    def started(self, cloud: str, phase: str) -> Record:
        """A phase-start with no phase-end: the worker died (or still runs)."""
        start = self.clock.get(cloud, self.t0 + 1.0)
        self.events.append({"type": "phase-start", "ts": start, "cloud": cloud, "phase": phase, "start": start})
        return self

    def check(self, cloud: str, check: str, outcome: str, value: float | int | None, unit: str,
              threshold: float | int | None, *, scope: str | None = None, reason: str = "",
              details: dict[str, Any] | None = None) -> Record:
        self.events.append({"type": "check", "ts": self.clock.get(cloud, self.t0), "cloud": cloud,
                            "phase": "survive", "scope": scope or cloud, "check": check, "outcome": outcome,
                            "value": value, "unit": unit, "threshold": threshold, "reason": reason,
                            "details": details or {}})
        return self

    def note(self, cloud: str, phase: str, note: str, **fields: Any) -> Record:
        self.events.append({"type": "note", "ts": self.clock.get(cloud, self.t0), "note": note, "cloud": cloud,
                            "phase": phase, **fields})
        return self

    def end(self, exitstatus: int = 0) -> Record:
        last = max(self.clock.values(), default=self.t0)
        self.events.append({"type": "run-end", "ts": last + 1.0, "run_id": self.run_id, "exitstatus": exitstatus})
        return self

    def write(self, run_dir: Path) -> Path:
        """Append the events to ``run_dir/events.jsonl``; returns ``run_dir``."""
        for event in self.events:
            append_event(run_dir / "events.jsonl", event)
        return run_dir


def passing_cloud(rec: Record, cloud: str, phases: list[tuple[str, float]], *, cpid: str = "ks-identity-id") -> Record:
    """Every phase of ``cloud`` passed; identity notes the cpid as the identity phase does."""
    for phase, duration in phases:
        details = {"cpid": cpid, "auth_url": "https://keystone.example.org:5000/v3"} if phase == "identity" else {}
        rec.phase(cloud, phase, duration, details=details)
    return rec
