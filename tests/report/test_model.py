"""The fold reports read: clouds x phases, the run's info, its notes and schema version."""

from __future__ import annotations

from harness.record import SCHEMA_VERSION
from harness.report.model import summarize


def _phase(kind: str, cloud: str, phase: str, ts: float, **kw: object) -> dict[str, object]:
    return {"type": kind, "ts": ts, "cloud": cloud, "phase": phase, "start": ts, **kw}


def test_summarize_folds_events_into_clouds_by_phases() -> None:
    events = [
        {"type": "run-start", "ts": 100.0, "run_id": "r1", "clouds": ["lab3"]},
        _phase("phase-start", "lab2", "identity", 101),
        _phase("phase-end", "lab2", "identity", 101, outcome="failed", end=102, duration=1.0, error="401"),
        _phase("phase-start", "lab1", "identity", 101),
        _phase("phase-end", "lab1", "identity", 101, outcome="passed", end=101.5, duration=0.5),
        _phase("phase-start", "lab2", "identity", 103),  # a retry: the last phase-end wins
        _phase("phase-end", "lab2", "identity", 103, outcome="passed", end=104, duration=1.0),
        _phase("phase-start", "lab1", "network", 105),  # worker died here
        {"type": "note", "ts": 106, "text": "hello"},
    ]
    s = summarize(events)
    assert s.run_id == "r1" and s.started == 100.0 and s.ended is None
    assert s.clouds == ["lab1", "lab2", "lab3"]
    assert s.phases == ["identity", "network"]
    assert s.result("lab2", "identity").outcome == "passed"  # type: ignore[union-attr]
    unfinished = s.result("lab1", "network")
    assert unfinished is not None and unfinished.outcome == "unfinished" and unfinished.end is None
    assert s.result("lab3", "identity") is None
    assert s.cloud_outcome("lab1") == "unfinished" and s.cloud_outcome("lab2") == "passed"
    assert s.totals() == {"unfinished": 1, "passed": 1, "not run": 1}


def test_the_fold_keeps_notes_and_the_record_schema() -> None:
    events = [
        {"type": "run-start", "ts": 100.0, "run_id": "r1", "clouds": ["lab1"], "schema": SCHEMA_VERSION},
        {"type": "note", "ts": 106, "note": "join", "cloud": "lab1", "phase": "deploy", "seconds": 3.5},
        {"type": "note", "ts": 107, "note": "play", "cloud": "lab1", "phase": "configure", "seconds": 1.0},
    ]
    s = summarize(events)
    assert s.schema == SCHEMA_VERSION == 1
    assert [(n["note"], n["cloud"], n["seconds"]) for n in s.notes] == [("join", "lab1", 3.5), ("play", "lab1", 1.0)]
    assert summarize(events[1:]).schema is None  # a record from before versions
