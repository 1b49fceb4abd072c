"""export_all over synthetic runs; history.html and the comparison page; no secret in any output."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from records import T0, Record, passing_cloud

from harness.errors import ConfigError
from harness.report.exporters import compare_runs, export_all
from harness.report.trends import load_history
from harness.report.trends_html import comparison_html, history_html

PHASES = [("identity", 0.4), ("servers", 12.5), ("deploy", 30.0), ("survive", 60.0), ("teardown", 3.0)]
SECRETS = ("hunter2", "S3cretPW", "note-pw-77", "gAAAA-token", "BEGIN OPENSSH PRIVATE KEY", "alice")


def _run(reports: Path, run_id: str, t0: float, servers: float = 12.5, *, ended: bool = True) -> Path:
    rec = Record(run_id, ["lab1", "lab2"], stack="hosts-patroni", t0=t0, challenge="/home/alice/boston.yaml")
    passing_cloud(rec, "lab1", [(p, servers if p == "servers" else d) for p, d in PHASES])
    rec.check("lab1", "unavailability", "passed", 4.2, "s", 30)
    rec.phase("lab2", "identity", 3.1, "failed", "authentication refused for password=hunter2 at "
              "postgresql://app:S3cretPW@db/x", details={"password": "hunter2", "token": "gAAAA-token"})
    rec.note("lab2", "identity", "auth", password="note-pw-77", private_key="-----BEGIN OPENSSH PRIVATE KEY-----x")
    if ended:
        rec.end()
    return rec.write(reports / run_id)


def test_export_all_writes_every_report_and_says_what_it_did_not(tmp_path: Path) -> None:
    run = _run(tmp_path, "r1", T0)
    done = export_all(run)
    names = [p.relative_to(tmp_path).as_posix() for p in done.paths]
    assert names == ["r1/junit-record.xml", "r1/refstack/lab1.json", "history.jsonl", "history.html"]
    assert all(p.is_file() for p in done.paths)
    assert done.messages == ["refstack: no file for lab2: no passed check (identity failed: authentication "
                             "refused for password=******** at postgresql://app:********@db/x)"]
    export_all(run)  # `interop report RUN` again
    assert len((tmp_path / "history.jsonl").read_text().splitlines()) == 1


def test_no_secret_reaches_any_written_file(tmp_path: Path) -> None:
    done = export_all(_run(tmp_path, "r1", T0))
    for path in done.paths:
        text = path.read_text()
        for secret in SECRETS:
            assert secret not in text, (path.name, secret)


def test_an_unfinished_run_gets_no_history_line(tmp_path: Path) -> None:
    done = export_all(_run(tmp_path, "r1", T0, ended=False))
    assert not (tmp_path / "history.jsonl").exists()
    assert "history: the run has not ended, so it gets no line in the history yet" in done.messages
    assert (tmp_path / "history.html").is_file()


class _Page(HTMLParser):
    """Checks nesting and collects svg attributes, their titles and the tables' cells."""

    VOID = {"meta", "br", "img", "input", "link", "hr"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.svgs: list[dict[str, str | None]] = []
        self.tags: list[str] = []
        self.titles: list[str] = []
        self.cells: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "svg":
            self.svgs.append(dict(attrs))
        if tag not in self.VOID and tag not in ("circle", "line", "path", "polyline"):
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack.pop() == tag, f"</{tag}> closes {self.stack[-1:]}"

    def handle_data(self, data: str) -> None:
        if self.stack[-1:] == ["title"] and "svg" in self.stack:
            self.titles.append(data)
        if self.stack[-1:] == ["td"]:
            self.cells.append(data)


def test_history_html_charts_each_cloud_over_the_last_runs(tmp_path: Path) -> None:
    for i, servers in enumerate((11.0, 13.0, 41.0)):
        export_all(_run(tmp_path, f"r{i}", T0 + 3600 * i, servers))
    html = (tmp_path / "history.html").read_text()
    page = _Page()
    page.feed(html)
    assert page.stack == []  # well nested
    assert "script" not in page.tags and "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert [s.get("role") for s in page.svgs] == ["img", "img"]
    assert page.titles == ["lab1: phase durations over 3 runs", "lab2: phase durations over 3 runs"]
    assert "servers 11.0 to 41.0 s" in html  # the description says what the chart shows
    assert "identity never passed, did not pass in 3 runs" in html
    assert ["11.00 s", "13.00 s", "41.00 s"] == [c for c in page.cells if c in ("11.00 s", "13.00 s", "41.00 s")]
    assert html.count("<polyline") == 5  # lab1: one line per phase; lab2 has only crosses
    assert len(re.findall(r'<path d="M', html)) == 3
    last2 = history_html(load_history(tmp_path / "history.jsonl")[-2:], 3)
    assert "The last 2 of 3 runs" in last2 and "11.00 s" not in last2 and "41.00 s" in last2


def test_names_are_escaped_in_the_pages() -> None:
    run = {"run_id": "r<1>", "challenge": "a&b", "stack": "s", "started": T0,
           "clouds": {"<lab>": {"outcome": "passed", "phases": {"x<y": {"duration": 1.0, "outcome": "passed"}}}}}
    html = history_html([run])
    assert "<lab>" not in html and "&lt;lab&gt;" in html and "x&lt;y" in html and "a&amp;b" in html
    _Page().feed(html)


def test_compare_two_runs_from_the_history_or_their_records(tmp_path: Path) -> None:
    export_all(_run(tmp_path, "r1", T0, 10.0))
    _run(tmp_path, "r2", T0 + 3600, 20.0)  # never exported: read from its record
    comparison = compare_runs(tmp_path, "r1", "r2")
    verdicts = {(c.cloud, c.phase): c.verdict for c in comparison.changes}
    assert verdicts[("lab1", "servers")] == "slower" and verdicts[("lab1", "deploy")] == "same"
    assert verdicts[("lab2", "identity")] == "n/a"
    page = comparison_html(comparison)
    assert '<tr class="slower"><td>lab1</td><td>servers</td><td>10.00 s</td><td>20.00 s</td><td>+10.00 s (+100%)</td>' in page
    assert '<tr class="n-a"><td>lab2</td><td>identity</td>' in page
    with pytest.raises(ConfigError, match="no run 'nope'"):
        compare_runs(tmp_path, "r1", "nope")


def test_fifty_clouds_by_twelve_phases_export_every_file(tmp_path: Path) -> None:
    # how fast is benchmarks/bench_report.py's to say, not a timed test's
    phases = [(f"phase-{i}", 1.0 + i) for i in range(12)]
    clouds = [f"cloud{i:02d}" for i in range(50)]
    rec = Record("big", clouds, t0=T0)
    for cloud in clouds:
        passing_cloud(rec, cloud, [("identity", 0.5), *phases[1:]])
        for check in ("unavailability", "throughput-ratio", "recovery-time"):
            rec.check(cloud, check, "passed", 1.0, "s", 30)
    run = rec.end().write(tmp_path / "big")
    done = export_all(run)
    assert len(done.paths) == 53, done.paths
    assert json.loads((run / "refstack" / "cloud07.json").read_text())["duration_seconds"] == round(0.5 + sum(
        d for _, d in phases[1:]))
