"""The dashboard as a browser shows it: headless Chromium loads index.html from disk (no network,
no script) and the matrix is read back from the DOM it built. Skips, with the install command,
when /usr/bin/chromium is absent."""

from __future__ import annotations

from pathlib import Path

from browser import dump_dom, requires_chromium, screenshot
from report_dom import read_matrix
from synthetic import PHASES, build_run

from harness.report import render_dashboard

REASON = "authentication failed: 401 The request you have made requires authentication (wrong password?)"
PNG = b"\x89PNG\r\n\x1a\n"


@requires_chromium
def test_chromium_shows_one_row_per_cloud_the_failed_cloud_with_its_reason_and_the_others_passed(
        tmp_path: Path) -> None:
    run = build_run(tmp_path / "20261118T000000Z-abcd", clouds=["lab1", "lab2", "lab3"], stack="hosts-patroni",
                    fail={"lab2": ("identity", REASON)})
    index = render_dashboard(run)

    phases, rows = read_matrix(dump_dom(index))
    assert phases == list(PHASES)
    assert [r.cloud for r in rows] == ["lab1", "lab2", "lab3"]
    for row in rows:
        assert list(row.cells) == phases, row.cloud  # one cell per phase
    failed = rows[1]
    assert failed.outcome == "failed"
    assert failed.cells["identity"][0] == "failed" and REASON in failed.cells["identity"][1]
    later = [cell for p, cell in failed.cells.items() if p not in ("identity", "teardown")]
    assert later and all(cell == ("not-run", "○ not run not run: identity failed") for cell in later)
    for row in (rows[0], rows[2]):
        assert row.outcome == "passed" and {o for o, _ in row.cells.values()} == {"passed"}, row.cloud

    shot = screenshot(index, run / "artifacts" / "dashboard.png")
    assert shot == run / "artifacts" / "dashboard.png"
    assert shot.read_bytes()[:8] == PNG and shot.stat().st_size > 10_000
