"""What a lab looks like from outside: its status, its info, and the shell exports to use it.

All of it is read from the state directory and /proc; nothing here talks to OpenStack, so
``interop lab status`` is instant and works while the lab is half up.

>>> print(lab_env(Path("/var/tmp/interop-lab")))
export OS_CLIENT_CONFIG_FILE=/var/tmp/interop-lab/clouds.yaml
export INTEROP_CHALLENGE=/var/tmp/interop-lab/challenge.yaml
export INTEROP_LAB_DIR=/var/tmp/interop-lab
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path

from .plan import Drivers, service_specs
from .services import ServiceManager
from .settings import LabPaths, open_lab

MIB = 1024 * 1024


@dataclass(frozen=True)
class LabInfo:
    """What ``lab_up`` returns: where the generated files are and how long it took."""

    state_dir: Path
    clouds_yaml: Path
    admin_clouds_yaml: Path
    challenge_yaml: Path
    cloud_names: list[str]
    seconds: float
    started: list[str] = field(default_factory=list)  # services (re)started by this call
    added: list[str] = field(default_factory=list)  # clouds registered by this call

    @property
    def noop(self) -> bool:
        return not self.started and not self.added


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    pid: int | None
    running: bool
    port: int | None
    url: str | None
    rss_mib: float


@dataclass(frozen=True)
class LabStatus:
    state_dir: Path
    services: list[ServiceStatus]
    clouds: list[str]
    rss_mib: float  # sum over the process groups the lab started (shared pages counted per process)

    @property
    def up(self) -> bool:
        return bool(self.services) and all(service.running for service in self.services)


def manager_for(paths: LabPaths) -> ServiceManager:
    return ServiceManager(paths.run, paths.log, lab_id=str(paths.root))


def lab_status(state_dir: Path) -> LabStatus:
    """Every service with pid, running flag, port/URL and RSS, plus the registered clouds.

    >>> lab_status(Path("/nonexistent")).up
    False
    """
    paths, state = open_lab(state_dir)
    manager = manager_for(paths)
    services = []
    for name, spec in service_specs(paths, state.resolved_ports(), Drivers()).items():
        pid = manager.pid(name)
        services.append(ServiceStatus(name, pid, pid is not None, spec.port, spec.url,
                                      round(manager.rss_bytes(name) / MIB, 1)))
    return LabStatus(paths.root, services, list(state.clouds), round(sum(s.rss_mib for s in services), 1))


def read_lab_info(state_dir: Path) -> LabInfo | None:
    """The info of a lab that has been brought up (files present), else None; no timing."""
    paths, state = open_lab(state_dir)
    if not (state.clouds and paths.clouds_yaml.exists() and paths.challenge_yaml.exists()):
        return None
    return LabInfo(paths.root, paths.clouds_yaml, paths.admin_clouds_yaml, paths.challenge_yaml,
                   list(state.clouds), 0.0)


def lab_env(state_dir: Path) -> str:
    """Shell exports pointing the harness at the lab: ``eval "$(interop lab env)"``."""
    root = Path(state_dir).expanduser().absolute()
    exports = {
        "OS_CLIENT_CONFIG_FILE": root / "clouds.yaml",
        "INTEROP_CHALLENGE": root / "challenge.yaml",
        "INTEROP_LAB_DIR": root,
    }
    return "\n".join(f"export {key}={shlex.quote(str(value))}" for key, value in exports.items())
