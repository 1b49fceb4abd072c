"""Runs over time: one line per run in ``reports/history.jsonl``, and two runs compared.

Each line is the run folded to figures (no free text, nothing from phase details)::

    {"schema": 1, "run_id": "20261118T000000Z-abcd", "challenge": "boston", "stack": "hosts-patroni",
     "started": 1795000000.0, "ended": 1795000420.0,
     "clouds": {"lab1": {"outcome": "passed",
                         "phases": {"identity": {"duration": 0.42, "outcome": "passed"}, ...},
                         "survive": {"unavailability": {"outcome": "passed", "value": 4.2, "unit": "s",
                                                        "threshold": 30}, "cluster.set": {...}}}}}

Appending is idempotent per run: ``interop report RUN`` renders a run again without adding a
line when the line would be the same; if it differs (the record grew), the new line is appended
and readers keep the last line of each run. Writers check and append under one ``flock``, in one
``write()`` on an O_APPEND descriptor, so concurrent runs sharing a reports directory neither
interleave nor duplicate.

>>> a, b = run_entry(history, "r1"), run_entry(history, "r2")      # doctest: +SKIP
>>> print(compare(a, b).text())                                     # doctest: +SKIP
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .model import RunSummary

log = logging.getLogger(__name__)

HISTORY_FILE = "history.jsonl"
HISTORY_SCHEMA = 1
_WORSE = {"passed": 0, "aborted": 1, "failed": 2}  # of two verdicts on one check, the line keeps the worse


def history_entry(summary: RunSummary, run_id: str | None = None) -> dict[str, Any]:
    """The run's line: named figures of the record only, so no secret can reach the history."""
    clouds: dict[str, Any] = {}
    for cloud in summary.clouds:
        phases = {}
        for phase in summary.planned_phases():
            result = summary.result(cloud, phase)
            if result is not None:
                phases[phase] = {"duration": _number(result.duration), "outcome": result.outcome}
        clouds[cloud] = {"outcome": summary.cloud_outcome(cloud), "phases": phases, "survive": _survive(summary, cloud)}
    return {
        "schema": HISTORY_SCHEMA,
        "run_id": summary.run_id or run_id,
        "challenge": challenge_name(summary.info),
        "stack": summary.info.get("stack") if isinstance(summary.info.get("stack"), str) else None,
        "started": summary.started,
        "ended": summary.ended,
        "clouds": clouds,
    }


def challenge_name(info: dict[str, Any]) -> str | None:
    """The challenge file's ``name:`` when run-start carries it, else the file's stem.

    Only the stem: the path may name a home directory, which is not for a shared history.
    """
    if isinstance(info.get("name"), str) and info["name"]:
        return str(info["name"])
    path = info.get("challenge")
    return Path(path).stem if isinstance(path, str) and path else None


def _survive(summary: RunSummary, cloud: str) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for check in summary.checks:
        scope = check.get("scope")
        if check.get("cloud") != cloud or scope not in (cloud, "cluster") or not isinstance(check.get("check"), str):
            continue
        key = f"cluster.{check['check']}" if scope == "cluster" else str(check["check"])
        figure = {"outcome": str(check.get("outcome")), "value": _number(check.get("value")),
                  "unit": str(check.get("unit") or ""), "threshold": _number(check.get("threshold"))}
        old = figures.get(key)
        if old is None or _WORSE.get(str(figure["outcome"]), 1) >= _WORSE.get(str(old["outcome"]), 1):
            figures[key] = figure
    return figures


def _number(value: object) -> float | int | None:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def append_history(path: Path, entry: dict[str, Any]) -> bool:
    """Append ``entry`` unless the run's last line already says the same; True if appended."""
    # insertion order kept: phases stay in pipeline order; equality below is of parsed dicts
    line = (json.dumps(entry, separators=(",", ":")) + "\n").encode()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # the check and the append are one step for every writer
        try:
            with os.fdopen(os.dup(fd), "rb") as f:
                existing = f.read()
            if _latest(_parse(existing)).get(entry["run_id"]) == json.loads(line):
                return False
            if existing and not existing.endswith(b"\n"):
                line = b"\n" + line  # a torn line of a killed writer stays on its own line
            while line:
                line = line[os.write(fd, line):]
            return True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _parse(raw: bytes) -> list[dict[str, Any]]:
    entries = []
    for number, text in enumerate(raw.split(b"\n"), start=1):
        if not text.strip():
            continue
        try:
            entry = json.loads(text)
        except (ValueError, UnicodeDecodeError):
            log.warning("history line %d: unreadable, skipped", number)
            continue
        if isinstance(entry, dict) and isinstance(entry.get("run_id"), str) and isinstance(entry.get("clouds"), dict):
            entries.append(entry)
    return entries


def _latest(entries: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for entry in entries:
        latest[entry["run_id"]] = entry
    return latest


def load_history(path: Path) -> list[dict[str, Any]]:
    """Every run in the history, the last line of each, oldest first (by start, then run id)."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        return []
    runs = list(_latest(_parse(raw)).values())
    return sorted(runs, key=lambda e: (e.get("started") or 0.0, e["run_id"]))


def run_entry(history: list[dict[str, Any]], run_id: str) -> dict[str, Any] | None:
    return next((e for e in history if e["run_id"] == run_id), None)


# ---- comparing two runs ---------------------------------------------------------------------


@dataclass(frozen=True)
class Noise:
    """How much a phase may change and still be "same": ``max(absolute_s, relative * before)``.

    Defaults from the lab's own spread between identical tries: servers went API->ACTIVE in
    5.0-6.6 s over 15 boots, about +-13% of the 5.8 s median (reference/netns-nova), so 15%;
    floating IP to SSH took 0.9-2.2 s over 3 tries (reference/lab-l3), so sub-second phases
    move by a second on their own, hence the 1 s floor. Real clouds are noisier; widen it there.
    """

    relative: float = 0.15
    absolute_s: float = 1.0

    def band(self, before: float) -> float:
        return max(self.absolute_s, self.relative * before)


@dataclass(frozen=True)
class Change:
    cloud: str
    phase: str
    before: dict[str, Any] | None  # {"duration", "outcome"} in run A, None: not in run A
    after: dict[str, Any] | None
    verdict: str  # faster, slower, same, or "n/a" when the two cannot be compared
    note: str = ""

    @property
    def delta(self) -> float | None:
        a, b = (x.get("duration") if x else None for x in (self.before, self.after))
        return b - a if isinstance(a, (int, float)) and isinstance(b, (int, float)) else None


@dataclass
class Comparison:
    run_a: str
    run_b: str
    noise: Noise
    changes: list[Change] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for change in self.changes:
            counts[change.verdict] = counts.get(change.verdict, 0) + 1
        return counts

    def text(self) -> str:
        """A plain table for the terminal."""
        head = (f"compare {self.run_a} -> {self.run_b} (same within {self.noise.relative:.0%}, "
                f"at least {self.noise.absolute_s:g} s)")
        rows = [("cloud", "phase", "A", "B", "change", "verdict")]
        rows += [(c.cloud, c.phase, _cell(c.before), _cell(c.after), change_text(c), c.note or c.verdict)
                 for c in self.changes]
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = [head] + ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows]
        summary = ", ".join(f"{n} {v}" for v, n in sorted(self.counts().items()))
        return "\n".join(lines + [summary or "nothing to compare"]) + "\n"


def _cell(x: dict[str, Any] | None) -> str:
    if x is None:
        return "-"
    duration = x.get("duration")
    shown = f"{duration:.2f} s" if isinstance(duration, (int, float)) else "?"
    return shown if x.get("outcome") == "passed" else f"{shown} {x.get('outcome')}"


def change_text(change: Change) -> str:
    """``+2.50 s (+20%)``; empty when the two runs cannot be compared."""
    delta = change.delta
    if delta is None or change.verdict == "n/a":
        return ""
    before = (change.before or {}).get("duration") or 0.0
    relative = f" ({delta / before:+.0%})" if before else ""
    return f"{delta:+.2f} s{relative}"


def compare(run_a: dict[str, Any], run_b: dict[str, Any], noise: Noise | None = None) -> Comparison:
    """Per cloud per phase, run B against run A: faster, slower, same (within ``noise``) or n/a.

    Only a phase that passed in both runs has comparable time (a failure is fast for the wrong
    reason); otherwise the verdict is n/a and the note says what changed, e.g. "failed -> passed".
    """
    noise = noise or Noise()
    result = Comparison(str(run_a.get("run_id")), str(run_b.get("run_id")), noise)
    clouds_a, clouds_b = run_a.get("clouds") or {}, run_b.get("clouds") or {}
    for cloud in sorted(set(clouds_a) | set(clouds_b)):
        phases_a = (clouds_a.get(cloud) or {}).get("phases") or {}
        phases_b = (clouds_b.get(cloud) or {}).get("phases") or {}
        for phase in [*phases_a, *(p for p in phases_b if p not in phases_a)]:
            result.changes.append(_change(cloud, phase, phases_a.get(phase), phases_b.get(phase), noise))
    return result


def _change(cloud: str, phase: str, a: dict[str, Any] | None, b: dict[str, Any] | None, noise: Noise) -> Change:
    if a is None or b is None:
        return Change(cloud, phase, a, b, "n/a", "only in B" if a is None else "only in A")
    if a.get("outcome") != "passed" or b.get("outcome") != "passed":
        return Change(cloud, phase, a, b, "n/a", f"{a.get('outcome')} -> {b.get('outcome')}")
    da, db = a.get("duration"), b.get("duration")
    if not isinstance(da, (int, float)) or not isinstance(db, (int, float)):
        return Change(cloud, phase, a, b, "n/a", "no duration")
    delta = db - da
    verdict = "same" if abs(delta) <= noise.band(da) else "slower" if delta > 0 else "faster"
    return Change(cloud, phase, a, b, verdict)
