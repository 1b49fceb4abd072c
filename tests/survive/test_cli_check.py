"""`interop check RUN|HISTORY`: the checkers on a stored history, one line per verdict, exit 0/1/2."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from handwritten import history

from harness.survive.history import Op

RunCli = Callable[..., tuple[int, str, str]]


def _workload(final: list[int] | None = None) -> list[Op]:
    rows: list[tuple[Any, ...]] = []
    for i in range(20):
        rows += [(1, "invoke", "add", i, i * 0.5), (1, "ok", "add", i, i * 0.5 + 0.01, "lab1-1", "lab1")]
    rows += [(1, "invoke", "read", None, 11.0), (1, "ok", "read", list(range(20)) if final is None else final, 11.1)]
    return history(*rows)


def _run(reports: Path, run_id: str, ops: list[Op], faults: dict[str, Any] | None = None) -> Path:
    survive = reports / run_id / "survive"
    survive.mkdir(parents=True)
    (survive / "history.jsonl").write_text("".join(op.to_json() + "\n" for op in ops))
    if faults is not None:
        (survive / "faults.json").write_text(json.dumps(faults))
    return survive / "history.jsonl"


def _rows(out: str) -> dict[str, list[str]]:
    """The table's rows by check name, split on runs of two or more spaces."""
    import re

    return {cells[0]: cells for cells in (re.split(r"\s{2,}", line) for line in out.splitlines()[2:])}


def test_a_run_id_under_the_reports_dir_is_checked_and_passes(tmp_path: Path, run_cli: RunCli) -> None:
    path = _run(tmp_path, "RUN1", _workload())
    rc, out, err = run_cli("check", "RUN1", "--reports-dir", str(tmp_path))
    assert rc == 0, err
    assert out.splitlines()[0] == f"interop: 21 operations in {path}, no faults file"
    rows = _rows(out)
    assert rows["set"] == ["set", "-", "passed", "0 writes (threshold 0)",
                           "all 20 acknowledged adds in the final read (op 41); 0 unknown outcomes, 0 of them present"]
    assert rows["unavailability"][2:4] == ["passed", "0.5 s (threshold 30)"]
    assert rows["bank"][2] == "skipped" and rows["split-brain"][2] == "skipped"


def test_a_lost_write_fails_with_exit_1_naming_it(tmp_path: Path, run_cli: RunCli) -> None:
    path = _run(tmp_path, "RUN1", _workload(final=[v for v in range(20) if v != 7]))
    rc, out, err = run_cli("check", str(path))  # a history file directly
    assert rc == 1
    assert _rows(out)["set"][2:] == ["failed", "1 writes (threshold 0)", "1 acknowledged add lost: 7"]
    assert err.strip() == "1 of 2 checks did not pass: set failed"


def test_faults_beside_the_history_scope_the_checks_per_cloud(tmp_path: Path, run_cli: RunCli) -> None:
    faults = {"faults": [{"name": "lab2 kill", "kind": "process-kill", "cloud": "lab2", "start_s": 4, "healed_s": 6}]}
    _run(tmp_path, "RUN1", _workload(), faults)
    rc, out, err = run_cli("check", str(tmp_path / "RUN1"), "--min-throughput-ratio", "0.9", "--max-recovery-s", "1")
    lines = [line for line in out.splitlines() if " lab2 " in line]
    assert [line.split()[0] for line in lines] == ["unavailability", "throughput-ratio", "recovery-time"]
    assert "faults from" in out.splitlines()[0]
    assert rc == 0, out + err


def test_the_samples_are_printed_on_request(tmp_path: Path, run_cli: RunCli) -> None:
    _run(tmp_path, "RUN1", _workload())
    rc, out, _ = run_cli("check", "RUN1", "--reports-dir", str(tmp_path), "--samples")
    assert rc == 0
    table = out[out.index("SECOND"):].splitlines()
    assert table[1].split() == ["0", "2", "0", "0", "10.0", "ms", "10.0", "ms", "10.0", "ms"]
    assert len(table) == 1 + 12  # seconds 0 to 11


def test_an_aborted_check_exits_1(tmp_path: Path, run_cli: RunCli) -> None:
    ops = _workload()[:-1]  # the final read never completed: its invoke is left open
    _run(tmp_path, "RUN1", ops)
    rc, out, err = run_cli("check", "RUN1", "--reports-dir", str(tmp_path))
    assert rc == 1 and _rows(out)["set"][2] == "aborted"
    assert "set aborted" in err


@pytest.mark.parametrize("setup, argv, message", [
    (lambda r: None, ["check", "nope"], "no run 'nope' under {r}"),
    (lambda r: (r / "RUN2").mkdir(), ["check", "RUN2"], "{r}/RUN2: no survive/history.jsonl or survive/<cloud>/history.jsonl to check (the run had no survive phase)"),
    (lambda r: _run(r, "RUN3", _workload()).write_text('{"index": 0}\n'), ["check", "RUN3"],
     "{r}/RUN3/survive/history.jsonl:1: type must be one of invoke, ok, fail, info, not None"),
    (lambda r: _run(r, "RUN4", _workload(), {"faults": [{"name": "x"}]}), ["check", "RUN4"],
     "{r}/RUN4/survive/faults.json: faults[0].kind: must be a non-empty string"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, run_cli: RunCli, setup: Callable[[Path], object],
                                          argv: list[str], message: str) -> None:
    reports = tmp_path.resolve()
    setup(reports)
    rc, _, err = run_cli(*argv, "--reports-dir", str(reports))
    assert rc == 2
    assert err.strip() == "interop: error: " + message.format(r=reports)


def test_a_threshold_out_of_range_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from harness import cli

    with pytest.raises(SystemExit) as exit_:
        cli.main(["check", "RUN1", "--min-throughput-ratio", "1.5"])
    assert exit_.value.code == 2
    assert "--min-throughput-ratio: must be between 0 and 1, not 1.5" in capsys.readouterr().err


def test_a_run_with_one_history_per_cloud_turn_checks_each(tmp_path: Path, run_cli: RunCli) -> None:
    survive = tmp_path / "RUN3" / "survive"
    for cloud, final in (("lab1", None), ("lab2", list(range(19)))):  # lab2's final read lost value 19
        (survive / cloud).mkdir(parents=True)
        (survive / cloud / "history.jsonl").write_text("".join(op.to_json() + "\n" for op in _workload(final)))
    rc, out, err = run_cli("check", "RUN3", "--reports-dir", str(tmp_path))
    assert rc == 1
    assert out.count("interop: 21 operations in ") == 2 and f"{survive / 'lab2' / 'history.jsonl'}" in out
    assert err.strip().startswith("1 of ") and err.strip().endswith("checks did not pass: set failed (lab2)")
