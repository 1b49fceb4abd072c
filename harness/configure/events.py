"""ansible-runner events -> plays with their wall time, slowest tasks, changes and failures.

A pure function of the recorded events (``artifacts/<ident>/job_events/*.json`` or what the
runner's event handler saw), so it is tested on recorded runs:

>>> s = summarize(events)                             # doctest: +SKIP
>>> [(p.name, round(p.duration, 1)) for p in s.plays]  # doctest: +SKIP
[('Check the hosts', 2.1), ('Install the stack's packages where missing', 1.4)]
>>> s.failures[0].describe()                          # doctest: +SKIP
"host db-c1-2 (172.29.31.12): unreachable in task 'Gathering Facts': Failed to connect ..."
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

HOST_EVENTS = {"runner_on_ok": "ok", "runner_on_failed": "failed", "runner_on_skipped": "skipped",
               "runner_on_unreachable": "unreachable"}
STAT_KEYS = ("ok", "changed", "failures", "dark", "skipped", "rescued", "ignored")


@dataclass
class PlayTiming:
    name: str
    start: float
    end: float

    @property
    def duration(self) -> float:
        return max(0.0, self.end - self.start)


@dataclass
class TaskTiming:
    task: str
    play: str
    host: str
    seconds: float
    status: str
    changed: bool = False


@dataclass
class HostFailure:
    host: str
    address: str | None
    task: str
    message: str
    unreachable: bool = False

    def describe(self) -> str:
        where = f"host {self.host}" + (f" ({self.address})" if self.address and self.address != self.host else "")
        what = "unreachable" if self.unreachable else "failed"
        return f"{where}: {what} in task '{self.task}': {self.message}"


@dataclass
class PlaybookSummary:
    plays: list[PlayTiming] = field(default_factory=list)
    tasks: list[TaskTiming] = field(default_factory=list)
    failures: list[HostFailure] = field(default_factory=list)
    stats: dict[str, dict[str, int]] = field(default_factory=dict)  # host -> ok/changed/failures/...

    @property
    def changed(self) -> int:
        return sum(s.get("changed", 0) for s in self.stats.values())

    def changed_tasks(self) -> list[str]:
        return [f"{t.host}: {t.task}" for t in self.tasks if t.changed]

    def slowest(self, n: int = 5) -> list[dict[str, Any]]:
        """The ``n`` slowest tasks, each with its slowest host's time."""
        worst: dict[tuple[str, str], TaskTiming] = {}
        for t in self.tasks:
            key = (t.play, t.task)
            if key not in worst or t.seconds > worst[key].seconds:
                worst[key] = t
        ranked = sorted(worst.values(), key=lambda t: t.seconds, reverse=True)[:n]
        return [{"task": t.task, "play": t.play, "host": t.host, "seconds": round(t.seconds, 2)} for t in ranked]

    def as_details(self, top: int = 5) -> dict[str, Any]:
        return {
            "plays": [{"name": p.name, "seconds": round(p.duration, 2)} for p in self.plays],
            "slowest_tasks": self.slowest(top),
            "changed": self.changed,
            "changed_tasks": self.changed_tasks(),
            "hosts": self.stats,
            "failures": [asdict(f) for f in self.failures],
        }


def parse_time(value: Any) -> float | None:
    """An ansible-runner ``created``/``start`` timestamp (ISO, UTC if naive) as epoch seconds."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def summarize(events: Iterable[dict[str, Any]]) -> PlaybookSummary:
    """Plays (wall time: play start -> next play start or the stats event), per-host task
    times, failures (ignored errors excluded) and the final per-host stats."""
    ordered = sorted(events, key=lambda e: e.get("counter", 0))
    summary = PlaybookSummary()
    current: PlayTiming | None = None
    for event in ordered:
        kind = event.get("event")
        data = event.get("event_data") or {}
        at = parse_time(event.get("created"))
        if kind in ("playbook_on_play_start", "playbook_on_stats") and at is not None:
            if current is not None:
                current.end = at
            current = None
            if kind == "playbook_on_play_start":
                current = PlayTiming(str(data.get("play", "")), at, at)
                summary.plays.append(current)
        if kind in HOST_EVENTS:
            summary.tasks.append(_task(data, HOST_EVENTS[kind]))
            if kind == "runner_on_failed" and not data.get("ignore_errors"):
                summary.failures.append(_failure(data, unreachable=False))
            elif kind == "runner_on_unreachable":
                summary.failures.append(_failure(data, unreachable=True))
        if kind == "playbook_on_stats":
            summary.stats = _stats(data)
    if current is not None and ordered:
        last = parse_time(ordered[-1].get("created"))
        if last is not None:
            current.end = max(current.end, last)
    return summary


def _task(data: dict[str, Any], status: str) -> TaskTiming:
    seconds = data.get("duration")
    if not isinstance(seconds, (int, float)):
        start, end = parse_time(data.get("start")), parse_time(data.get("end"))
        seconds = (end - start) if start is not None and end is not None else 0.0
    res = data.get("res") or {}
    return TaskTiming(task=str(data.get("task", "")), play=str(data.get("play", "")), host=str(data.get("host", "")),
                      seconds=float(seconds), status=status, changed=bool(res.get("changed")) and status == "ok")


def _failure(data: dict[str, Any], *, unreachable: bool) -> HostFailure:
    res = data.get("res") or {}
    return HostFailure(host=str(data.get("host", "")), address=data.get("remote_addr"), task=str(data.get("task", "")),
                       message=failure_message(res), unreachable=unreachable)


def failure_message(res: dict[str, Any], limit: int = 400) -> str:
    """The useful part of a failed task's result: its message, else stderr/stdout tails."""
    items = [r for r in res.get("results") or [] if isinstance(r, dict) and r.get("failed")]
    if items:  # a loop: the first failed item says why
        item = items[0]
        return f"item {item.get('item')!r}: {failure_message(item, limit)}"
    parts = []
    msg = res.get("msg")
    if msg and msg != "non-zero return code":
        parts.append(str(msg).strip())
    for key in ("stderr", "stdout", "module_stderr", "module_stdout"):
        text = str(res.get(key) or "").strip()
        if text and text not in parts:
            parts.append(" | ".join(text.splitlines()[-3:]))
            break
    cmd = res.get("cmd")
    if isinstance(res.get("rc"), int) and res["rc"] != 0:
        command = " ".join(cmd) if isinstance(cmd, list) else str(cmd or "")
        parts.append(f"rc {res['rc']}" + (f" from {command}" if command else ""))
    text = "; ".join(parts) or "no message"
    # ssh's banners ("@@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @") in one line
    text = " ".join(w for w in text.split() if w.strip("@"))
    return text if len(text) <= limit else text[:limit] + "..."


def _stats(data: dict[str, Any]) -> dict[str, dict[str, int]]:
    hosts: dict[str, dict[str, int]] = {}
    for key in STAT_KEYS:
        for host, count in (data.get(key) or {}).items():
            hosts.setdefault(host, {k: 0 for k in STAT_KEYS})[key] = int(count)
    return dict(sorted(hosts.items()))
