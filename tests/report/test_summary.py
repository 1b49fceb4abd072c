"""The HTML summary, rendered from a synthetic record."""

from __future__ import annotations

import re
from pathlib import Path

from report_dom import Row, read_matrix

from harness.record import append_event
from harness.report import render_summary

T0 = 1_795_000_000.0  # 2026-11-18


def _phase_end(cloud: str, phase: str, outcome: str, duration: float, error: str | None = None) -> dict[str, object]:
    return {"type": "phase-end", "ts": T0 + 10, "cloud": cloud, "phase": phase, "start": T0 + 1,
            "end": T0 + 1 + duration, "duration": duration, "outcome": outcome, "error": error,
            "details": {"password": "hunter2"}}


EVENTS = [
    {"type": "run-start", "ts": T0, "run_id": "20261118T000000Z-abcd", "clouds": ["lab1", "lab2", "lab3"]},
    _phase_end("lab1", "identity", "passed", 0.42),
    _phase_end("lab1", "servers", "passed", 12.5),
    _phase_end("lab2", "identity", "failed", 3.1, error="<script>alert('x')</script> & 401"),
    _phase_end("lab2", "servers", "skipped", 0.0, error="identity failed"),
    _phase_end("lab3", "identity", "passed", 0.5),
    {"type": "phase-start", "ts": T0 + 11, "cloud": "lab3", "phase": "servers", "start": T0 + 11},
    {"type": "run-end", "ts": T0 + 60},
]


def _render(tmp_path: Path) -> tuple[str, dict[str, Row]]:
    run = tmp_path / "20261118T000000Z-abcd"
    for event in EVENTS:
        append_event(run / "events.jsonl", event)
    out = render_summary(run)
    assert out == run / "index.html"
    html = out.read_text()
    _, rows = read_matrix(html)
    return html, {row.cloud: row for row in rows}


def test_error_text_is_escaped(tmp_path: Path) -> None:
    html, rows = _render(tmp_path)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; 401" in html
    assert rows["lab2"].cells["identity"] == ("failed", "✗ failed 3.10 s <script>alert('x')</script> & 401")  # as text


def test_table_has_every_cloud_and_phase_with_outcome_and_duration(tmp_path: Path) -> None:
    html, rows = _render(tmp_path)
    assert read_matrix(html)[0] == ["identity", "servers"]
    assert sorted(rows) == ["lab1", "lab2", "lab3"]
    assert rows["lab1"].cells == {"identity": ("passed", "✓ passed 0.42 s"),
                                  "servers": ("passed", "✓ passed 12.5 s")}
    assert rows["lab2"].outcome == "failed" and rows["lab1"].outcome == "passed"  # the cloud's verdict
    assert rows["lab2"].cells["servers"] == ("skipped", "↷ skipped 0.00 s skipped: identity failed")


def test_unfinished_phase_is_shown_as_such(tmp_path: Path) -> None:
    _, rows = _render(tmp_path)
    outcome, text = rows["lab3"].cells["servers"]
    assert outcome == "unfinished"
    assert re.fullmatch(r"… unfinished started 2026-11-\d\d \d\d:\d\d:\d\d UTC, no end recorded", text)
    assert rows["lab3"].outcome == "unfinished"


def test_run_header_and_totals(tmp_path: Path) -> None:
    html, _ = _render(tmp_path)
    assert "interop run 20261118T000000Z-abcd" in html and '<dd id="run-id">20261118T000000Z-abcd</dd>' in html
    assert '<span id="clouds-passed">1</span>' in html and '<span id="clouds-failed">1</span>' in html
    assert "2026-11-18" in html and "not finished" not in html
    assert 'data-verdict="INCOMPLETE"' in html  # lab3 never finished its servers phase


def test_details_are_not_rendered(tmp_path: Path) -> None:
    html, _ = _render(tmp_path)
    assert "hunter2" not in html and "password" not in html


def test_an_empty_run_renders(tmp_path: Path) -> None:
    html = render_summary(tmp_path).read_text()
    assert "No phase has been recorded yet." in html and "not finished" in html


def test_security_group_rules_and_audit_are_shown_but_nothing_else(tmp_path: Path) -> None:
    sg = {"type": "phase-end", "ts": T0 + 5, "cloud": "lab1", "phase": "security-groups", "start": T0 + 2,
          "end": T0 + 3, "duration": 1.0, "outcome": "passed", "error": None,
          "details": {"harness": ["172.24.4.1/32"], "audit": "no rule open to the world",
                      "rules": ["ingress tcp 22 from 172.24.4.1/32 (ssh)", "ingress tcp 5432 from group <sg>"],
                      "token": "gAAAA-secret-token"}}
    for event in [EVENTS[0], sg]:
        append_event(tmp_path / "events.jsonl", event)
    render_summary(tmp_path)
    html = (tmp_path / "clouds" / "lab1.html").read_text()
    assert '<span class="sg-audit">no rule open to the world</span>' in html
    assert "<li>ingress tcp 22 from 172.24.4.1/32 (ssh)</li>" in html
    assert "ingress tcp 5432 from group &lt;sg&gt;" in html  # escaped
    assert "gAAAA-secret-token" not in html


def test_ansible_play_timings_and_join_time_per_cloud(tmp_path: Path) -> None:
    def end(phase: str, details: dict[str, object]) -> dict[str, object]:
        return {"type": "phase-end", "ts": T0 + 9, "cloud": "lab1", "phase": phase, "start": T0 + 3, "end": T0 + 8,
                "duration": 5.0, "outcome": "passed", "error": None, "details": details}

    events = [{**EVENTS[0], "stack": "hosts-patroni"},  # the stack renders its own table
              end("configure", {"plays": [{"name": "Check the hosts", "seconds": 2.98}], "changed": 6}),
              end("deploy", {"ansible": {"plays": [{"name": "Etcd members", "seconds": 2.42}]}, "join_s": 19.13,
                             "cluster_ready_s": 20.5, "leader": "lab1-server-0", "sync_standbys": 2,
                             "dsn": "postgresql://app:SECRETPW@x/db"})]
    for event in events:
        append_event(tmp_path / "events.jsonl", event)
    html = render_summary(tmp_path).read_text()
    assert "Check the hosts: 3.0 s" in html and "Etcd members: 2.4 s" in html
    assert '<td class="join">19.1 s</td>' in html and "lab1-server-0" in html
    assert "<h2>Configure and join</h2>" in html and "<th>sync standbys</th>" in html
    assert "SECRETPW" not in html and "postgresql://" not in html


def test_a_record_of_a_stack_not_registered_here_renders_without_its_table(tmp_path: Path) -> None:
    events = [{**EVENTS[0], "stack": "from-elsewhere"}, *EVENTS[1:]]
    for event in events:
        append_event(tmp_path / "events.jsonl", event)
    html = render_summary(tmp_path).read_text()
    assert 'id="stack"' not in html and "lab1" in html


def test_the_survive_checks_are_a_table_with_value_threshold_and_reason(tmp_path: Path) -> None:
    check = {"type": "check", "ts": T0 + 20, "cloud": "lab2", "phase": "survive", "scope": "lab2",
             "check": "unavailability", "outcome": "failed", "value": 31.5, "unit": "s", "threshold": 30,
             "reason": "longest write gap 31.5 s <during lab2 member-kill>", "details": {"secret": "pw-123"}}
    for event in [EVENTS[0], check]:
        append_event(tmp_path / "events.jsonl", event)
    html = render_summary(tmp_path).read_text()
    assert '<table class="figures" id="figures-lab2">' in html
    assert '<td class="failed" data-outcome="failed">failed</td>' in html
    assert "<td>31.5 s</td><td>≤ 30 s</td>" in html
    assert "&lt;during lab2 member-kill&gt;" in html and "pw-123" not in html  # escaped; details never shown
