"""Shared fixtures: pytester, and the real local lab for tests marked ``lab``.

The lab is found through ``INTEROP_LAB_DIR`` (default ``/var/tmp/interop-lab``). Tests that
need it skip, with the reason, when it is not up; ``make test`` brings it up first.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.lab import LabInfo, default_state_dir, lab_status, read_lab_info

pytest_plugins = ["pytester"]


@pytest.fixture(scope="session")
def lab_state_dir() -> Path:
    state_dir = default_state_dir()
    status = lab_status(state_dir)
    if not status.up:
        down = [s.name for s in status.services if not s.running]
        pytest.skip(f"the lab in {state_dir} is not up (not running: {', '.join(down)}); "
                    "run `interop lab up` or set INTEROP_LAB_DIR")
    return state_dir


@pytest.fixture(scope="session")
def lab_info(lab_state_dir: Path) -> LabInfo:
    info = read_lab_info(lab_state_dir)
    if info is None:
        pytest.skip(f"the lab in {lab_state_dir} runs but has registered no clouds; run `interop lab up`")
    return info
