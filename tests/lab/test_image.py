"""The lab servers' "image" (interop_lab/image.py): YAML files read and merged, apt and pip
replaced by fakes; the real install runs in the hosts-patroni lab tests' session fixture."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from harness.errors import LabError
from harness.stacks.hosts_patroni.pins import PINS_FILE
from interop_lab import image as im
from interop_lab import install as lab_install

APT = ("postgresql-15", "postgresql-client-15", "etcd-server", "etcd-client", "python3-venv")
VENV = Path("/opt/patroni")
REQUIREMENTS = ("patroni[etcd3]==4.1.5", "psycopg[binary]==3.3.9")


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


DPKG_ALL = "".join(f"{p} install ok installed\n" for p in APT)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def image_at(venv: Path) -> im.Image:
    return im.Image(APT, {venv: REQUIREMENTS}, (Path("pins.yml"),))


# -- reading and merging the files -----------------------------------------------------------


def test_the_hosts_patroni_pins_file_is_an_image() -> None:
    image = im.load_image([PINS_FILE])
    assert image.apt == APT
    assert dict(image.venvs) == {VENV: REQUIREMENTS}
    assert image.files == (PINS_FILE,)


def test_no_files_no_image() -> None:
    image = im.load_image([])
    assert image.empty and image.apt == () and dict(image.venvs) == {}


def test_files_merge_apt_as_a_union_and_venvs_by_path(tmp_path: Path) -> None:
    a = write(tmp_path, "a.yml", "other: 1\nimage:\n  apt: [etcd-server, python3-venv]\n"
                                 "  venvs:\n    /opt/patroni: ['patroni==4', 'psycopg==3']\n")
    b = write(tmp_path, "b.yml", "image:\n  apt: [python3-venv, cockroach]\n"
                                 "  venvs:\n    /opt/patroni: ['psycopg==3', 'patroni==4']\n    /opt/tool: [tool==1]\n")
    c = write(tmp_path, "c.yml", "image: {}\n")  # nothing to add is fine
    image = im.load_image([a, b, c])
    assert image.apt == ("etcd-server", "python3-venv", "cockroach")
    assert dict(image.venvs) == {VENV: ("patroni==4", "psycopg==3"), Path("/opt/tool"): ("tool==1",)}
    assert image.files == (a, b, c)


def test_one_venv_with_different_requirements_names_both_files(tmp_path: Path) -> None:
    a = write(tmp_path, "a.yml", "image:\n  venvs:\n    /opt/patroni: ['patroni==4.1.5']\n")
    b = write(tmp_path, "b.yml", "image:\n  venvs:\n    /opt/patroni/: ['patroni==4.0.0']\n")
    with pytest.raises(LabError, match=r"image\.venvs\./opt/patroni: .*a\.yml wants \['patroni==4\.1\.5'\] "
                                       r"but .*b\.yml wants \['patroni==4\.0\.0'\]"):
        im.load_image([a, b])


@pytest.mark.parametrize(("text", "error"), [
    ("pg_version: 15\n", r"pins\.yml: no top-level `image:`"),
    ("- a list\n", r"pins\.yml: no top-level `image:`"),
    ("", r"pins\.yml: no top-level `image:`"),
    ("image: [postgresql-15]\n", r"pins\.yml: image: expected a mapping"),
    ("image:\n  packages: [a]\n", r"pins\.yml: image\.packages: unknown field"),
    ("image:\n  apt: postgresql-15\n", r"pins\.yml: image\.apt: expected a list of Debian package names"),
    ("image:\n  apt: [postgresql-15, 15]\n", r"pins\.yml: image\.apt: expected a list"),
    ("image:\n  venvs: [/opt/patroni]\n", r"pins\.yml: image\.venvs: expected a mapping"),
    ("image:\n  venvs:\n    /opt/patroni: patroni==4\n",
     r"pins\.yml: image\.venvs\./opt/patroni: expected a list of requirements"),
    ("image:\n  venvs:\n    /opt/patroni: []\n", r"pins\.yml: image\.venvs\./opt/patroni: expected a list of requirements"),
    ("image:\n  venvs:\n    /opt/patroni: [{patroni: 4}]\n",
     r"pins\.yml: image\.venvs\./opt/patroni: expected a list of requirements"),
    ("image:\n  venvs:\n    opt/patroni: [patroni]\n", r"pins\.yml: image\.venvs\.opt/patroni: expected an absolute path"),
    ("image: {apt: [a]\n", r"pins\.yml: not valid YAML"),
])
def test_bad_input_names_the_file_and_the_field(tmp_path: Path, text: str, error: str) -> None:
    with pytest.raises(LabError, match=error):
        im.load_image([write(tmp_path, "pins.yml", text)])


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(LabError, match=r"nope\.yml: cannot read the image file"):
        im.load_image([tmp_path / "nope.yml"])


# -- installing it ----------------------------------------------------------------------------


def test_missing_packages_reads_dpkg_status(monkeypatch: pytest.MonkeyPatch) -> None:
    out = DPKG_ALL.replace("etcd-server install ok installed", "etcd-server deinstall ok config-files")
    monkeypatch.setattr(im.subprocess, "run", FakeRun(out.replace("etcd-client install ok installed\n", "")))
    assert im.missing_apt_packages(APT) == ["etcd-server", "etcd-client"]


def _venv(tmp_path: Path, stamp: str | None) -> Path:
    venv = tmp_path / "patroni"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("#!/bin/sh\n")
    (venv / "bin" / "python").chmod(0o755)
    if stamp is not None:
        (venv / im.VENV_STAMP).write_text(stamp)
    return venv


def test_venv_ready_only_with_the_current_requirements(tmp_path: Path) -> None:
    assert im.venv_ready(_venv(tmp_path / "a", "\n".join(REQUIREMENTS) + "\n"), REQUIREMENTS)
    assert not im.venv_ready(_venv(tmp_path / "b", "patroni[etcd3]==3.0.2\n"), REQUIREMENTS)
    assert not im.venv_ready(_venv(tmp_path / "c", None), REQUIREMENTS)


def test_nothing_to_do_when_present(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeRun(DPKG_ALL)
    monkeypatch.setattr(im.subprocess, "run", fake)
    venv = _venv(tmp_path, "\n".join(REQUIREMENTS))
    done = im.ensure_image(image_at(venv))
    assert done["apt_installed"] == [] and done["venvs"] == {str(venv): "present"}
    assert [c[0] for c in fake.calls] == ["dpkg-query"]


def test_an_empty_image_runs_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeRun()
    monkeypatch.setattr(im.subprocess, "run", fake)
    done = im.ensure_image(im.Image())
    assert done["apt_installed"] == [] and done["venvs"] == {} and fake.calls == []


def test_installs_what_is_missing_without_starting_services(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeRun(DPKG_ALL.replace("etcd-server install ok installed\n", ""))
    monkeypatch.setattr(im.subprocess, "run", fake)
    monkeypatch.setattr(im.os, "geteuid", lambda: 0)
    policy = tmp_path / "policy-rc.d"
    seen: list[bool] = []
    real = fake.__call__

    def watching(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        if cmd[0] == "apt-get":
            seen.append(policy.exists())
        return real(cmd, **kw)

    monkeypatch.setattr(im.subprocess, "run", watching)
    monkeypatch.setattr(lab_install, "POLICY_RC_D", policy)
    venv = tmp_path / "venv"
    venv.mkdir()  # what `python -m venv` would make
    done = im.ensure_image(image_at(venv))
    assert done["apt_installed"] == ["etcd-server"] and done["venvs"] == {str(venv): "built"}
    apt = [c for c in fake.calls if c[0] == "apt-get"]
    assert apt[0][-2:] == ["install", "etcd-server"]
    assert seen == [True] and not policy.exists()  # services denied during the install, then cleaned up
    venv_cmd = next(c for c in fake.calls if c[1:3] == ["-m", "venv"])
    assert venv_cmd[0] == im.SYSTEM_PYTHON and venv_cmd[-1] == str(venv)
    pip = next(c for c in fake.calls if c[0].endswith("/pip"))
    assert pip[-2:] == list(REQUIREMENTS)
    assert (venv / im.VENV_STAMP).read_text().split() == list(REQUIREMENTS)


def test_changed_requirements_rebuild_the_venv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeRun(DPKG_ALL)
    monkeypatch.setattr(im.subprocess, "run", fake)
    venv = _venv(tmp_path, "patroni[etcd3]==4.0.0\npsycopg[binary]==3.3.9\n")
    done = im.ensure_image(image_at(venv))
    assert done["venvs"] == {str(venv): "built"}
    assert any(c[0].endswith("/pip") for c in fake.calls)
    assert im.venv_ready(venv, REQUIREMENTS)


def test_a_failed_install_is_a_lab_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(im.subprocess, "run", FakeRun("", fail=("install",)))
    monkeypatch.setattr(im.os, "geteuid", lambda: 0)
    monkeypatch.setattr(lab_install, "POLICY_RC_D", tmp_path / "policy-rc.d")
    with pytest.raises(LabError, match="apt-get install .* failed: E: nope"):
        im.ensure_image(image_at(tmp_path / "venv"))


def test_a_failed_pip_install_is_a_lab_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(im.subprocess, "run", FakeRun(DPKG_ALL, fail=("pip install",)))
    venv = tmp_path / "venv"
    with pytest.raises(LabError, match=r"/pip install -q .* failed: E: nope"):
        im.ensure_image(image_at(venv))
    assert not (venv / im.VENV_STAMP).exists()  # a half-built venv is rebuilt next time
