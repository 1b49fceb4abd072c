"""`interop clouds` and `interop run` against the real lab clouds, through the real command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from procs import run_bounded

from interop_lab import LabInfo
from interop_lab.content import FLAVOR_NAME, IMAGE_NAME

pytestmark = pytest.mark.lab
INTEROP = str(Path(sys.executable).with_name("interop"))


def interop(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return run_bounded([INTEROP, *args], timeout=timeout, env=env)


def three(lab_info: LabInfo) -> list[str]:
    if len(lab_info.cloud_names) < 3:
        pytest.skip(f"needs 3 lab clouds, the lab has {lab_info.cloud_names}")
    return lab_info.cloud_names[:3]


@pytest.fixture
def wrong_password_clouds(lab_info: LabInfo, tmp_path: Path) -> Path:
    """The lab's clouds.yaml with lab2's password changed."""
    data = yaml.safe_load(lab_info.clouds_yaml.read_text())
    data["clouds"]["lab2"]["auth"]["password"] = "not-the-password"
    path = tmp_path / "clouds.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_clouds_lists_every_lab_cloud_with_latency(lab_info: LabInfo) -> None:
    names = three(lab_info)
    proc = interop("clouds", "--clouds-yaml", str(lab_info.clouds_yaml))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {line.split()[0]: line for line in proc.stdout.splitlines()[2:]}
    for name in names:
        assert " ok " in rows[name] and " ms " in rows[name], rows[name]
    # the password is never printed
    secret = yaml.safe_load(lab_info.clouds_yaml.read_text())["clouds"]["lab1"]["auth"]["password"]
    assert secret not in proc.stdout + proc.stderr


def test_discover_proposes_the_lab_image_flavor_and_floating_ips(lab_info: LabInfo) -> None:
    proc = interop("clouds", "--discover", "--clouds", "lab1", "--clouds-yaml", str(lab_info.clouds_yaml))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proposal = yaml.safe_load(proc.stdout)
    assert proposal["clouds"]["lab1"] == {"image": IMAGE_NAME, "flavor": FLAVOR_NAME, "floating_ip": "auto"}


def test_clouds_with_one_wrong_password_fails_that_cloud_only(lab_info: LabInfo, wrong_password_clouds: Path) -> None:
    three(lab_info)
    proc = interop("clouds", "--clouds-yaml", str(wrong_password_clouds))
    assert proc.returncode == 1
    rows = {line.split()[0]: line for line in proc.stdout.splitlines()[2:]}
    assert "FAILED" in rows["lab2"] and "authentication refused" in rows["lab2"]
    assert " ok " in rows["lab1"] and " ok " in rows["lab3"]
    assert "not-the-password" not in proc.stdout + proc.stderr


def phase_ends(run_dir: Path) -> dict[tuple[str, str], dict]:
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    return {(e["cloud"], e["phase"]): e for e in events if e["type"] == "phase-end"}


def test_run_times_identity_on_every_cloud(lab_info: LabInfo, tmp_path: Path) -> None:
    names = three(lab_info)
    reports = tmp_path / "reports"
    proc = interop("run", "--challenge", str(lab_info.challenge_yaml), "--clouds-yaml", str(lab_info.clouds_yaml),
                   "--reports-dir", str(reports), "--run-id", "lab-run", "--clouds", ",".join(names), "--", "-k", "identity")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    for name in names:
        assert f"[{name}] identity passed" in proc.stdout
    ends = phase_ends(reports / "lab-run")
    for name in names:
        end = ends[(name, "identity")]
        assert end["outcome"] == "passed" and end["duration"] > 0
        assert end["details"]["cpid"] and "compute" in end["details"]["services"]
    assert len({ends[(n, "identity")]["details"]["cpid"] for n in names}) == 1  # one Keystone, one cpid
    assert (reports / "lab-run" / "index.html").is_file() and (reports / "lab-run" / "junit.xml").is_file()
    assert (reports / "latest").resolve() == (reports / "lab-run").resolve()


def test_run_with_one_broken_cloud_still_runs_the_others(lab_info: LabInfo, wrong_password_clouds: Path,
                                                          tmp_path: Path) -> None:
    names = three(lab_info)
    reports = tmp_path / "reports"
    proc = interop("run", "--challenge", str(lab_info.challenge_yaml), "--clouds-yaml", str(wrong_password_clouds),
                   "--reports-dir", str(reports), "--run-id", "broken", "--clouds", ",".join(names), "--", "-k", "identity")
    assert proc.returncode == 1
    ends = phase_ends(reports / "broken")
    assert ends[("lab2", "identity")]["outcome"] == "failed"
    assert "authentication refused" in ends[("lab2", "identity")]["error"]
    assert ends[("lab1", "identity")]["outcome"] == "passed" and ends[("lab3", "identity")]["outcome"] == "passed"
    assert "not-the-password" not in (reports / "broken" / "events.jsonl").read_text()
