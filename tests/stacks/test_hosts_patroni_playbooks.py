"""The playbooks: lint clean, syntactically valid, versions pinned like the lab's image, and
the standalone defaults (sync standbys) right. Running them is tests/stacks/test_hosts_patroni_lab.py."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from playbook_tools import run, tool

from harness.errors import ConfigError
from harness.stacks.hosts_patroni import pins
from harness.stacks.hosts_patroni.phases import PLAYBOOKS

_tool = tool


def _run(*cmd: str, cwd: Path = PLAYBOOKS) -> subprocess.CompletedProcess[str]:
    return run(*cmd, cwd=cwd)


@pytest.mark.parametrize("playbook", ["site.yml", "prepare.yml", "deploy.yml"])
def test_syntax(playbook: str) -> None:
    r = _run(_tool("ansible-playbook"), "--syntax-check", "-i", "localhost,", playbook)
    assert r.returncode == 0, r.stdout + r.stderr


def test_pins_are_the_playbooks_group_vars() -> None:
    """One source: the values the harness passes are the group vars the playbooks read alone."""
    group_vars = yaml.safe_load((PLAYBOOKS / "group_vars" / "all" / "pins.yml").read_text())
    assert pins.PINS_FILE == PLAYBOOKS / "group_vars" / "all" / "pins.yml"
    for key, value in pins.load().extravars().items():
        assert str(group_vars[key]) == str(value), key


def test_pins_that_contradict_themselves_name_the_field() -> None:
    data = yaml.safe_load(pins.PINS_FILE.read_text())
    data["patroni_version"] = "9.9.9"
    with pytest.raises(ConfigError, match=r"image\.venvs\./opt/patroni does not pin patroni==9\.9\.9"):
        pins.parse(data)
    data = yaml.safe_load(pins.PINS_FILE.read_text())
    data["pg_version"] = 16
    with pytest.raises(ConfigError, match="image.apt lacks postgresql-16"):
        pins.parse(data)


@pytest.mark.parametrize(("clouds", "expected"), [
    ({"a": 2, "b": 2, "c": 2}, 2),   # one sync standby is always outside the leader's cloud
    ({"a": 3, "b": 1}, 3),
    ({"a": 1, "b": 1, "c": 1}, 1),
    ({"a": 2}, 1),                    # capped at members - 1
], ids=["3x2", "3+1", "3x1", "1x2"])
def test_standalone_sync_standbys_default(tmp_path: Path, clouds: dict[str, int], expected: int) -> None:
    """group_vars/all.yml computes db_sync_standbys from the inventory like plan_cluster does."""
    shutil.copytree(PLAYBOOKS / "group_vars", tmp_path / "group_vars")
    (tmp_path / "show.yml").write_text(
        "- hosts: patroni\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.debug: {msg: \"SYNC={{ db_sync_standbys | int }}\"}\n      run_once: true\n")
    hosts = {f"{c}{i}": {"cloud": c, "ansible_connection": "local", "ansible_python_interpreter": sys.executable}
             for c, n in clouds.items() for i in range(n)}
    (tmp_path / "inv.json").write_text(json.dumps({"all": {"children": {"patroni": {"hosts": hosts}}}}))
    r = _run(_tool("ansible-playbook"), "-i", "inv.json", "show.yml", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"SYNC={expected}" in r.stdout


@pytest.mark.parametrize(("members", "senders", "slots"), [(2, 10, 10), (6, 14, 10), (12, 26, 14)])
def test_patroni_config_has_a_wal_sender_for_every_member_and_a_basebackup(
        tmp_path: Path, members: int, senders: int, slots: int) -> None:
    """Each replica holds a WAL sender and a slot; a new one's pg_basebackup two more senders."""
    hosts = {f"m{i}": {"cloud": f"c{i % 3}", "public_ip": f"10.9.0.{i + 1}", "private_ip": f"10.8.0.{i + 1}",
                       "ansible_connection": "local", "ansible_python_interpreter": sys.executable}
             for i in range(members)}
    inventory = {"all": {"children": {"patroni": {"hosts": hosts}, "etcd": {"hosts": {"m0": {}}}}}}
    (tmp_path / "inv.json").write_text(json.dumps(inventory))
    out = tmp_path / "patroni.yml"
    (tmp_path / "render.yml").write_text(
        "- hosts: m0\n  gather_facts: false\n  tasks:\n"
        f"    - ansible.builtin.template: {{src: {PLAYBOOKS / 'templates' / 'patroni.yml.j2'}, dest: {out}}}\n")
    secrets = {k: "x" for k in ("db_superuser_password", "db_replication_password", "db_rewind_password",
                                "db_password")}
    shutil.copytree(PLAYBOOKS / "group_vars", tmp_path / "group_vars")
    r = _run(_tool("ansible-playbook"), "-i", "inv.json", "render.yml", "-e", json.dumps(secrets), cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    params = yaml.safe_load(out.read_text())["bootstrap"]["dcs"]["postgresql"]["parameters"]
    assert (params["max_wal_senders"], params["max_replication_slots"]) == (senders, slots)
