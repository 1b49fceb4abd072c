"""The Ansible tools of the venv, run the way the playbook tests run them (imported by tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    """The venv's ``name`` (ansible-playbook, ansible-lint, yamllint); skip the test if absent."""
    path = BIN / name
    if not path.exists():
        pytest.skip(f"{name} is not installed (pip install -e '.[test]')")
    return str(path)


def run(*cmd: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``cmd`` in ``cwd`` with only the venv and the system on PATH, no colours, bounded."""
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(Path.home()), "ANSIBLE_NOCOLOR": "1"})
