"""The lab host's pre-installed stack packages (interop_lab/stack_packages.py), with apt and
pip replaced by fakes; the real install runs in the lab tests' session fixture."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from harness.errors import LabError
from interop_lab import install as lab_install
from interop_lab import stack_packages as sp


class FakeRun:
    def __init__(self, dpkg_out: str = "", fail: tuple[str, ...] = ()) -> None:
        self.calls: list[list[str]] = []
        self.dpkg_out = dpkg_out
        self.fail = fail

    def __call__(self, cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        self.calls.append(list(cmd))
        if cmd[0] == "dpkg-query":
            return subprocess.CompletedProcess(cmd, 0, self.dpkg_out, "")
        rc = 1 if any(f in " ".join(cmd) for f in self.fail) else 0
        return subprocess.CompletedProcess(cmd, rc, "", "E: nope" if rc else "")


DPKG_ALL = "".join(f"{p} install ok installed\n" for p in sp.APT_PACKAGES)


def test_missing_packages_reads_dpkg_status(monkeypatch: pytest.MonkeyPatch) -> None:
    out = DPKG_ALL.replace("etcd-server install ok installed", "etcd-server deinstall ok config-files")
    monkeypatch.setattr(sp.subprocess, "run", FakeRun(out.replace("etcd-client install ok installed\n", "")))
    assert sp.missing_apt_packages() == ["etcd-server", "etcd-client"]


def _venv(tmp_path: Path, stamp: str | None) -> Path:
    venv = tmp_path / "patroni"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "patroni").write_text("#!/bin/sh\n")
    (venv / "bin" / "patroni").chmod(0o755)
    if stamp is not None:
        (venv / sp.VENV_STAMP).write_text(stamp)
    return venv


def test_venv_ready_only_with_the_current_pins(tmp_path: Path) -> None:
    assert sp.venv_ready(_venv(tmp_path / "a", "\n".join(sp.PIP_REQUIREMENTS) + "\n"))
    assert not sp.venv_ready(_venv(tmp_path / "b", "patroni[etcd3]==3.0.2\n"))
    assert not sp.venv_ready(_venv(tmp_path / "c", None))


def test_nothing_to_do_when_present(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeRun(DPKG_ALL)
    monkeypatch.setattr(sp.subprocess, "run", fake)
    venv = _venv(tmp_path, "\n".join(sp.PIP_REQUIREMENTS))
    done = sp.ensure_stack_packages(venv=venv)
    assert done["apt_installed"] == [] and done["venv"] == "present"
    assert [c[0] for c in fake.calls] == ["dpkg-query"]


def test_installs_what_is_missing_without_starting_services(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeRun(DPKG_ALL.replace("etcd-server install ok installed\n", ""))
    monkeypatch.setattr(sp.subprocess, "run", fake)
    monkeypatch.setattr(sp.os, "geteuid", lambda: 0)
    policy = tmp_path / "policy-rc.d"
    seen: list[bool] = []
    real = fake.__call__

    def watching(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        if cmd[0] == "apt-get":
            seen.append(policy.exists())
        return real(cmd, **kw)

    monkeypatch.setattr(sp.subprocess, "run", watching)
    monkeypatch.setattr(lab_install, "POLICY_RC_D", policy)
    venv = tmp_path / "venv"
    venv.mkdir()  # what `python -m venv` would make
    done = sp.ensure_stack_packages(venv=venv)
    assert done["apt_installed"] == ["etcd-server"] and done["venv"] == "built"
    apt = [c for c in fake.calls if c[0] == "apt-get"]
    assert apt[0][-2:] == ["install", "etcd-server"]
    assert seen == [True] and not policy.exists()  # services denied during the install, then cleaned up
    pip = next(c for c in fake.calls if c[0].endswith("/pip"))
    assert pip[-2:] == list(sp.PIP_REQUIREMENTS)
    assert (venv / sp.VENV_STAMP).read_text().split() == list(sp.PIP_REQUIREMENTS)


def test_a_failed_install_is_a_lab_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sp.subprocess, "run", FakeRun("", fail=("install",)))
    monkeypatch.setattr(sp.os, "geteuid", lambda: 0)
    monkeypatch.setattr(lab_install, "POLICY_RC_D", tmp_path / "policy-rc.d")
    with pytest.raises(LabError, match="apt-get install .* failed: E: nope"):
        sp.ensure_stack_packages(venv=tmp_path / "venv")
