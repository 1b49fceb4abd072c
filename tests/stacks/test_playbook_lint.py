"""Every stack's playbooks are yamllint and ansible-lint clean (each with its own configs)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playbook_tools import run, tool

import harness.stacks

PLAYBOOK_DIRS = sorted(Path(harness.stacks.__file__).parent.glob("*/playbooks"))


def test_every_stack_with_playbooks_is_linted() -> None:
    assert {"hosts_patroni", "k8s_cockroach"} <= {d.parent.name for d in PLAYBOOK_DIRS}


@pytest.mark.parametrize("playbooks", PLAYBOOK_DIRS, ids=lambda d: d.parent.name)
def test_yamllint_clean(playbooks: Path) -> None:
    r = run(tool("yamllint"), "-s", "-c", ".yamllint", ".", cwd=playbooks)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("playbooks", PLAYBOOK_DIRS, ids=lambda d: d.parent.name)
def test_ansible_lint_clean(playbooks: Path) -> None:
    r = run(tool("ansible-lint"), "--offline", "--nocolor", "-p", cwd=playbooks)
    assert r.returncode == 0, r.stdout + r.stderr
