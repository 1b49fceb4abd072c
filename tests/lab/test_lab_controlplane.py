"""The running lab as a whole: idempotent bring-up, status, private files, generated files."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import pytest
import yaml

from harness.challenge import load_challenge
from interop_lab import LabInfo, lab_status, lab_up
from interop_lab.content import FLAVOR_NAME, IMAGE_NAME
from interop_lab.outputs import LAB_TIMEOUTS
from interop_lab.plan import START_ORDER

pytestmark = pytest.mark.lab


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_status_reports_every_service_running(lab_state_dir: Path, lab_info: LabInfo) -> None:
    status = lab_status(lab_state_dir)
    assert [s.name for s in status.services] == list(START_ORDER)
    assert all(s.running and s.pid for s in status.services), [s for s in status.services if not s.running]
    assert status.clouds == lab_info.cloud_names
    assert 0 < status.rss_mib < 3 * 1024


def test_second_lab_up_is_a_noop(lab_state_dir: Path, lab_info: LabInfo) -> None:
    before = {s.name: s.pid for s in lab_status(lab_state_dir).services}
    lines: list[str] = []
    started = time.monotonic()
    info = lab_up(lab_state_dir, clouds=len(lab_info.cloud_names), log=lines.append)
    took = time.monotonic() - started
    assert info.noop and info.started == []
    assert {s.name: s.pid for s in lab_status(lab_state_dir).services} == before
    assert info.cloud_names == lab_info.cloud_names
    assert took < 10, f"the no-op took {took:.1f}s"
    running_lines = [line for line in lines if "already running" in line]
    assert len(running_lines) == len(START_ORDER), lines


def test_private_files_are_0600(lab_state_dir: Path, lab_info: LabInfo) -> None:
    assert mode(lab_state_dir / "secrets.json") == 0o600
    assert mode(lab_info.clouds_yaml) == 0o600
    assert mode(lab_info.admin_clouds_yaml) == 0o600


def test_clouds_yaml_holds_only_the_tenant_clouds(lab_info: LabInfo) -> None:
    clouds = yaml.safe_load(lab_info.clouds_yaml.read_text())["clouds"]
    assert list(clouds) == lab_info.cloud_names
    for name, entry in clouds.items():
        assert entry["auth"]["project_name"] == entry["auth"]["username"] == f"interop-{name}"
        assert entry["auth"]["auth_url"] == "http://127.0.0.1:5000/v3"
        assert entry["region_name"] == "RegionOne" and entry["interface"] == "public"
        assert entry["identity_api_version"] == 3
    passwords = [entry["auth"]["password"] for entry in clouds.values()]
    assert len(set(passwords)) == len(passwords) and all(len(p) >= 24 for p in passwords)


def test_challenge_yaml_names_the_lab_clouds(lab_info: LabInfo) -> None:
    challenge = yaml.safe_load(lab_info.challenge_yaml.read_text())
    assert challenge == {  # no stack: the lab names none, the challenge schema's default applies
        "clouds": {name: {} for name in lab_info.cloud_names},
        "defaults": {"image": IMAGE_NAME, "flavor": FLAVOR_NAME, "floating_ip": "auto", "nodes": 2, "ssh_user": "root"},
        "timeouts": LAB_TIMEOUTS,
    }
    load_challenge(lab_info.challenge_yaml, known_clouds=lab_info.cloud_names)  # valid, timeouts included
