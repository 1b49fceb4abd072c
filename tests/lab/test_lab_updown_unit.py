"""lab up / down / status on directories without a lab: clear errors, nothing touched."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import LabError
from interop_lab import lab_down, lab_status, lab_up
from interop_lab.plan import START_ORDER


def test_lab_up_needs_at_least_one_cloud(tmp_path: Path) -> None:
    with pytest.raises(LabError, match="at least one cloud"):
        lab_up(tmp_path / "lab", clouds=0, log=lambda line: None)
    assert not (tmp_path / "lab").exists()


def test_lab_up_reads_its_image_files_before_touching_anything(tmp_path: Path) -> None:
    bad = tmp_path / "stack.yml"
    bad.write_text("image:\n  venvs:\n    /opt/x: tool==1\n")
    with pytest.raises(LabError, match=r"stack\.yml: image\.venvs\./opt/x: expected a list of requirements"):
        lab_up(tmp_path / "lab", clouds=1, log=lambda line: None, image_files=[bad])
    assert not (tmp_path / "lab").exists()


def test_lab_down_without_a_lab_is_a_noop(tmp_path: Path) -> None:
    lines: list[str] = []
    lab_down(tmp_path / "nothing", purge=True, log=lines.append)
    assert any("no lab at" in line for line in lines)


def test_purge_refuses_a_directory_that_is_not_a_lab(tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "data.txt").write_text("keep me")
    with pytest.raises(LabError, match="not a lab state directory"):
        lab_down(precious, purge=True, log=lambda line: None)
    assert [p.name for p in precious.iterdir()] == ["data.txt"]


def test_status_of_a_missing_lab(tmp_path: Path) -> None:
    status = lab_status(tmp_path / "nothing")
    assert not status.up and status.clouds == [] and status.rss_mib == 0
    assert [s.name for s in status.services] == list(START_ORDER)
    assert not any(s.running for s in status.services)
