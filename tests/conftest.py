"""Shared fixtures: pytester, and the real local lab for tests marked ``lab``.

The lab is found through ``INTEROP_LAB_DIR`` (default ``/var/tmp/interop-lab``). Tests that
need it skip, with the reason, when it is not up; ``make test`` brings it up first.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from interop_lab import LabInfo

pytest_plugins = ["pytester"]


@pytest.fixture(scope="session")
def lab_state_dir() -> Path:
    from interop_lab import default_state_dir, lab_status  # only the lab tests import the lab

    state_dir = default_state_dir()
    status = lab_status(state_dir)
    if not status.up:
        down = [s.name for s in status.services if not s.running]
        pytest.skip(f"the lab in {state_dir} is not up (not running: {', '.join(down)}); "
                    "run `interop lab up` or set INTEROP_LAB_DIR")
    return state_dir


@pytest.fixture(scope="session")
def lab_info(lab_state_dir: Path) -> LabInfo:
    from interop_lab import read_lab_info

    info = read_lab_info(lab_state_dir)
    if info is None:
        pytest.skip(f"the lab in {lab_state_dir} runs but has registered no clouds; run `interop lab up`")
    return info


@pytest.fixture
def clouds_yaml(tmp_path: Path) -> Path:
    """A clouds.yaml with one cloud, lab1, whose endpoint does not answer (port 9 on loopback)."""
    path = tmp_path / "clouds.yaml"
    path.write_text("clouds:\n  lab1:\n    auth: {auth_url: 'http://127.0.0.1:9/v3', username: u, password: p}\n")
    return path


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """``run_cli("run", "--challenge", f)`` -> (exit code, stdout, stderr) of the `interop` command."""
    from harness import cli

    def run(*argv: str) -> tuple[int, str, str]:
        rc = cli.main(list(argv))
        out, err = capsys.readouterr()
        return rc, out, err

    return run
