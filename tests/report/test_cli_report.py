"""``interop report``: a run's every report rendered again from its record, and two runs compared."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from records import Record, passing_cloud

PHASES = [("identity", 0.5), ("servers", 10.0), ("deploy", 20.0)]


def _run(reports: Path, run_id: str, servers: float, *, name: str = "Boston 2027") -> Path:
    rec = Record(run_id, ["lab1", "lab2"], name=name)
    passing_cloud(rec, "lab1", [("identity", 0.5), ("servers", servers), ("deploy", 20.0)])
    rec.phase("lab2", "identity", 0.3, "failed", "cloud lab2, phase identity: 401 Unauthorized")
    return rec.end().write(reports / run_id)


def test_report_renders_the_dashboard_junit_refstack_and_the_history_line(
        tmp_path: Path, run_cli: Callable[..., tuple[int, str, str]]) -> None:
    run = _run(tmp_path, "r1", 10.0)
    code, out, _ = run_cli("report", "r1", "--reports-dir", str(tmp_path))
    assert code == 0, out
    for made in ("index.html", "junit-record.xml", "refstack/lab1.json"):
        assert str(run / made) in out and (run / made).is_file(), (made, out)
    assert not (run / "refstack" / "lab2.json").exists() and "lab2" in out  # no passed check: no file, said so
    assert "Boston 2027" in (run / "index.html").read_text()
    lines = (tmp_path / "history.jsonl").read_text().splitlines()
    run_cli("report", "r1", "--reports-dir", str(tmp_path))
    assert (tmp_path / "history.jsonl").read_text().splitlines() == lines and len(lines) == 1  # once per run
    assert json.loads(lines[0])["run_id"] == "r1"


def test_report_compare_names_the_slower_phase_beyond_the_noise(
        tmp_path: Path, run_cli: Callable[..., tuple[int, str, str]]) -> None:
    for run_id, servers in (("a", 10.0), ("b", 20.0)):
        _run(tmp_path, run_id, servers)
        assert run_cli("report", run_id, "--reports-dir", str(tmp_path))[0] == 0
    page = tmp_path / "compare.html"
    code, out, _ = run_cli("report", "--compare", "a", "b", "--reports-dir", str(tmp_path), "--html", str(page))
    assert code == 0, out
    servers = next(line for line in out.splitlines() if "servers" in line and "lab1" in line)
    assert "slower" in servers, out
    deploy = next(line for line in out.splitlines() if "deploy" in line and "lab1" in line)
    assert "same" in deploy, out
    assert page.is_file() and "slower" in page.read_text()
    # a wider band calls the doubling noise
    code, out, _ = run_cli("report", "--compare", "a", "b", "--reports-dir", str(tmp_path), "--noise-abs", "15")
    assert "slower" not in next(line for line in out.splitlines() if "servers" in line and "lab1" in line)
