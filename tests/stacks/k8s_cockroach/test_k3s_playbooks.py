"""The k3s playbooks: lint clean, syntactically valid, pinned from one source, their firewall
ports equal to the stack's security-group rules, their airgap file names equal to the Python
preflight's, and the k3s flags they render right for 1 and 3 servers. Running prepare.yml on
lab servers is test_k3s_prepare_lab.py; the k3s plays never run here (no k3s binary)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from playbook_tools import run, tool

from harness.errors import ConfigError
from harness.stacks.k8s_cockroach import airgap, pins
from harness.stacks.k8s_cockroach.pins import PLAYBOOKS
from harness.stacks.k8s_cockroach.stack import RULES

pytestmark = pytest.mark.k8s

PLAYBOOK_FILES = sorted(p.name for p in PLAYBOOKS.glob("*.yml"))
_tool = tool


def _run(*cmd: str, cwd: Path = PLAYBOOKS) -> subprocess.CompletedProcess[str]:
    return run(*cmd, cwd=cwd)


def _defaults() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((PLAYBOOKS / "group_vars" / "all" / "defaults.yml").read_text())
    return data


def test_every_playbook_is_checked() -> None:
    assert PLAYBOOK_FILES == ["airgap.yml", "configure.yml", "prepare.yml"]


@pytest.mark.parametrize("playbook", PLAYBOOK_FILES)
def test_syntax(playbook: str) -> None:
    r = _run(_tool("ansible-playbook"), "--syntax-check", "-i", "localhost,", playbook)
    assert r.returncode == 0, r.stdout + r.stderr


def test_prepare_needs_no_k3s_binary() -> None:
    """The dry run calls prepare.yml alone: it must not touch the k3s binary, unit or service."""
    texts = [(PLAYBOOKS / "prepare.yml").read_text()]
    texts += [p.read_text() for p in (PLAYBOOKS / "roles" / "prepare").rglob("*") if p.is_file()]
    for text in texts:
        for word in ("k3s_bin", "systemd", "get_url", "k3s_install", "k3s_server", "k3s_agent"):
            assert word not in text, word
    plays = yaml.safe_load((PLAYBOOKS / "prepare.yml").read_text())
    assert [p["tags"] for p in plays] == [["prepare"]]


def test_firewall_ports_are_the_security_group_rules() -> None:
    """The node firewall opens exactly the ports the stack's security group does."""
    rules = {(r.protocol, r.ports[0], r.ports[1]) for r in RULES if r.ports is not None}
    playbook = {(p["proto"], p["from"], p["to"]) for p in _defaults()["k3s_firewall_ports"]}
    assert playbook == rules
    assert {p["purpose"] for p in _defaults()["k3s_firewall_ports"]} == {r.purpose for r in RULES if r.ports}


def test_pins_are_the_playbooks_group_vars() -> None:
    group_vars = yaml.safe_load(pins.PINS_FILE.read_text())
    assert pins.PINS_FILE == PLAYBOOKS / "group_vars" / "all" / "pins.yml"
    for key, value in pins.load().extravars().items():
        assert str(group_vars[key]) == str(value), key
    assert pins.load().cockroach_image == f"docker.io/cockroachdb/cockroach:{group_vars['cockroach_version']}"


@pytest.mark.parametrize(("field", "value", "message"), [
    ("k3s_version", "1.33.5", "k3s_version '1.33.5' is not a k3s release tag"),
    ("cockroach_version", "latest", "cockroach_version 'latest' is not a CockroachDB release"),
    ("cockroach_image", "cockroachdb/cockroach:latest", "is not tagged v"),
    ("k3s_arches", {"armv7l": "arm"}, "k3s_arches maps to arm"),
])
def test_malformed_pins_name_the_field(field: str, value: Any, message: str) -> None:
    data = yaml.safe_load(pins.PINS_FILE.read_text())
    data[field] = value
    with pytest.raises(ConfigError, match=message):
        pins.parse(data)
    del data[field]
    with pytest.raises(ConfigError, match="missing or malformed field"):
        pins.parse(data)


def _render(tmp_path: Path, hosts: dict[str, dict[str, Any]], groups: dict[str, list[str]], expr: str,
            extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """``expr`` as each host of the inventory sees it with the playbooks' group vars (JSON)."""
    shutil.copytree(PLAYBOOKS / "group_vars", tmp_path / "group_vars")
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    children = {g: {"hosts": {h: {} for h in members}} for g, members in groups.items()}
    children["cloud_a"] = {"hosts": {h: {**local, **v} for h, v in hosts.items()}}
    (tmp_path / "inv.json").write_text(json.dumps({"all": {"children": children}}))
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "show.yml").write_text(
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        f"    - ansible.builtin.copy: {{content: \"{{{{ ({expr}) | to_json }}}}\", dest: \"{out}/{{{{ inventory_hostname }}}}.json\"}}\n")
    r = _run(_tool("ansible-playbook"), "-i", "inv.json", "show.yml", "-e", json.dumps(extra or {}), cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    return {p.stem: json.loads(p.read_text()) for p in out.glob("*.json")}


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_airgap_names_are_the_preflights(tmp_path: Path, arch: str) -> None:
    """The playbooks look for and copy the same files the Python preflight names."""
    got = _render(tmp_path, {"n1": {}}, {"k3s": ["n1"]},
                  "[k3s_binary_asset] + k3s_images_assets + [cockroach_image_asset]", {"k3s_arch": arch})
    expected = [n for f in airgap.expected_files(arch) for n in f.names]
    assert got["n1"] == expected
    release = _render(tmp_path / "url", {"n1": {}}, {"k3s": ["n1"]}, "k3s_release_url")
    assert release["n1"] == airgap.release_url(pins.load())


def _node(i: int) -> dict[str, Any]:
    return {"public_ip": f"203.0.113.{i}", "private_ip": f"10.0.0.{i}", "cloud": "a"}


def test_k3s_flags_single_server_and_agents(tmp_path: Path) -> None:
    hosts = {f"n{i}": _node(i) for i in (1, 2, 3)}
    groups = {"k3s": list(hosts), "k3s_server": ["n1"], "k3s_agent": ["n2", "n3"]}
    server = _render(tmp_path, hosts, groups, "k3s_server_config", {"k3s_flannel_iface": "ens3"})["n1"]
    assert server == {
        "node-name": "n1", "node-ip": "10.0.0.1", "node-external-ip": "203.0.113.1", "flannel-iface": "ens3",
        "token-file": "/etc/rancher/k3s/token", "advertise-address": "10.0.0.1",
        "tls-san": ["203.0.113.1", "10.0.0.1"], "disable": ["traefik"], "cluster-cidr": "10.42.0.0/16",
        "service-cidr": "10.43.0.0/16", "write-kubeconfig-mode": "0600"}  # alone: no cluster-init, no server
    agents = _render(tmp_path / "agents", hosts, groups, "k3s_agent_config", {"k3s_flannel_iface": "ens3"})
    assert agents["n3"] == {"node-name": "n3", "node-ip": "10.0.0.3", "node-external-ip": "203.0.113.3",
                            "flannel-iface": "ens3", "token-file": "/etc/rancher/k3s/token",
                            "server": "https://10.0.0.1:6443"}


def test_k3s_flags_embedded_etcd_ha(tmp_path: Path) -> None:
    hosts = {f"n{i}": _node(i) for i in (1, 2, 3)}
    groups = {"k3s": list(hosts), "k3s_server": list(hosts), "k3s_agent": []}
    got = _render(tmp_path, hosts, groups, "k3s_server_config", {"k3s_flannel_iface": "ens3"})
    assert got["n1"]["cluster-init"] is True and "server" not in got["n1"]
    for joining in ("n2", "n3"):
        assert "cluster-init" not in got[joining]
        assert got[joining]["server"] == "https://10.0.0.1:6443"  # the first server, on its private address
        assert got[joining]["tls-san"] == [f"203.0.113.{joining[1]}", f"10.0.0.{joining[1]}"]


def test_the_token_is_never_logged() -> None:
    """Every task that sees k3s_token has no_log (the value itself is scrubbed from artifacts too)."""
    seen = 0
    for path in PLAYBOOKS.rglob("*.yml"):
        for task in _tasks(yaml.safe_load(path.read_text()) or []):
            if "k3s_token" in json.dumps({k: v for k, v in task.items() if k != "name"}):
                seen += 1
                assert task.get("no_log") is True, f"{path.name}: {task.get('name')}"
    assert seen >= 2  # the assert and the token file


def _tasks(items: list[Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for item in items:
        if isinstance(item, dict):
            found.append(item)
            for key in ("tasks", "block", "rescue", "always"):
                found += _tasks(item.get(key) or [])
    return found


def _airgap_play(tmp_path: Path, directory: Path) -> subprocess.CompletedProcess[str]:
    """airgap.yml run for real against this machine (its facts, its arch)."""
    inv = {"all": {"children": {"k3s": {"hosts": {"here": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}}}
    (tmp_path / "inv.json").write_text(json.dumps(inv))
    return _run(_tool("ansible-playbook"), "-i", str(tmp_path / "inv.json"), "airgap.yml",
                "-e", json.dumps({"k3s_airgap_dir": str(directory)}))


def test_airgap_play_names_the_missing_files(tmp_path: Path) -> None:
    import platform

    arch = pins.load().arches.get(platform.machine())
    if arch is None:
        pytest.skip(f"{platform.machine()} is not an arch the stack supports")
    directory = tmp_path / "airgap"
    directory.mkdir()
    files = airgap.expected_files(arch)
    (directory / files[0].names[0]).write_bytes(b"x")  # the binary only
    r = _airgap_play(tmp_path, directory)
    assert r.returncode != 0
    assert f"lacks, for {arch}" in r.stdout
    assert f"{files[2].names[0]}" in r.stdout and " or ".join(files[1].names) in r.stdout
    assert files[0].names[0] + "," not in r.stdout  # present: not named
    (directory / files[1].names[1]).write_bytes(b"x")  # any of the images' names will do
    (directory / files[2].names[0]).write_bytes(b"x")
    r = _airgap_play(tmp_path, directory)
    assert r.returncode == 0, r.stdout + r.stderr
