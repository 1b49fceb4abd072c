"""The history of runs: one line per run, idempotent and safe to append at once; comparing two runs."""

from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from records import T0, Record, passing_cloud

from harness.report.model import summarize
from harness.report.trends import (
    Noise,
    append_history,
    challenge_name,
    compare,
    history_entry,
    load_history,
    run_entry,
)

PHASES = [("identity", 0.4), ("servers", 12.5), ("deploy", 30.0)]


def _summary(run_id: str = "r1", servers: float = 12.5) -> Any:
    rec = Record(run_id, ["lab1", "lab2"], stack="hosts-patroni", challenge="/home/alice/boston.yaml")
    passing_cloud(rec, "lab1", [("identity", 0.4), ("servers", servers), ("deploy", 30.0)])
    rec.phase("lab2", "identity", 3.1, "failed", "password=hunter2 refused", details={"token": "gAAAA-tok"})
    rec.check("lab1", "unavailability", "passed", 4.2, "s", 30, reason="gap <during kill>")
    rec.check("lab1", "split-brain", "failed", 1, "violations", 0)
    rec.check("lab1", "split-brain", "passed", 0, "violations", 0)  # the worse of the two stays
    rec.check("lab1", "set", "passed", 0, "writes", 0, scope="cluster")
    return summarize(rec.end().events)


def test_the_line_has_per_cloud_per_phase_figures_and_the_survive_verdicts() -> None:
    entry = history_entry(_summary())
    assert entry["run_id"] == "r1" and entry["stack"] == "hosts-patroni" and entry["challenge"] == "boston"
    assert entry["started"] == T0 and entry["ended"] is not None
    lab1, lab2 = entry["clouds"]["lab1"], entry["clouds"]["lab2"]
    assert lab1["phases"]["servers"] == {"duration": 12.5, "outcome": "passed"}
    assert lab1["outcome"] == "passed" and lab2["outcome"] == "failed"
    assert lab2["phases"] == {"identity": {"duration": 3.1, "outcome": "failed"}}
    assert lab1["survive"] == {
        "unavailability": {"outcome": "passed", "value": 4.2, "unit": "s", "threshold": 30},
        "split-brain": {"outcome": "failed", "value": 1, "unit": "violations", "threshold": 0},
        "cluster.set": {"outcome": "passed", "value": 0, "unit": "writes", "threshold": 0},
    }
    text = json.dumps(entry)  # figures only: no free text, no details, no home directory
    for absent in ("hunter2", "gAAAA", "during kill", "alice", "refused"):
        assert absent not in text


def test_the_challenge_name_wins_over_the_file_stem() -> None:
    assert challenge_name({"name": "Boston 2017", "challenge": "/x/c.yaml"}) == "Boston 2017"
    assert challenge_name({"challenge": "/x/c.yaml"}) == "c" and challenge_name({}) is None


def test_appending_the_same_run_again_adds_nothing_and_a_changed_one_supersedes(tmp_path: Path) -> None:
    history = tmp_path / "history.jsonl"
    first = history_entry(_summary("r1"))
    assert append_history(history, first) is True
    assert append_history(history, json.loads(json.dumps(first))) is False  # re-rendered: same line
    assert append_history(history, history_entry(_summary("r2"))) is True
    changed = history_entry(_summary("r1", servers=14.0))
    assert append_history(history, changed) is True
    assert len(history.read_text().splitlines()) == 3
    runs = load_history(history)
    assert [r["run_id"] for r in runs] == ["r1", "r2"]
    assert list(runs[0]["clouds"]["lab1"]["phases"]) == ["identity", "servers", "deploy"]  # pipeline order kept
    assert run_entry(runs, "r1") == changed  # the last line of a run wins
    assert append_history(history, first) is True  # going back is a change too


def test_a_torn_line_stays_on_its_own(tmp_path: Path) -> None:
    history = tmp_path / "history.jsonl"
    history.write_text('{"run_id": "r0", "clouds"')  # a writer killed mid-line
    append_history(history, history_entry(_summary("r1")))
    assert [r["run_id"] for r in load_history(history)] == ["r1"]
    assert history.read_text().splitlines()[0] == '{"run_id": "r0", "clouds"'


def _append(args: tuple[str, str]) -> bool:
    path, run_id = args
    return append_history(Path(path), history_entry(_summary(run_id)))


def test_concurrent_appends_neither_interleave_nor_duplicate(tmp_path: Path) -> None:
    history = tmp_path / "history.jsonl"
    work = [(str(history), f"r{i % 12}") for i in range(72)]  # every run appended six times, racing
    with ProcessPoolExecutor(max_workers=6) as pool:
        appended = list(pool.map(_append, work))
    assert sum(appended) == 12
    lines = history.read_text().splitlines()
    assert sorted(json.loads(line)["run_id"] for line in lines) == sorted(f"r{i}" for i in range(12))


# ---- compare ---------------------------------------------------------------------------------


def _entry(run_id: str, **phases: tuple[float, str]) -> dict[str, Any]:
    return {"run_id": run_id, "clouds": {"lab1": {"phases": {
        p.replace("_", "-"): {"duration": d, "outcome": o} for p, (d, o) in phases.items()}}}}


def test_faster_slower_same_within_the_noise_band() -> None:
    a = _entry("A", identity=(0.4, "passed"), servers=(20.0, "passed"), deploy=(30.0, "passed"),
               survive=(60.0, "passed"), join=(10.0, "passed"))
    b = _entry("B", identity=(1.3, "passed"), servers=(22.9, "passed"), deploy=(35.0, "passed"),
               survive=(50.0, "passed"), join=(10.0, "failed"))
    changes = compare(a, b).changes
    assert [c.phase for c in changes] == ["identity", "servers", "deploy", "survive", "join"]  # pipeline order
    verdicts = {c.phase: c.verdict for c in changes}
    # identity: +0.9 s is inside the 1 s floor; servers: +2.9 s inside 15% of 20 s;
    # deploy: +5 s beyond 15% of 30 s; survive: -10 s beyond 9 s; join failed in B
    assert verdicts == {"identity": "same", "servers": "same", "deploy": "slower", "survive": "faster", "join": "n/a"}
    tight = {c.phase: c.verdict for c in compare(a, b, Noise(relative=0.05, absolute_s=0.5)).changes}
    assert tight["identity"] == "slower" and tight["servers"] == "slower"


def test_phases_present_in_one_run_only_and_changed_outcomes_say_so() -> None:
    a = _entry("A", identity=(0.4, "failed"), servers=(20.0, "passed"))
    b = _entry("B", identity=(0.5, "passed"), deploy=(30.0, "passed"))
    notes = {c.phase: (c.verdict, c.note) for c in compare(a, b).changes}
    assert notes == {"identity": ("n/a", "failed -> passed"), "servers": ("n/a", "only in A"),
                     "deploy": ("n/a", "only in B")}


def test_the_text_is_a_table_with_the_change() -> None:
    a = _entry("A", servers=(20.0, "passed"), deploy=(30.0, "passed"))
    b = _entry("B", servers=(25.0, "passed"), deploy=(30.5, "passed"))
    text = compare(a, b).text()
    lines = text.splitlines()
    assert lines[0] == "compare A -> B (same within 15%, at least 1 s)"
    assert lines[1].split() == ["cloud", "phase", "A", "B", "change", "verdict"]
    assert lines[2].split() == ["lab1", "servers", "20.00", "s", "25.00", "s", "+5.00", "s", "(+25%)", "slower"]
    assert lines[3].split() == ["lab1", "deploy", "30.00", "s", "30.50", "s", "+0.50", "s", "(+2%)", "same"]
    assert lines[-1] == "1 same, 1 slower"


@pytest.mark.parametrize("noise", [Noise(), Noise(0.0, 0.0)])
def test_a_run_compared_with_itself_is_the_same_everywhere(noise: Noise) -> None:
    entry = history_entry(_summary())
    assert {c.verdict for c in compare(entry, entry, noise).changes if c.cloud == "lab1"} == {"same"}
