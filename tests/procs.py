"""Running the real ``interop`` command from tests, bounded.

Importable from every test directory: tests/conftest.py puts this folder on ``sys.path``
(pytest's default "prepend" import mode does so for every conftest outside a package).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

INTEROP = [sys.executable, "-m", "harness.cli"]
ROOT = Path(__file__).resolve().parents[1]


def run_bounded(argv: Sequence[str], *, timeout: float, env: dict[str, str] | None = None,
                cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run a command in its own process group; past ``timeout`` kill the whole group and fail.

    ``interop run`` starts pytest-xdist workers: a plain ``subprocess.run`` timeout kills only
    the parent, leaves the workers running against the lab, and its error hides what the run
    printed. Here the failure shows the output's tail: where the run stood when it was stopped.
    """
    argv = list(argv)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})}, cwd=cwd, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
        pytest.fail(f"{' '.join(argv[2:5])} ... did not finish within {timeout:.0f}s; its output ended:\n"
                    f"{(out or '')[-4000:]}\n--- stderr ---\n{(err or '')[-2000:]}")
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def interop(*args: str, timeout: float = 300, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real ``interop`` command of this checkout, bounded (:func:`run_bounded`)."""
    return run_bounded([*INTEROP, *args], timeout=timeout, env=env)
