"""Install what the lab runs on: Debian packages (MariaDB, RabbitMQ, a C compiler, and the data
plane's: iproute2, nftables, conntrack, sshd, ...) and the OpenStack services from PyPI into
their own virtualenv, pinned by ``constraints.txt``.

Both steps are skipped when already done, so re-running ``lab up`` costs a few stat calls.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Callable, Sequence
from pathlib import Path

from harness.errors import LabError

CONSTRAINTS = Path(__file__).with_name("constraints.txt")
RABBITMQ_SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
PIP_PACKAGES = ("keystone", "openstack-placement", "glance", "neutron", "nova", "uwsgi", "pymysql")
# what a finished venv must contain; a venv missing one is (re)installed
VENV_PROBES = ("keystone-manage", "placement-manage", "glance-manage", "neutron-db-manage", "nova-manage", "uwsgi")
VENV_STAMP = ".interop-lab-venv"
APT = ("apt-get", "-o", "DPkg::Lock::Timeout=600", "-y", "-q", "--no-install-recommends")
APT_TIMEOUT = 1800  # seconds for one apt-get call: downloads on a slow mirror, plus the lock wait
POLICY_RC_D = Path("/usr/sbin/policy-rc.d")


def uninstalled(packages: Sequence[str]) -> list[str]:
    """Those of ``packages`` that dpkg does not list as installed."""
    if not packages:
        return []
    result = subprocess.run(["dpkg-query", "-W", "-f=${Package}\t${db:Status-Abbrev}\n", *packages],
                            capture_output=True, text=True, timeout=60)
    installed = {line.split("\t")[0].split(":")[0] for line in result.stdout.splitlines()
                 if line.split("\t")[-1].startswith("ii")}
    return [name for name in packages if name not in installed]


def missing_packages(extra: Sequence[str] = ()) -> list[str]:
    """Debian packages the lab needs that are not installed yet (``extra``: by package name)."""
    needed = []
    if not shutil.which("mariadbd"):
        needed.append("mariadb-server")
    if not RABBITMQ_SERVER.exists():
        needed.append("rabbitmq-server")
    if not shutil.which("gcc"):
        needed.append("gcc")  # uWSGI is built from its sdist
    if not shutil.which("curl"):
        needed.append("curl")
    if sys.base_prefix == "/usr":
        # Debian's own python3 splits venv support and the C headers uWSGI needs into packages
        if not Path(sysconfig.get_paths()["include"], "Python.h").exists():
            needed.append("python3-dev")
        try:
            import ensurepip  # noqa: F401
        except ImportError:
            needed.append("python3-venv")
    return needed + [name for name in uninstalled(extra) if name not in needed]


def ensure_packages(log: Callable[[str], None], extra: Sequence[str] = ()) -> None:
    """apt-get install the missing packages the lab needs."""
    needed = missing_packages(extra)
    if needed:
        apt_install(needed, log, why="the lab")


def apt_install(packages: Sequence[str], log: Callable[[str], None], *, why: str) -> None:
    """apt-get install ``packages`` without starting their services; refresh lists only on failure.

    Like an image build: a package must not start its service on the lab host (a system
    MariaDB, RabbitMQ or etcd would take the ports the lab and its VMs use). Debian's postinst
    scripts ask policy-rc.d, so one that says no is in place for the install.
    """
    if os.geteuid() != 0:
        raise LabError(f"{why} needs Debian packages {', '.join(packages)}: run as root or install them first")
    log(f"apt-get installing {' '.join(packages)} ({why})")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [*APT, "install", *packages]
    made_policy = not POLICY_RC_D.exists()
    if made_policy:
        POLICY_RC_D.write_text("#!/bin/sh\n# interop lab: no service starts during installs\nexit 101\n")
        POLICY_RC_D.chmod(0o755)
    try:
        result = subprocess.run(install, env=env, capture_output=True, text=True, timeout=APT_TIMEOUT)
        if result.returncode != 0:
            # a fresh machine often has no (or stale) package lists: update once and retry
            log("apt-get install failed, running apt-get update and retrying")
            subprocess.run([*APT, "update"], env=env, capture_output=True, text=True, timeout=APT_TIMEOUT)
            result = subprocess.run(install, env=env, capture_output=True, text=True, timeout=APT_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise LabError(f"apt-get install {' '.join(packages)} did not finish within {APT_TIMEOUT}s") from None
    finally:
        if made_policy:
            POLICY_RC_D.unlink(missing_ok=True)
    if result.returncode != 0:
        raise LabError(f"apt-get install {' '.join(packages)} failed: {_tail(result.stderr or result.stdout)}")


def _constraints_digest() -> str:
    return hashlib.sha256(CONSTRAINTS.read_bytes()).hexdigest()[:16]


def venv_ready(venv: Path) -> bool:
    """The venv holds every service, installed with the current constraints."""
    stamp = venv / VENV_STAMP
    return (
        stamp.exists()
        and stamp.read_text().strip() == _constraints_digest()
        and all((venv / "bin" / probe).exists() for probe in VENV_PROBES)
    )


def ensure_venv(venv: Path, log: Callable[[str], None], pip_log: Path) -> None:
    """Create ``venv`` and pip install the OpenStack services into it (about 60 s cold)."""
    if venv_ready(venv):
        log(f"lab venv {venv} already installed")
        return
    log(f"creating lab venv {venv} and pip installing {' '.join(PIP_PACKAGES)} (about a minute)")
    pip_log.parent.mkdir(parents=True, exist_ok=True)
    # the base interpreter, not the project venv's: `python -m venv` from inside a venv would
    # work too, but naming the real interpreter keeps the lab venv independent of this one
    python = getattr(sys, "_base_executable", sys.executable)
    commands = [
        # no --clear: a venv handed in through INTEROP_LAB_VENV is completed, never wiped
        [python, "-m", "venv", str(venv)],
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
         "-c", str(CONSTRAINTS), *PIP_PACKAGES],
    ]
    with pip_log.open("a") as out:
        for command in commands:
            out.write(f"$ {' '.join(command)}\n")
            out.flush()
            if subprocess.run(command, stdout=out, stderr=subprocess.STDOUT).returncode != 0:
                raise LabError(f"`{' '.join(command[:4])} ...` failed: {_tail(pip_log.read_text())} (see {pip_log})")
    # written last: an interrupted install is redone next time instead of half-used
    (venv / VENV_STAMP).write_text(_constraints_digest() + "\n")
    log("lab venv ready")


def _tail(text: str, lines: int = 5) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])
