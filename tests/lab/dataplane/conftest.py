"""Fixtures for the data-plane tests: real namespaces in a throw-away state directory.

Everything a test creates is recorded under its own state directory and removed by
``teardown_all`` in the fixture finalizer, which runs after failures too; the finalizer then
asserts that nothing is left. The test networks (external 172.29.x.0/24, tenants 10.229.x.0/24,
bridge ``ilx-t*``) do not overlap the lab's own (172.24.4.0/24, ``ilx-public``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from dp_helpers import Env, Ssh, assert_nothing_left, host_snapshot

from interop_lab.dataplane import ExternalNet, RouterHost, VmHost, teardown_all

TOOLS = ("ip", "nft", "conntrack", "nsenter", "unshare", "ssh", "ssh-keygen", "/usr/sbin/sshd")


def _missing_tools() -> list[str]:
    return [t for t in TOOLS if shutil.which(t) is None and not os.path.exists(t)]


@pytest.fixture(scope="session")
def need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("data-plane tests create namespaces: run as root")
    missing = _missing_tools()
    if missing:
        pytest.skip(f"missing {missing}: apt-get install $(cat interop_lab/dataplane/packages.txt)")


@pytest.fixture(scope="session")
def ssh_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    key = tmp_path_factory.mktemp("sshkey") / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key


@pytest.fixture(scope="session")
def ssh(ssh_key: Path) -> Ssh:
    return Ssh(ssh_key)


@pytest.fixture(scope="module")
def make_env(need_root: None,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[int], Env]]:
    """Factory: ``make_env(ext_cidr_octet)`` -> Env in a fresh state dir, torn down at the end."""
    created: list[tuple[Path, dict[str, list[str]]]] = []

    def factory(octet: int) -> Env:
        cidr = f"172.29.{octet}.0/24"
        taken = subprocess.run(["ip", "-4", "route", "show", "to", "match", f"172.29.{octet}.1"],
                               capture_output=True, text=True).stdout
        if cidr in taken:
            pytest.fail(f"{cidr} is in use on this host (a crashed earlier run?): "
                        f"{taken.strip()}; run teardown_all(<its state dir>) first")
        tag = uuid.uuid4().hex[:5]
        state_dir = tmp_path_factory.mktemp(f"dp{octet}")
        external = ExternalNet(bridge=f"ilx-t{tag}", cidr=cidr,
                               gateway=f"172.29.{octet}.1")
        created.append((state_dir, host_snapshot()))
        return Env(state_dir, VmHost(state_dir), RouterHost(state_dir, external), external)

    yield factory
    errors = []
    for state_dir, before in created:
        try:
            teardown_all(state_dir)
            assert_nothing_left(state_dir, before)
        except Exception as exc:  # report every env, then fail
            errors.append(f"{state_dir}: {exc}")
    assert not errors, errors
