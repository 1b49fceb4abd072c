"""Where the lab keeps everything, which ports it listens on, and its generated secrets.

Everything of one lab lives under ONE state directory (configs, logs, pidfiles, the MariaDB
datadir, RabbitMQ's mnesia, Glance images, the generated clouds.yaml files and, by default,
the lab's virtualenv), so ``lab down --purge`` is a single ``rm -r`` and two labs never mix.

>>> paths = LabPaths.create(Path("/var/tmp/interop-lab"))
>>> paths.mysql_socket
PosixPath('/var/tmp/interop-lab/run/mysqld.sock')
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.errors import LabError

from .files import write_file

DEFAULT_STATE_DIR = Path("/var/tmp/interop-lab")
STATE_DIR_ENV = "INTEROP_LAB_DIR"
VENV_ENV = "INTEROP_LAB_VENV"

HOST = "127.0.0.1"  # every listener binds here and nowhere else
REGION = "RegionOne"
COMPUTE_HOST = "interop-lab-compute"  # nova's `host` and the agent's host must be equal
# sun_path holds 108 bytes; stay well below so the error is ours, not a cryptic bind failure
MAX_SOCKET_PATH = 100
# marks a directory as a lab state dir: purge refuses to delete a directory without it
MARKER_FILE = ".interop-lab"


def default_state_dir() -> Path:
    """``$INTEROP_LAB_DIR`` if set, else ``/var/tmp/interop-lab`` (survives reboots, unlike /tmp)."""
    value = os.environ.get(STATE_DIR_ENV, "").strip()
    return Path(value) if value else DEFAULT_STATE_DIR


@dataclass(frozen=True)
class Ports:
    """TCP ports on 127.0.0.1; MariaDB and RabbitMQ can move if a system instance holds them."""

    mariadb: int = 3306
    rabbitmq: int = 5672
    rabbitmq_dist: int = 25672
    epmd: int = 4369
    keystone: int = 5000
    placement: int = 8778
    glance: int = 9292
    neutron: int = 9696
    nova: int = 8774

    @classmethod
    def from_env(cls) -> Ports:
        db = int(os.environ.get("INTEROP_LAB_DB_PORT", cls.mariadb))
        mq = int(os.environ.get("INTEROP_LAB_MQ_PORT", cls.rabbitmq))
        return cls(mariadb=db, rabbitmq=mq, rabbitmq_dist=mq + 20000)

    @property
    def keystone_url(self) -> str:
        return f"http://{HOST}:{self.keystone}/v3"


@dataclass(frozen=True)
class LabPaths:
    """The layout of one state directory."""

    root: Path
    venv: Path

    @classmethod
    def create(cls, state_dir: Path, venv: Path | None = None) -> LabPaths:
        """Resolve the layout; the venv is ``venv``, else ``$INTEROP_LAB_VENV``, else inside the state dir."""
        root = Path(state_dir).expanduser().absolute()
        if venv is None and os.environ.get(VENV_ENV, "").strip():
            venv = Path(os.environ[VENV_ENV].strip())
        paths = cls(root=root, venv=(Path(venv).expanduser().absolute() if venv else root / "venv"))
        if len(str(paths.mysql_socket)) >= MAX_SOCKET_PATH:
            raise LabError(
                f"state directory {root} is too long: the MariaDB socket path {paths.mysql_socket} "
                f"must stay under {MAX_SOCKET_PATH} characters; set {STATE_DIR_ENV} to a shorter path"
            )
        return paths

    @property
    def etc(self) -> Path:
        return self.root / "etc"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def log(self) -> Path:
        return self.root / "log"

    @property
    def stamps(self) -> Path:
        return self.root / "stamps"

    @property
    def locks(self) -> Path:
        return self.root / "locks"

    @property
    def mysql_datadir(self) -> Path:
        return self.root / "mysql"

    @property
    def mysql_socket(self) -> Path:
        return self.root / "run" / "mysqld.sock"

    @property
    def rabbitmq(self) -> Path:
        return self.root / "rabbitmq"

    @property
    def secrets_file(self) -> Path:
        return self.root / "secrets.json"

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    @property
    def lock_file(self) -> Path:
        return self.root / "lab.lock"

    @property
    def clouds_yaml(self) -> Path:
        return self.root / "clouds.yaml"

    @property
    def admin_clouds_yaml(self) -> Path:
        return self.root / "admin-clouds.yaml"

    @property
    def challenge_yaml(self) -> Path:
        return self.root / "challenge.yaml"

    def data(self, service: str) -> Path:
        """A service's own data directory (fernet keys, images, nova's state_path, ...)."""
        return self.root / "data" / service

    def bin(self, name: str) -> Path:
        return self.venv / "bin" / name

    @property
    def python(self) -> Path:
        return self.bin("python")

    def make_dirs(self) -> None:
        for directory in (self.root, self.etc, self.run, self.log, self.stamps, self.locks):
            directory.mkdir(parents=True, exist_ok=True)
        (self.root / MARKER_FILE).touch()


def new_password() -> str:
    """A fresh random password (URL- and ini-safe alphabet: no quoting needed anywhere)."""
    return secrets.token_urlsafe(24)


@dataclass
class Secrets:
    """Every password of one lab, generated on first use and kept in a 0600 file."""

    database: str = field(default_factory=new_password)
    rabbitmq: str = field(default_factory=new_password)
    admin: str = field(default_factory=new_password)
    service: str = field(default_factory=new_password)
    tenants: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Secrets:
        """Read the secrets file, creating it (mode 0600) with new passwords if missing."""
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            fresh = cls()
            fresh.save(path)
            return fresh
        except ValueError as exc:
            raise LabError(f"secrets file {path} is corrupt ({exc}); purge the lab to start over") from exc
        return cls(**raw)

    def save(self, path: Path) -> None:
        write_file(path, json.dumps(asdict(self), indent=2, sort_keys=True) + "\n", mode=0o600)

    def tenant(self, name: str) -> str:
        """The password of tenant ``name``; a new one is generated (call ``save`` afterwards)."""
        if name not in self.tenants:
            self.tenants[name] = new_password()
        return self.tenants[name]


@dataclass
class LabState:
    """What ``lab up`` decided once and must keep: the venv, the ports, the registered clouds."""

    venv: str | None = None
    ports: dict[str, int] = field(default_factory=dict)
    clouds: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> LabState:
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            return cls()
        except ValueError as exc:
            raise LabError(f"lab state file {path} is corrupt ({exc}); purge the lab to start over") from exc
        return cls(**raw)

    def save(self, path: Path) -> None:
        write_file(path, json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")

    def resolved_ports(self) -> Ports:
        """The ports chosen when the lab was first brought up (configs refer to them)."""
        return Ports(**self.ports) if self.ports else Ports.from_env()


def open_lab(state_dir: Path, venv: Path | None = None) -> tuple[LabPaths, LabState]:
    """Paths and persisted state of the lab in ``state_dir`` (which need not exist yet).

    The venv is ``venv``, else ``$INTEROP_LAB_VENV``, else the one this lab was created with,
    else ``<state_dir>/venv``.
    """
    root = Path(state_dir).expanduser().absolute()
    state = LabState.load(root / "state.json")
    if venv is None and not os.environ.get(VENV_ENV, "").strip() and state.venv:
        venv = Path(state.venv)
    return LabPaths.create(root, venv), state
