"""The ansible-runner wrapper (harness/configure/ansible.py), run for real on this machine.

The playbooks here use ``connection: local`` (no ssh), so these run anywhere ansible-core is
installed; the ssh path is exercised by tests/stacks/test_hosts_patroni_lab.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from harness.configure.ansible import run_playbook
from harness.errors import CloudError, HarnessError
from harness.record import RunDir, read_events

SECRET = "Zq3-very-secret-pw"
PLAYBOOK = """\
- name: First play
  hosts: all
  gather_facts: false
  tasks:
    - name: Say the password
      ansible.builtin.debug:
        msg: "the password is {{ db_password }} and key -----BEGIN OPENSSH PRIVATE KEY-----\\nabc\\n-----END OPENSSH PRIVATE KEY-----"
- name: Second play
  hosts: all
  gather_facts: false
  tasks:
    - name: Touch a file
      ansible.builtin.file:
        path: "{{ marker }}"
        state: touch
        mode: "0644"
      changed_when: true
    - name: Maybe fail
      ansible.builtin.command: /bin/sh -c 'echo broken disk >&2; exit 3'
      when: fail | default(false) | bool
      changed_when: false
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    (project / "play.yml").write_text(PLAYBOOK)
    return project


def _inventory() -> dict:
    return {"all": {"hosts": {"local-1": {"ansible_connection": "local", "ansible_host": "127.0.0.1",
                                          "ansible_python_interpreter": sys.executable}}}}


def _run(tmp_path: Path, project: Path, **extra: object) -> object:
    run = RunDir(tmp_path / "reports", "20261125T000000Z-abcd").create()
    return run, run_playbook(run, cloud="lab1", phase="configure", playbook="play.yml", inventory=_inventory(),
                             label="configure", timeout=120, project_dir=project,
                             extravars={"db_password": SECRET, "marker": str(tmp_path / "marker"), **extra})


def test_plays_are_timed_into_the_record_and_artifacts_scrubbed(tmp_path: Path, project: Path) -> None:
    run, result = _run(tmp_path, project)
    assert result.status == "successful" and result.summary.changed == 1
    notes = [e for e in read_events(run.events_path) if e.get("note") == "ansible-play"]
    assert [(n["cloud"], n["phase"], n["play"]) for n in notes] == [("lab1", "configure", "First play"),
                                                                   ("lab1", "configure", "Second play")]
    assert all(n["duration"] >= 0 for n in notes)
    assert [p["name"] for p in result.details["plays"]] == ["First play", "Second play"]
    assert result.details["artifacts"] == "artifacts/lab1/ansible-configure"
    art = run.path / "artifacts" / "lab1" / "ansible-configure"
    assert sorted(p.name for p in art.iterdir()) == ["events.jsonl", "stdout.txt", "summary.json"]
    everything = "".join(p.read_text() for p in art.iterdir())
    assert "the password is" in everything  # the output is there...
    assert SECRET not in everything and "-----BEGIN OPENSSH" not in everything  # ...without the secrets
    # the raw runner dir (with extra vars) stays in the run's private area only
    assert result.private_dir.is_relative_to(run.private_path())
    assert SECRET in (result.private_dir / "env" / "extravars").read_text()


def test_a_failed_task_is_a_cloud_error_with_host_task_and_message(tmp_path: Path, project: Path) -> None:
    with pytest.raises(CloudError) as info:
        _run(tmp_path, project, fail=True)
    err = info.value
    assert (err.cloud, err.phase) == ("lab1", "configure")
    assert "host local-1 (127.0.0.1): failed in task 'Maybe fail': broken disk; rc 3" in err.message
    summary = json.loads((tmp_path / "reports" / "20261125T000000Z-abcd" / "artifacts" / "lab1" /
                          "ansible-configure" / "summary.json").read_text())
    assert summary["failures"][0]["task"] == "Maybe fail"


def test_labels_are_unique_per_run_and_cloud(tmp_path: Path, project: Path) -> None:
    _, first = _run(tmp_path, project)
    _, second = _run(tmp_path, project)
    assert (first.label, second.label) == ("configure", "configure-2")


def test_a_broken_playbook_is_a_harness_error(tmp_path: Path, project: Path) -> None:
    (project / "play.yml").write_text("- hosts: all\n  tasks: [{name: x, no.such.module: {}}]\n")
    with pytest.raises(HarnessError, match="ended failed") as info:
        _run(tmp_path, project)
    assert not isinstance(info.value, CloudError)
