"""The dashboard of a real lab run with one broken cloud (a wrong password in clouds.yaml), as
headless Chromium shows it; and no secret anywhere in the reports, the history included.

Marked ``lab``: one `interop run` over 3 lab clouds (about 3 minutes), survive on with one
process kill per good cloud so the page has throughput to draw.
"""

from __future__ import annotations

import json
from pathlib import Path

import procs
import pytest
import yaml
from browser import dump_dom, requires_chromium, screenshot
from leaks import assert_no_secrets_in
from report_dom import read_matrix

from harness.record import new_run_id, read_events

pytestmark = [pytest.mark.lab, pytest.mark.timeout(900)]

CLOUDS = ["lab1", "lab2", "lab3"]
BROKEN = "lab3"
PNG = b"\x89PNG\r\n\x1a\n"


@requires_chromium
def test_a_run_with_a_wrong_password_shows_that_cloud_failed_with_its_reason_and_the_others_passed(
        lab_info, tmp_path: Path) -> None:  # noqa: ANN001 (LabInfo: the lab is imported by its fixture only)
    clouds = yaml.safe_load(Path(lab_info.clouds_yaml).read_text())
    clouds["clouds"][BROKEN]["auth"]["password"] = "not-" + clouds["clouds"][BROKEN]["auth"]["password"]
    clouds_yaml = tmp_path / "clouds.yaml"
    clouds_yaml.write_text(yaml.safe_dump(clouds))
    challenge = yaml.safe_load(Path(lab_info.challenge_yaml).read_text())
    challenge["name"] = "Lab challenge, one cloud with a wrong password"
    challenge["clouds"] = {c: {} for c in CLOUDS}
    challenge["survival"] = {"faults": ["process-kill"], "baseline_s": 4, "hold_s": 4, "settle_s": 3}
    path = tmp_path / "challenge.yaml"
    path.write_text(yaml.safe_dump(challenge))
    reports, run_id = tmp_path / "reports", new_run_id()

    done = procs.run_bounded([*procs.INTEROP, "run", "--challenge", str(path), "--reports-dir", str(reports),
                              "--run-id", run_id], timeout=600, env={"OS_CLIENT_CONFIG_FILE": str(clouds_yaml)})
    run = reports / run_id
    assert done.returncode != 0, "a run with a broken cloud must not pass"
    ends = {(e["cloud"], e["phase"]): e for e in read_events(run / "events.jsonl") if e["type"] == "phase-end"}
    assert ends[(BROKEN, "identity")]["outcome"] == "failed", done.stdout[-3000:]

    phases, rows = read_matrix(dump_dom(run / "index.html"))
    assert [r.cloud for r in rows] == CLOUDS
    assert "identity" in phases and "survive" in phases and "teardown" in phases
    for row in rows:
        assert list(row.cells) == phases, row.cloud  # one cell per phase
    broken = rows[CLOUDS.index(BROKEN)]
    outcome, text = broken.cells["identity"]
    assert broken.outcome == "failed" and outcome == "failed"
    assert "401" in text or "auth" in text.lower(), text  # the reason, as Keystone gave it
    assert all(o != "passed" for p, (o, _) in broken.cells.items() if p != "identity")
    for row in rows:
        if row.cloud != BROKEN:
            bad = {p: cell for p, cell in row.cells.items() if cell[0] != "passed"}
            assert row.outcome == "passed" and not bad, (row.cloud, bad, [
                (e["phase"], e.get("error")) for e in ends.values() if e["cloud"] == row.cloud and e.get("error")])

    shot = screenshot(run / "index.html", run / "artifacts" / "dashboard.png")
    assert shot.read_bytes()[:8] == PNG and shot.stat().st_size > 10_000
    print(f"screenshot: {shot}")

    history = reports / "history.jsonl"
    assert [json.loads(line)["run_id"] for line in history.read_text().splitlines()] == [run_id]
    assert (run / "refstack" / "lab1.json").is_file() and not (run / "refstack" / f"{BROKEN}.json").exists()
    files = assert_no_secrets_in(run, clouds_yaml, also=(history, reports / "history.html"))
    assert any(p.name == "junit-record.xml" for p in files) and any("survive" in p.parts for p in files)
