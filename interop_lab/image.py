"""The lab servers' "image": packages pre-installed on the lab host, described by data.

Lab VMs overlay the host's ``/usr``, ``/etc``, ``/var`` and ``/opt`` (see
:mod:`interop_lab.dataplane.vm`) and cannot reach any package registry, so whatever a stack
needs is installed here once, before VMs boot, like a cloud image with it baked in. What that
is comes from YAML files handed to the lab (the lab names no stack), each with a top-level
``image:`` mapping::

    image:
      apt: [postgresql-15, etcd-server, python3-venv]      # Debian packages
      venvs:                                               # virtualenvs from /usr/bin/python3
        /opt/patroni: ["patroni[etcd3]==4.1.5", "psycopg[binary]==3.3.9"]

Other top-level keys are the file owner's business (a stack's pins file is also its playbooks'
group vars). Several files merge: the union of their apt packages, their venvs by path; one
path with different requirements in two files is an error naming both.

A venv is built with Debian's ``/usr/bin/python3`` under umask 022, so every user in every VM
can run it, and remembers its requirements in a stamp file: it is rebuilt when they change.
Call :func:`ensure_image` before VMs boot: a VM's disk hides host data dirs such as
``/var/lib/etcd`` only if they exist when it is made, and changing an overlay's lower
directories under a running VM is undefined.

>>> image = load_image([Path("pins.yml")])                # doctest: +SKIP
>>> ensure_image(image, log=print)                         # doctest: +SKIP
{'apt_installed': [], 'venvs': {'/opt/patroni': 'present'}, 'seconds': 0.04}
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.errors import LabError

from .install import apt_install

SYSTEM_PYTHON = "/usr/bin/python3"
# holds the requirements the venv was built with (name kept: venvs already built keep counting)
VENV_STAMP = ".interop-stack"


@dataclass(frozen=True)
class Image:
    """What lab servers find installed: Debian packages and virtualenvs (path -> requirements)."""

    apt: tuple[str, ...] = ()
    venvs: Mapping[Path, tuple[str, ...]] = field(default_factory=dict)
    files: tuple[Path, ...] = ()  # where it was read from, for messages

    @property
    def empty(self) -> bool:
        return not self.apt and not self.venvs


def parse_image(data: Any, source: Path) -> Image:
    """The ``image:`` of one file's content ``data``; LabError naming ``source`` and the field."""
    if not isinstance(data, dict) or "image" not in data:
        raise LabError(f"{source}: no top-level `image:` (expected image: {{apt: [...], venvs: {{path: [...]}}}})")
    image = data["image"]
    if not isinstance(image, dict):
        raise LabError(f"{source}: image: expected a mapping with apt and venvs")
    unknown = sorted(str(key) for key in image if key not in ("apt", "venvs"))
    if unknown:
        raise LabError(f"{source}: image.{unknown[0]}: unknown field (expected apt, venvs)")
    apt = [] if image.get("apt") is None else image["apt"]
    if not _strings(apt):
        raise LabError(f"{source}: image.apt: expected a list of Debian package names")
    venvs = {} if image.get("venvs") is None else image["venvs"]
    if not isinstance(venvs, dict):
        raise LabError(f"{source}: image.venvs: expected a mapping of venv path -> list of requirements")
    parsed: dict[Path, tuple[str, ...]] = {}
    for key, requirements in venvs.items():
        if not isinstance(key, str) or not key.startswith("/"):
            raise LabError(f"{source}: image.venvs.{key}: expected an absolute path")
        if not _strings(requirements) or not requirements:
            raise LabError(f"{source}: image.venvs.{key}: expected a list of requirements")
        parsed[Path(key)] = tuple(requirements)
    return Image(tuple(dict.fromkeys(apt)), parsed, (source,))


def load_image(files: Iterable[Path]) -> Image:
    """The image the YAML ``files`` describe together; an empty one for no files.

    Raises :class:`LabError` naming the file (and field) that cannot be read or is malformed,
    and both files when they want one venv path with different requirements.
    """
    apt: dict[str, None] = {}
    venvs: dict[Path, tuple[str, ...]] = {}
    wanted_by: dict[Path, Path] = {}
    sources: list[Path] = []
    for path in map(Path, files):
        try:
            data = yaml.safe_load(path.read_text())
        except OSError as exc:
            raise LabError(f"{path}: cannot read the image file: {exc.strerror or exc}") from None
        except yaml.YAMLError as exc:
            raise LabError(f"{path}: not valid YAML: {exc}") from None
        image = parse_image(data, path)
        apt.update(dict.fromkeys(image.apt))
        for venv, requirements in image.venvs.items():
            if venv in venvs and sorted(venvs[venv]) != sorted(requirements):
                raise LabError(f"image.venvs.{venv}: {wanted_by[venv]} wants {list(venvs[venv])} but "
                               f"{path} wants {list(requirements)}")
            venvs.setdefault(venv, requirements)
            wanted_by.setdefault(venv, path)
        sources.append(path)
    return Image(tuple(apt), venvs, tuple(sources))


def missing_apt_packages(packages: Iterable[str]) -> list[str]:
    """The packages of ``packages`` that dpkg does not report as installed."""
    packages = list(packages)
    if not packages:
        return []
    result = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Status}\n", *packages],
                            capture_output=True, text=True)
    installed = {line.split()[0] for line in result.stdout.splitlines()
                 if line.endswith(" installed") and " ok " in line}
    return [p for p in packages if p not in installed]


def venv_ready(venv: Path, requirements: Iterable[str]) -> bool:
    """The venv has a python and was built with exactly ``requirements``."""
    try:
        built_with = (venv / VENV_STAMP).read_text().splitlines()
    except OSError:
        return False
    return built_with == list(requirements) and os.access(venv / "bin" / "python", os.X_OK)


def ensure_image(image: Image, log: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Install what of ``image`` is missing (apt packages, venvs); a few stat calls when done.

    Returns what it did: ``{'apt_installed': [...], 'venvs': {path: 'present' | 'built'},
    'seconds': ...}``. Raises :class:`LabError` with the tool's output when an install fails.
    """
    start = time.monotonic()
    missing = missing_apt_packages(image.apt)
    if missing:
        names = ", ".join(path.name for path in image.files) or "no file"
        apt_install(missing, log, why=f"the lab servers' image ({names})")
    venvs: dict[str, str] = {}
    for venv, requirements in image.venvs.items():
        venvs[str(venv)] = "present"
        if not venv_ready(venv, requirements):
            _build_venv(venv, requirements, log)
            venvs[str(venv)] = "built"
    return {"apt_installed": missing, "venvs": venvs, "seconds": round(time.monotonic() - start, 2)}


def _build_venv(venv: Path, requirements: tuple[str, ...], log: Callable[[str], None]) -> None:
    log(f"building the virtualenv {venv} ({', '.join(requirements)})")
    # umask 022: the users in every VM (e.g. postgres) must read and run what root installs here
    for cmd in ([SYSTEM_PYTHON, "-m", "venv", "--clear", str(venv)],
                [str(venv / "bin" / "pip"), "install", "-q", *requirements]):
        result = subprocess.run(cmd, capture_output=True, text=True, umask=0o022)
        if result.returncode != 0:
            raise LabError(f"{' '.join(cmd[:4])} failed: {_tail(result.stderr or result.stdout)}")
    (venv / VENV_STAMP).write_text("\n".join(requirements) + "\n")


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) and item.strip() for item in value)


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
