"""When the faults happened: ``survive/faults.json`` beside the history, read by the checkers.

The format (version 1); times are seconds on the history's clock (``HistoryWriter.now()``
divided by 1e9, 0 = the history's start), so they compare with its operations directly::

    {
      "version": 1,
      "baseline": {"start_s": 2.0, "end_s": 30.0},
      "faults": [
        {"name": "lab2 process-kill lab2-1", "kind": "process-kill", "cloud": "lab2",
         "start_s": 31.5, "healed_s": 46.0},
        {"name": "lab3 cut", "kind": "cloud-cut", "cloud": "lab3", "start_s": 80.0, "healed_s": 110.0}
      ],
      "observations": [
        {"time_s": 125.0, "member": "lab1-1", "role": "leader", "timeline": 3},
        {"time_s": 125.0, "member": "lab3-1", "role": "replica", "timeline": 3}
      ]
    }

- ``faults``: one window per fault, from injection (``start_s``) to the moment recovery was
  started (``healed_s``: process restarted, server started, link back). ``cloud`` is the cloud
  whose nodes were targeted (a cloud's verdicts cover its faults); ``kind`` names the injector;
  ``name`` is unique and what the verdicts call the window. Other keys of a fault (its
  target, its steps' times) are left for the record and ignored here.
- ``baseline`` (optional): the steady window throughput is compared with; left out, it runs
  from the history's first operation to the first fault.
- ``observations`` (optional): members' role and timeline as seen after heals (e.g. Patroni's
  ``/cluster``), for the split-brain check of each ``cloud-cut`` fault.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from ..errors import ConfigError
from .history import NS

FAULTS_FILE = "faults.json"
FORMAT_VERSION = 1
CUT_KIND = "cloud-cut"

_Fail = Callable[[str, str], ConfigError]


class Window(NamedTuple):
    """``[start, end)`` in nanoseconds on the history's clock."""

    start: int
    end: int

    @property
    def seconds(self) -> float:
        return (self.end - self.start) / NS


class FaultWindow(NamedTuple):
    """One fault: injected at ``start``, recovery started at ``healed`` (nanoseconds)."""

    name: str
    kind: str
    cloud: str | None
    start: int
    healed: int


class Observation(NamedTuple):
    """A member as seen at ``time`` (ns): its role (``leader``, ``replica``, ...) and timeline."""

    time: int
    member: str
    role: str
    timeline: int | None


@dataclass(frozen=True)
class Faults:
    faults: tuple[FaultWindow, ...] = ()
    baseline: Window | None = None
    observations: tuple[Observation, ...] = field(default=())

    def cuts(self) -> list[FaultWindow]:
        return [w for w in self.faults if w.kind == CUT_KIND]

    def clouds(self) -> list[str]:
        """The clouds faults were aimed at, sorted."""
        return sorted({w.cloud for w in self.faults if w.cloud is not None})

    def of_cloud(self, cloud: str) -> list[FaultWindow]:
        return [w for w in self.faults if w.cloud == cloud]

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"version": FORMAT_VERSION, "faults": [
            {"name": w.name, "kind": w.kind, "cloud": w.cloud, "start_s": w.start / NS, "healed_s": w.healed / NS}
            for w in self.faults]}
        if self.baseline is not None:
            doc["baseline"] = {"start_s": self.baseline.start / NS, "end_s": self.baseline.end / NS}
        if self.observations:
            doc["observations"] = [{"time_s": o.time / NS, "member": o.member, "role": o.role,
                                    "timeline": o.timeline} for o in self.observations]
        return doc


def dump_faults(faults: Faults, path: Path) -> None:
    Path(path).write_text(json.dumps(faults.to_json(), indent=2) + "\n")


def load_faults(path: Path) -> Faults:
    """Read and check a faults file; a mistake is one :class:`ConfigError` naming the file and field."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise ConfigError(f"{path}: not JSON: {exc}") from None
    return parse_faults(doc, str(path))


def parse_faults(doc: Any, source: str = FAULTS_FILE) -> Faults:
    def fail(where: str, what: str) -> ConfigError:
        return ConfigError(f"{source}: {where}: {what}")

    if not isinstance(doc, dict):
        raise fail("top level", "must be an object")
    if doc.get("version", FORMAT_VERSION) != FORMAT_VERSION:
        raise fail("version", f"unsupported {doc.get('version')!r} (this harness reads {FORMAT_VERSION})")
    unknown = sorted(set(doc) - {"version", "faults", "baseline", "observations"})
    if unknown:
        raise fail(unknown[0], "unknown key (known: version, faults, baseline, observations)")
    windows: list[FaultWindow] = []
    for i, item in enumerate(_list(doc.get("faults", []), "faults", fail)):
        where = f"faults[{i}]"
        obj = _object(item, where, fail)
        name, kind, cloud = obj.get("name"), obj.get("kind"), obj.get("cloud")
        if not isinstance(name, str) or not name:
            raise fail(f"{where}.name", "must be a non-empty string")
        if name in {w.name for w in windows}:
            raise fail(f"{where}.name", f"{name!r} is used twice")
        if not isinstance(kind, str) or not kind:
            raise fail(f"{where}.kind", "must be a non-empty string")
        if cloud is not None and not isinstance(cloud, str):
            raise fail(f"{where}.cloud", "must be a string or null")
        start = _seconds(obj.get("start_s"), f"{where}.start_s", fail)
        healed = _seconds(obj.get("healed_s"), f"{where}.healed_s", fail)
        if healed < start:
            raise fail(f"{where}.healed_s", f"{healed / NS} is before start_s {start / NS}")
        windows.append(FaultWindow(name, kind, cloud, start, healed))
    baseline = None
    if doc.get("baseline") is not None:
        obj = _object(doc["baseline"], "baseline", fail)
        b_start = _seconds(obj.get("start_s"), "baseline.start_s", fail)
        b_end = _seconds(obj.get("end_s"), "baseline.end_s", fail)
        if b_end <= b_start:
            raise fail("baseline.end_s", "must be after start_s")
        baseline = Window(b_start, b_end)
    observations = []
    for i, item in enumerate(_list(doc.get("observations", []), "observations", fail)):
        where = f"observations[{i}]"
        obj = _object(item, where, fail)
        member, role, timeline = obj.get("member"), obj.get("role"), obj.get("timeline")
        if not isinstance(member, str) or not member:
            raise fail(f"{where}.member", "must be a non-empty string")
        if not isinstance(role, str):
            raise fail(f"{where}.role", "must be a string")
        if timeline is not None and (type(timeline) is not int or timeline < 0):
            raise fail(f"{where}.timeline", "must be a non-negative integer or null")
        observations.append(Observation(_seconds(obj.get("time_s"), f"{where}.time_s", fail), member, role, timeline))
    return Faults(tuple(windows), baseline, tuple(observations))


def _list(value: Any, where: str, fail: _Fail) -> list[Any]:
    if not isinstance(value, list):
        raise fail(where, "must be a list")
    return value


def _object(value: Any, where: str, fail: _Fail) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise fail(where, "must be an object")
    return value


def _seconds(value: Any, where: str, fail: _Fail) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise fail(where, f"must be non-negative seconds, not {value!r}")
    return round(value * NS)
