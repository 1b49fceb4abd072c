"""The dashboard and the cloud pages, rendered from synthetic records (tests/report/synthetic.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from report_dom import read_matrix
from synthetic import PHASES, SECRET, T0, build_run

from harness.record import append_event
from harness.report import render_dashboard
from harness.report.matrix import run_verdict
from harness.report.model import summarize

REASON = "authentication failed: 401 The request you have made requires authentication."


def _run(tmp_path: Path, **kw: object) -> Path:
    run = build_run(tmp_path / "20261118T000000Z-abcd", **kw)  # type: ignore[arg-type]
    render_dashboard(run)
    return run


def test_one_row_per_cloud_one_cell_per_phase_and_the_failed_cloud_says_why(tmp_path: Path) -> None:
    run = _run(tmp_path, fail={"lab2": ("identity", REASON)})
    phases, rows = read_matrix((run / "index.html").read_text())
    assert phases == list(PHASES)
    assert [r.cloud for r in rows] == ["lab1", "lab2", "lab3"]
    assert all(list(r.cells) == list(PHASES) for r in rows)
    lab2 = rows[1]
    assert lab2.outcome == "failed"
    assert lab2.cells["identity"][0] == "failed" and REASON in lab2.cells["identity"][1]
    # nothing recorded for the phases after the failure: the reason is derived, never a bare "not run"
    assert lab2.cells["servers"] == ("not-run", "○ not run not run: identity failed")
    assert lab2.cells["teardown"][0] == "passed"  # teardown always runs
    assert all(o == "passed" for r in (rows[0], rows[2]) for o, _ in r.cells.values())


def test_the_slowest_passed_cloud_of_each_phase_is_marked_once(tmp_path: Path) -> None:
    run = _run(tmp_path, clouds=["a", "b", "c", "d"])
    _, rows = read_matrix((run / "index.html").read_text())
    for phase in PHASES:
        marked = [r.cloud for r in rows if phase in r.slowest]
        assert len(marked) == 1, phase
        slowest = max(rows, key=lambda r: float(r.cells[phase][1].split()[2]))  # "✓ passed 12.3 s"
        assert marked == [slowest.cloud]
        assert "▲ slowest" in slowest.cells[phase][1]


def test_a_skipped_phase_says_which_phase_failed(tmp_path: Path) -> None:
    events = [{"type": "run-start", "ts": T0, "run_id": "r", "clouds": ["lab1"]},
              {"type": "phase-end", "ts": T0 + 1, "cloud": "lab1", "phase": "identity", "start": T0, "end": T0 + 1,
               "duration": 1.0, "outcome": "failed", "error": "401"},
              {"type": "phase-end", "ts": T0 + 2, "cloud": "lab1", "phase": "keypair", "start": T0 + 1, "end": T0 + 1,
               "duration": 0.0, "outcome": "skipped", "error": "cloud lab1 failed in phase identity: 401"},
              {"type": "phase-end", "ts": T0 + 2, "cloud": "lab1", "phase": "survive", "start": T0 + 1, "end": T0 + 1,
               "duration": 0.0, "outcome": "skipped", "error": "survival is off in the challenge file"}]
    for event in events:
        append_event(tmp_path / "events.jsonl", event)
    _, rows = read_matrix(render_dashboard(tmp_path).read_text())
    cells = rows[0].cells
    assert cells["keypair"][0] == "skipped" and cells["keypair"][1].endswith("skipped: identity failed")
    assert cells["survive"][1].endswith("skipped: survival is off in the challenge file")


def test_not_run_reasons_when_the_record_has_none(tmp_path: Path) -> None:
    events = [{"type": "run-start", "ts": T0, "run_id": "r", "clouds": ["lab1", "lab2"]},
              {"type": "phase-start", "ts": T0, "cloud": "lab1", "phase": "identity", "start": T0},
              {"type": "phase-end", "ts": T0 + 1, "cloud": "lab1", "phase": "identity", "start": T0, "end": T0 + 1,
               "duration": 1.0, "outcome": "passed"},
              {"type": "phase-start", "ts": T0 + 1, "cloud": "lab1", "phase": "keypair", "start": T0 + 1}]
    for event in events:
        append_event(tmp_path / "events.jsonl", event)
    _, rows = read_matrix(render_dashboard(tmp_path).read_text())
    assert rows[1].cloud == "lab2" and rows[1].cells["identity"][1].endswith("not run yet: the run has not ended")
    append_event(tmp_path / "events.jsonl", {"type": "run-end", "ts": T0 + 9})
    _, rows = read_matrix(render_dashboard(tmp_path).read_text())
    assert rows[1].cells["keypair"][1].endswith("not run: no phase of this cloud was recorded")
    assert rows[0].cells["keypair"][0] == "unfinished"


def test_header_name_stack_times_counts_and_verdict(tmp_path: Path) -> None:
    run = _run(tmp_path, fail={"lab3": ("servers", "quota exceeded")}, stack="hosts-patroni", name="Boston 2017, again")
    html = (run / "index.html").read_text()
    assert '<h1 id="challenge-name">Boston 2017, again</h1>' in html
    assert '<dd id="stack-name">hosts-patroni</dd>' in html
    assert re.search(r'<dd id="started">2026-11-18 \d\d:\d\d:\d\d UTC</dd>', html)
    assert re.search(r'<dd id="ended">2026-11-18 \d\d:\d\d:\d\d UTC \(\d+ s\)</dd>', html)
    assert '<span id="clouds-passed">2</span>' in html and '<span id="clouds-failed">1</span>' in html
    assert 'data-verdict="FAIL">FAIL</span> failed: lab3' in html


def test_without_a_name_the_challenge_file_names_the_run(tmp_path: Path) -> None:
    html = (_run(tmp_path, name=None) / "index.html").read_text()
    assert '<h1 id="challenge-name">Interop challenge (challenge)</h1>' in html


def test_run_verdicts() -> None:
    def verdict(outcomes: dict[str, str], ended: bool = True, checks: tuple[str, ...] = ()) -> str:
        events: list[dict[str, object]] = [{"type": "run-start", "ts": T0, "clouds": list(outcomes)}]
        events += [{"type": "phase-end", "ts": T0, "cloud": c, "phase": "identity", "start": T0, "end": T0 + 1,
                    "duration": 1.0, "outcome": o} for c, o in outcomes.items()]
        events += [{"type": "check", "ts": T0, "cloud": "a", "check": "set", "outcome": o} for o in checks]
        events += [{"type": "run-end", "ts": T0 + 2}] if ended else []
        return run_verdict(summarize(events))[0]

    assert verdict({"a": "passed", "b": "passed"}) == "PASS"
    assert verdict({"a": "passed", "b": "timeout"}) == "FAIL"
    assert verdict({"a": "failed", "b": "error"}) == "ABORT"  # the harness broke: the failure may be ours
    assert verdict({"a": "passed"}, checks=("aborted",)) == "ABORT"
    assert verdict({"a": "passed"}, ended=False) == "INCOMPLETE"
    assert verdict({"a": "skipped"}) == "N/A"
    assert verdict({}) == "EMPTY"


def test_the_timeline_is_an_accessible_chart_with_every_cloud_and_the_waits(tmp_path: Path) -> None:
    run = _run(tmp_path, fail={"lab2": ("identity", REASON)})
    html = (run / "index.html").read_text()
    svg = re.search(r'<svg [^>]*id="timeline-chart".*?</svg>', html, re.S)
    assert svg is not None
    chart = svg.group(0)
    assert 'role="img"' in chart and '<title id="timeline-chart-title">' in chart and "<desc " in chart
    assert re.findall(r'data-lane="([^"]+)"', chart) == ["lab1", "lab2", "lab3"]
    assert chart.count('class="bar failed"') == 1 and "✗" in chart  # not colour alone
    # floating-ips and deploy record peers_waited_s, survive waited_for_turn_s (0 for the first turn)
    waits = re.findall(r'class="overlay wait"', chart)
    assert len(waits) == 2 + 3  # lab1: 2, lab2: none (failed first), lab3: 2 + its turn
    table = re.search(r'<table id="timeline-table">.*?</table>', html, re.S)
    assert table is not None and table.group(0).count("<tr data-cloud=") == 3


def test_a_wait_note_places_the_wait_exactly(tmp_path: Path) -> None:
    events = [{"type": "run-start", "ts": T0, "run_id": "r", "clouds": ["lab1"]},
              {"type": "phase-end", "ts": T0 + 10, "cloud": "lab1", "phase": "deploy", "start": T0, "end": T0 + 10,
               "duration": 10.0, "outcome": "passed", "details": {"peers_waited_s": 4.0}},
              {"type": "note", "ts": T0 + 9, "note": "rendezvous-wait", "cloud": "lab1", "phase": "deploy",
               "name": "joined", "start": T0 + 5, "end": T0 + 9}]
    for event in events:
        append_event(tmp_path / "events.jsonl", event)
    html = render_dashboard(tmp_path).read_text()
    assert html.count('class="overlay wait"') == 1  # the note wins over the details' length
    assert "lab1 deploy: waited 4.00 s at joined" in html


def test_survivability_chart_marks_the_fault_steps_and_the_figures_meet_thresholds(tmp_path: Path) -> None:
    run = _run(tmp_path, clouds=["lab1"], samples_s=90)
    html = (run / "index.html").read_text()
    chart = re.search(r'<svg [^>]*id="throughput-lab1".*?</svg>', html, re.S)
    assert chart is not None and 'role="img"' in chart.group(0) and "<desc " in chart.group(0)
    marks = re.findall(r'<g class="mark"><title>process-kill (\w+) at ([\d.]+) s', chart.group(0))
    assert [m[0] for m in marks] == ["inject", "effect", "hold", "recover", "recovered"]
    # the steps sit on the samples' clock: the inject starts at second 20 of the history
    assert abs(float(marks[0][1]) - 20) < 0.01
    assert chart.group(0).count('class="band fault"') == 1 and chart.group(0).count("<polyline") == 2
    figures = re.search(r'<table class="figures" id="figures-lab1">.*?</table>', html, re.S)
    assert figures is not None
    rows = {m[0]: m[1:] for m in re.findall(
        r'<tr data-check="([\w-]+)"><td>[^<]*</td><td>[^<]*</td><td class="\w+" data-outcome="(\w+)">\w+</td>\s*'
        r"<td>([^<]*)</td><td>([^<]*)</td>", figures.group(0))}
    assert rows["unavailability"] == ("passed", "6 s", "≤ 30 s")
    assert rows["throughput-ratio"] == ("passed", "0.62 ratio", "≥ 0.5 ratio")
    assert rows["set"] == ("passed", "0 writes", "≤ 0 writes")
    assert rows["unknown"] == ("info", "2 writes", "-")
    assert rows["bank"][0] == "passed" and rows["rejoin"] == ("info", "6.00 s", "-")
    assert "Checks not run: split-brain: no cloud-cut fault" in html


def test_lists_are_text_and_no_secret_or_repr_reaches_any_page(tmp_path: Path) -> None:
    run = _run(tmp_path, stack="hosts-patroni", fail={"lab2": ("deploy", "etcd did not start")})
    pages = [run / "index.html", *sorted((run / "clouds").glob("*.html"))]
    assert len(pages) == 4
    for page in pages:
        text = page.read_text()
        assert SECRET not in text and "postgresql://" not in text and "password" not in text, page
        assert "['" not in text and "{'" not in text, page  # no Python repr
    assert "lab1-server-1, lab1-server-2" in pages[0].read_text()


def test_pages_are_self_contained_and_printable(tmp_path: Path) -> None:
    run = _run(tmp_path)
    for page in [run / "index.html", run / "clouds" / "lab1.html"]:
        text = page.read_text()
        assert "<script" not in text and "<link" not in text and "@import" not in text
        assert not re.search(r'(src|href)="(https?:)?//', text)  # nothing fetched from anywhere
        assert "@media print" in text


def test_the_cloud_page_has_phases_plays_rules_errors_and_artifact_links(tmp_path: Path) -> None:
    long_reason = "servers not ACTIVE: " + "fault: No valid host was found. " * 20
    run = _run(tmp_path, fail={"lab2": ("servers", long_reason)})
    index = (run / "index.html").read_text()
    assert '<a href="clouds/lab2.html">lab2</a>' in index
    assert long_reason not in index  # the matrix shows the start of a long reason
    page = (run / "clouds" / "lab2.html").read_text()
    assert page.count("<tr data-phase=") == len(PHASES)
    assert f'<pre class="full error-reason" data-phase="servers">{long_reason}</pre>' in page  # in full
    assert "not run: servers failed" in page
    assert '<span class="sg-audit">no rule open to the world</span>' in page
    assert "<li>ingress tcp 22 from 172.24.4.1/32 (ssh)</li>" in page
    lab1 = (run / "clouds" / "lab1.html").read_text()
    assert "<td>configure</td><td>Check the hosts</td>" in lab1
    links = re.findall(r'<a href="(\.\./[^"]+)">', lab1)
    assert "../artifacts/lab1/ansible-configure/stdout.txt" in links and "../survive/lab1/samples.json" in links
    for link in links:
        assert (run / "clouds" / link).resolve().is_file(), link


def test_an_empty_run_and_unreadable_survive_files_still_render(tmp_path: Path) -> None:
    assert "No phase has been recorded yet." in render_dashboard(tmp_path).read_text()
    run = build_run(tmp_path / "r2", clouds=["lab1"])
    (run / "survive" / "lab1" / "samples.json").write_text("{torn")
    (run / "survive" / "lab1" / "faults.json").write_text(json.dumps({"faults": "not a list"}))
    html = render_dashboard(run).read_text()
    assert "No throughput samples" in html and 'id="figures-lab1"' in html
