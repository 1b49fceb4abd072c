"""faults.json: fault windows, baseline and observations, in seconds on the history's clock."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from handwritten import S

from harness.errors import ConfigError
from harness.survive.faults import Faults, FaultWindow, Observation, Window, dump_faults, load_faults

DOC = {
    "version": 1,
    "baseline": {"start_s": 2.0, "end_s": 30.0},
    "faults": [
        {"name": "lab2 process-kill lab2-1", "kind": "process-kill", "cloud": "lab2", "start_s": 31.5, "healed_s": 46},
        {"name": "lab3 cut", "kind": "cloud-cut", "cloud": "lab3", "start_s": 80, "healed_s": 110},
    ],
    "observations": [{"time_s": 125.0, "member": "lab1-1", "role": "leader", "timeline": 3}],
}


def test_a_faults_file_is_read_into_windows_in_nanoseconds(tmp_path: Path) -> None:
    path = tmp_path / "faults.json"
    path.write_text(json.dumps(DOC))
    faults = load_faults(path)
    assert faults.baseline == Window(2 * S, 30 * S)
    assert faults.faults[0] == FaultWindow("lab2 process-kill lab2-1", "process-kill", "lab2", int(31.5 * S), 46 * S)
    assert faults.cuts() == [FaultWindow("lab3 cut", "cloud-cut", "lab3", 80 * S, 110 * S)]
    assert faults.observations == (Observation(125 * S, "lab1-1", "leader", 3),)
    assert faults.clouds() == ["lab2", "lab3"] and [w.name for w in faults.of_cloud("lab3")] == ["lab3 cut"]


def test_dump_and_load_round_trip(tmp_path: Path) -> None:
    faults = Faults((FaultWindow("a", "server-stop", None, 1 * S, 2 * S),), Window(0, S),
                    (Observation(3 * S, "m", "replica", None),))
    dump_faults(faults, tmp_path / "faults.json")
    assert load_faults(tmp_path / "faults.json") == faults


@pytest.mark.parametrize("change, message", [
    ({"version": 2}, "version: unsupported 2 (this harness reads 1)"),
    ({"fault": []}, "fault: unknown key (known: version, faults, baseline, observations)"),
    ({"faults": {}}, "faults: must be a list"),
    ({"faults": [{"name": "x", "kind": "k", "start_s": 5, "healed_s": 4}]}, "faults[0].healed_s: 4.0 is before start_s 5.0"),
    ({"faults": [{"name": "x", "kind": "k", "start_s": "5", "healed_s": 6}]}, "faults[0].start_s: must be non-negative seconds, not '5'"),
    ({"faults": [{"name": "x", "kind": "k", "start_s": 1, "healed_s": 2}, {"name": "x", "kind": "k", "start_s": 1, "healed_s": 2}]},
     "faults[1].name: 'x' is used twice"),
    ({"faults": [{"kind": "k", "start_s": 1, "healed_s": 2}]}, "faults[0].name: must be a non-empty string"),
    ({"baseline": {"start_s": 3, "end_s": 3}}, "baseline.end_s: must be after start_s"),
    ({"observations": [{"time_s": 1, "member": "m", "role": "leader", "timeline": "3"}]},
     "observations[0].timeline: must be a non-negative integer or null"),
])
def test_a_mistake_is_one_error_naming_the_file_and_the_field(tmp_path: Path, change: dict[str, Any],
                                                              message: str) -> None:
    path = tmp_path / "faults.json"
    path.write_text(json.dumps({**DOC, **change}))
    with pytest.raises(ConfigError) as err:
        load_faults(path)
    assert str(err.value) == f"{path}: {message}"


def test_a_file_that_is_not_json_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "faults.json"
    path.write_text("{")
    with pytest.raises(ConfigError, match=f"^{path}: not JSON"):
        load_faults(path)
