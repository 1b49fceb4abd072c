"""The fetched kubeconfig's server rewritten to the node's public address; nothing else changed."""

from __future__ import annotations

import copy
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.errors import ConfigError
from harness.stacks.k8s_cockroach import kubeconfig

pytestmark = pytest.mark.k8s


def _k3s_yaml() -> dict[str, Any]:
    """The shape of /etc/rancher/k3s/k3s.yaml, plus a second cluster from elsewhere."""
    return {
        "apiVersion": "v1", "kind": "Config", "preferences": {}, "current-context": "default",
        "clusters": [
            {"name": "default", "cluster": {"server": "https://127.0.0.1:6443", "certificate-authority-data": "Q0EtREFUQQ=="}},
            {"name": "other", "cluster": {"server": "https://127.0.0.1:6443", "certificate-authority-data": "T1RIRVI="}},
        ],
        "contexts": [{"name": "default", "context": {"cluster": "default", "user": "default"}}],
        "users": [{"name": "default", "user": {"client-certificate-data": "Q0VSVA==", "client-key-data": "S0VZ"}}],
    }


def test_server_is_replaced_and_everything_else_kept() -> None:
    before = _k3s_yaml()
    after = kubeconfig.rewrite(before, "203.0.113.10")
    assert after["clusters"][0]["cluster"] == {"server": "https://203.0.113.10:6443",
                                               "certificate-authority-data": "Q0EtREFUQQ=="}
    assert after["clusters"][1] == _k3s_yaml()["clusters"][1]  # other clusters untouched
    expected = _k3s_yaml()
    expected["clusters"][0]["cluster"]["server"] = "https://203.0.113.10:6443"
    assert after == expected
    assert before == _k3s_yaml()  # the input is not modified


def test_only_the_named_cluster_changes() -> None:
    after = kubeconfig.rewrite(_k3s_yaml(), "198.51.100.7", cluster="other")
    assert after["clusters"][0] == _k3s_yaml()["clusters"][0]
    assert after["clusters"][1]["cluster"] == {"server": "https://198.51.100.7:6443", "certificate-authority-data": "T1RIRVI="}


@pytest.mark.parametrize(("server", "address", "expected"), [
    ("https://127.0.0.1:6443", "2001:db8::10", "https://[2001:db8::10]:6443"),
    ("https://[::1]:6443", "203.0.113.10", "https://203.0.113.10:6443"),
    ("https://127.0.0.1", "k3s.example.org", "https://k3s.example.org"),
    ("https://127.0.0.1:6443/prefix", "203.0.113.10", "https://203.0.113.10:6443/prefix"),
])
def test_port_path_and_ip_versions(server: str, address: str, expected: str) -> None:
    cfg = _k3s_yaml()
    cfg["clusters"][0]["cluster"]["server"] = server
    assert kubeconfig.rewrite(cfg, address)["clusters"][0]["cluster"]["server"] == expected


def test_a_missing_or_ambiguous_cluster_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"0 clusters named 'k3s' \(clusters: \['default', 'other'\]\)"):
        kubeconfig.rewrite(_k3s_yaml(), "203.0.113.10", cluster="k3s")
    twice = _k3s_yaml()
    twice["clusters"].append(copy.deepcopy(twice["clusters"][0]))
    with pytest.raises(ConfigError, match="2 clusters named 'default'"):
        kubeconfig.rewrite(twice, "203.0.113.10")
    no_server = _k3s_yaml()
    del no_server["clusters"][0]["cluster"]["server"]
    with pytest.raises(ConfigError, match="has no server"):
        kubeconfig.rewrite(no_server, "203.0.113.10")


def test_redacted_drops_the_key_and_keeps_what_identifies_the_cluster() -> None:
    cfg = _k3s_yaml()
    cfg["users"].append({"name": "t", "user": {"token": "abc", "password": "pw"}})
    out = kubeconfig.redacted(cfg)
    assert out["users"][0]["user"] == {"client-certificate-data": "Q0VSVA==", "client-key-data": "REDACTED"}
    assert out["users"][1]["user"] == {"token": "REDACTED", "password": "REDACTED"}
    assert out["clusters"] == cfg["clusters"]
    assert "S0VZ" not in yaml.safe_dump(out) and "abc" not in yaml.safe_dump(out)
    assert cfg["users"][0]["user"]["client-key-data"] == "S0VZ"  # the input is not modified


def test_rewrite_file_in_place_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig-c1.yaml"
    path.write_text(yaml.safe_dump(_k3s_yaml()))
    path.chmod(0o644)
    kubeconfig.rewrite_file(path, "203.0.113.10")
    assert yaml.safe_load(path.read_text())["clusters"][0]["cluster"]["server"] == "https://203.0.113.10:6443"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kubeconfig-c1.yaml"]


def test_rewrite_file_that_is_not_a_kubeconfig(tmp_path: Path) -> None:
    path = tmp_path / "k.yaml"
    path.write_text("- just a list\n")
    with pytest.raises(ConfigError, match="is not a mapping"):
        kubeconfig.rewrite_file(path, "203.0.113.10")
    with pytest.raises(ConfigError, match="cannot read kubeconfig"):
        kubeconfig.rewrite_file(tmp_path / "absent.yaml", "203.0.113.10")
