"""The hosts-patroni stack's packages, pre-installed on the lab host: the lab's "cloud image".

Lab VMs overlay the host's ``/usr``, ``/etc``, ``/var`` and ``/opt`` (see
:mod:`interop_lab.dataplane.vm`) and cannot reach any package registry, so whatever the stack
needs is installed here once, before VMs boot, like a cloud image with it baked in:

* Debian packages: PostgreSQL 15 and etcd (server + client);
* Patroni 4 from PyPI (not Debian's 3.0.2, see the local-cluster notes: split brain after a
  healed partition) with psycopg, in a virtualenv under ``/opt/patroni`` built from Debian's
  ``/usr/bin/python3``, so the ``postgres`` user in every VM can run it.

The playbooks' install tasks (``playbooks/prepare.yml``) check for exactly these and find
them present, so a lab VM configures without network; on a real cloud the same tasks install
them. The versions are the stack's pins (:mod:`harness.stacks.pins`). Call it before VMs boot:
a VM's disk hides host data dirs such as ``/var/lib/etcd`` only if they exist when it is made,
and changing an overlay's lower directories under a running VM is undefined.

>>> ensure_stack_packages(log=print)                  # doctest: +SKIP
{'apt_installed': [], 'venv': 'present', 'seconds': 0.04}
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.errors import LabError
from .install import apt_install
from harness.stacks.hosts_patroni.pins import load as _load_pins

_PINS = _load_pins()
APT_PACKAGES, PATRONI_VENV, PIP_REQUIREMENTS = _PINS.apt_packages, _PINS.patroni_venv, _PINS.pip_requirements

SYSTEM_PYTHON = "/usr/bin/python3"
VENV_STAMP = ".interop-stack"  # holds the requirements the venv was built with


def missing_apt_packages(packages: tuple[str, ...] = APT_PACKAGES) -> list[str]:
    """The packages of ``packages`` that dpkg does not report as installed."""
    result = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Status}\n", *packages],
                            capture_output=True, text=True)
    installed = {line.split()[0] for line in result.stdout.splitlines()
                 if line.endswith(" installed") and " ok " in line}
    return [p for p in packages if p not in installed]


def venv_ready(venv: Path = PATRONI_VENV) -> bool:
    """The venv runs Patroni and was built with the current pins."""
    stamp = venv / VENV_STAMP
    try:
        built_with = stamp.read_text().split()
    except OSError:
        return False
    return built_with == list(PIP_REQUIREMENTS) and os.access(venv / "bin" / "patroni", os.X_OK)


def ensure_stack_packages(log: Callable[[str], None] = lambda _: None, *,
                          venv: Path = PATRONI_VENV) -> dict[str, Any]:
    """Install what is missing (apt packages, the Patroni venv); a few stat calls when done.

    Raises :class:`LabError` with the tool's output when an install fails.
    """
    start = time.monotonic()
    missing = missing_apt_packages()
    if missing:
        apt_install(missing, log, why="the hosts-patroni stack's packages for lab VMs")
    venv_state = "present"
    if not venv_ready(venv):
        _build_venv(venv, log)
        venv_state = "built"
    return {"apt_installed": missing, "venv": venv_state, "seconds": round(time.monotonic() - start, 2)}


def _build_venv(venv: Path, log: Callable[[str], None]) -> None:
    log(f"building the Patroni virtualenv {venv} ({', '.join(PIP_REQUIREMENTS)})")
    # umask 022: the postgres user in every VM must read and run what root installs here
    for cmd in ([SYSTEM_PYTHON, "-m", "venv", "--clear", str(venv)],
                [str(venv / "bin" / "pip"), "install", "-q", *PIP_REQUIREMENTS]):
        result = subprocess.run(cmd, capture_output=True, text=True, umask=0o022)
        if result.returncode != 0:
            raise LabError(f"{' '.join(cmd[:4])} failed: {_tail(result.stderr or result.stdout)}")
    (venv / VENV_STAMP).write_text("\n".join(PIP_REQUIREMENTS) + "\n")


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
