"""The run directory, the event record and the phase timer."""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from harness.errors import CloudError, HarnessError, PhaseTimeout
from harness.record import (
    RecordTail,
    RunDir,
    append_event,
    new_run_id,
    phase_timer,
    progress_line,
    read_events,
)

FORK = multiprocessing.get_context("fork")
PAD = "x" * 5000  # longer than PIPE_BUF: only the lock keeps such lines whole


def _append_many(path: str, writer: int, count: int) -> None:
    for seq in range(count):
        append_event(Path(path), {"type": "note", "writer": writer, "seq": seq, "pad": PAD})


def _create(root: str, run_id: str) -> None:
    RunDir(Path(root), run_id).create()


def test_new_run_id_is_utc_sortable_and_unique() -> None:
    early = new_run_id(datetime(2026, 11, 25, 0, 15, tzinfo=UTC))
    late = new_run_id(datetime(2026, 11, 25, 1, 0, tzinfo=UTC))
    assert re.fullmatch(r"20261125T001500Z-[0-9a-f]{4}", early)
    assert early < late
    assert len({new_run_id() for _ in range(20)}) > 1


def test_concurrent_appends_from_six_processes_give_1200_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    procs = [FORK.Process(target=_append_many, args=(str(path), w, 200)) for w in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    lines = path.read_text().splitlines()
    assert len(lines) == 1200
    events = [json.loads(line) for line in lines]  # every line is whole JSON
    assert all(e["pad"] == PAD and "ts" in e for e in events)
    for writer in range(6):  # each writer's events all there, in its own order
        assert [e["seq"] for e in events if e["writer"] == writer] == list(range(200))


def test_read_events_skips_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    append_event(path, {"type": "note", "n": 1})
    append_event(path, {"type": "note", "n": 2})
    with open(path, "a") as f:
        f.write('{"type": "phase-end", "clo')  # a writer killed mid-line
    assert [e["n"] for e in read_events(path)] == [1, 2]


def test_append_after_a_torn_line_keeps_the_new_event_readable(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    append_event(path, {"type": "note", "n": 1})
    with open(path, "a") as f:
        f.write('{"type": "pha')
    append_event(path, {"type": "note", "n": 2})
    assert [e["n"] for e in read_events(path)] == [1, 2]


def test_tail_returns_each_event_once_and_waits_for_a_line_to_be_whole(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    tail = RecordTail(path)
    assert tail.poll() == []  # no record yet
    append_event(path, {"type": "note", "ts": 1, "n": 1})
    with path.open("ab") as f:
        f.write(b'{"type": "note", "ts": 2, "n"')  # a writer halfway through its line
    assert [e["n"] for e in tail.poll()] == [1]
    with path.open("ab") as f:
        f.write(b': 2}\n')
    append_event(path, {"type": "note", "ts": 3, "n": 3})
    assert [e["n"] for e in tail.poll()] == [2, 3]
    assert tail.poll() == []


def test_progress_lines_for_phase_events() -> None:
    assert progress_line({"type": "phase-start", "cloud": "lab1", "phase": "servers"}) == "[lab1] servers ... started"
    assert progress_line({"type": "phase-end", "cloud": "lab1", "phase": "servers", "outcome": "passed",
                          "duration": 17.25, "error": None}) == "[lab1] servers passed in 17.25s"
    assert progress_line({"type": "phase-end", "cloud": "lab2", "phase": "servers", "outcome": "failed",
                          "duration": 1, "error": "quota"}) == "[lab2] servers FAILED in 1.00s: quota"
    assert progress_line({"type": "run-end", "ts": 1}) is None


def test_read_events_of_a_missing_file_is_empty(tmp_path: Path) -> None:
    assert read_events(tmp_path / "nope" / "events.jsonl") == []


def test_append_event_requires_a_type(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="type"):
        append_event(tmp_path / "events.jsonl", {"cloud": "lab1"})


def test_latest_points_at_the_newest_run(tmp_path: Path) -> None:
    first = RunDir(tmp_path, new_run_id(datetime(2026, 1, 1, tzinfo=UTC))).create()
    second = RunDir(tmp_path, new_run_id(datetime(2026, 1, 2, tzinfo=UTC))).create()
    latest = tmp_path / "latest"
    assert latest.is_symlink() and os.readlink(latest) == second.run_id  # relative link
    assert latest.resolve() == second.path.resolve()
    first.create()  # a late worker of the older run: idempotent, and does not move latest back
    assert os.readlink(latest) == second.run_id
    assert first.path.is_dir() and not list(tmp_path.glob(".latest.*"))


def test_create_is_safe_when_processes_race(tmp_path: Path) -> None:
    run_id = new_run_id()
    procs = [FORK.Process(target=_create, args=(str(tmp_path), run_id)) for _ in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert [p.exitcode for p in procs] == [0] * 6
    assert os.readlink(tmp_path / "latest") == run_id
    assert not list(tmp_path.glob(".latest.*"))


def test_private_path_is_0700_and_outside_the_reports(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "reports", "20260101T000000Z-abcd").create()
    private = run.private_path()
    assert private == tmp_path / ".interop-private" / run.run_id
    assert stat.S_IMODE(private.stat().st_mode) == 0o700
    assert stat.S_IMODE(private.parent.stat().st_mode) == 0o700
    assert not private.resolve().is_relative_to((tmp_path / "reports").resolve())


def _skip() -> None:
    pytest.skip("no floating IPs on this cloud")


def _fail() -> None:
    pytest.fail("cpid mismatch")


def _raise(exc: BaseException) -> None:
    raise exc


@pytest.mark.parametrize(
    ("action", "exc_type", "outcome", "error", "word"),
    [
        (lambda: _raise(PhaseTimeout("timed out after 3.0s waiting for SSH")), PhaseTimeout,
         "timeout", "timed out after 3.0s waiting for SSH", "TIMEOUT"),
        (lambda: _raise(CloudError("quota exceeded", cloud="lab1", phase="servers")), CloudError,
         "failed", "quota exceeded", "FAILED"),
        (lambda: _raise(HarnessError("no peers", cloud="lab2")), HarnessError,
         "failed", "cloud lab2: no peers", "FAILED"),
        (lambda: _raise(KeyError("flavor")), KeyError, "error", "KeyError: 'flavor'", "ERROR"),
        (_skip, pytest.skip.Exception, "skipped", "no floating IPs on this cloud", "skipped"),
        (_fail, pytest.fail.Exception, "failed", "cpid mismatch", "FAILED"),
        (lambda: _raise(KeyboardInterrupt()), KeyboardInterrupt, "error", "interrupted", "ERROR"),
    ],
    ids=["timeout", "cloud-error", "harness-error-elsewhere", "bug", "skip", "pytest-fail", "ctrl-c"],
)
def test_phase_timer_records_the_outcome_and_lets_the_exception_through(
    tmp_path: Path, action, exc_type, outcome, error, word  # type: ignore[no-untyped-def]
) -> None:
    run = RunDir(tmp_path, "r1").create()
    lines: list[str] = []
    with pytest.raises(exc_type):
        with phase_timer(run, cloud="lab1", phase="servers", progress=lines.append) as rec:
            rec.details["servers"] = 3
            action()
    start, end = read_events(run.events_path)
    assert (start["type"], end["type"]) == ("phase-start", "phase-end")
    assert end["outcome"] == outcome and end["error"] == error
    assert end["cloud"] == "lab1" and end["phase"] == "servers" and end["details"] == {"servers": 3}
    assert end["worker"] == os.environ.get("PYTEST_XDIST_WORKER", "main") and end["pid"] == os.getpid()
    assert rec.result is not None and rec.result.outcome == outcome
    assert lines[0] == "[lab1] servers ... started"
    assert re.fullmatch(rf"\[lab1\] servers {word} in \d+\.\d\ds: " + re.escape(error), lines[1])


def test_phase_timer_passed_times_the_phase(tmp_path: Path) -> None:
    lines: list[str] = []
    with phase_timer(tmp_path, cloud="lab1", phase="identity", progress=lines.append) as rec:
        rec.details["cpid"] = "abc"
    (start, end) = read_events(tmp_path / "events.jsonl")
    assert end["outcome"] == "passed" and end["error"] is None and end["details"] == {"cpid": "abc"}
    assert end["start"] == start["start"] <= end["end"]
    assert end["duration"] == pytest.approx(end["end"] - end["start"], abs=1e-6)
    assert re.fullmatch(r"\[lab1\] identity passed in \d+\.\d\ds", lines[1])


def _phase(kind: str, cloud: str, phase: str, ts: float, **kw: object) -> dict[str, object]:
    return {"type": kind, "ts": ts, "cloud": cloud, "phase": phase, "start": ts, **kw}


