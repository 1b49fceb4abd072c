"""The lab's services as data: what runs, in which order it starts and in which tiers it stops.

The Nova virt driver and the network agent are the pluggable parts (:class:`Drivers`). The
default is the data plane: nova-compute with the lab's netns virt driver
(:mod:`.nova_driver`, started through :mod:`.nova_compute`) and the lab agent (:mod:`.agent`:
routers, floating IPs, security groups, port status), both run by the LAB venv's python with
this ``interop_lab`` package on ``PYTHONPATH`` (see :func:`python_path`). ``Drivers.fake()`` (or
``INTEROP_LAB_DATAPLANE=fake``) gives the stock fake driver and the heartbeat-only agent:
servers without a data plane. The service NAMES stay the same, so status and down work
unchanged.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import harness.errors
from harness.errors import LabError

from .configs import FAKE_COMPUTE_DRIVER, ComputeOptions, dataplane_dir
from .install import RABBITMQ_SERVER
from .services import ServiceSpec
from .settings import HOST, LabPaths, Ports

FAKE_AGENT = Path(__file__).with_name("fake_agent.py")
# the packages the lab venv's services (driver, agent) import, by name in python_path()
LAB_PACKAGE_DIR = Path(__file__).resolve().parent
HARNESS_PACKAGE_DIR = Path(harness.errors.__file__).resolve().parent
DATAPLANE_PACKAGES_FILE = Path(__file__).parent / "dataplane" / "packages.txt"
RABBIT_NODE = "interoplab@localhost"
DATAPLANE_ENV = "INTEROP_LAB_DATAPLANE"  # "netns" (default) or "fake"

AgentFactory = Callable[[LabPaths, str], ServiceSpec]
ComputeFactory = Callable[[LabPaths], ServiceSpec]


def neutron_config_args(paths: LabPaths) -> tuple[str, ...]:
    etc = paths.etc / "neutron"
    return ("--config-file", str(etc / "neutron.conf"), "--config-file", str(etc / "ml2_conf.ini"))


def nova_compute_config_args(paths: LabPaths) -> tuple[str, ...]:
    etc = paths.etc / "nova"
    return ("--config-file", str(etc / "nova.conf"), "--config-file", str(etc / "nova-compute.conf"))


def python_path(paths: LabPaths) -> Path:
    """A directory holding only symlinks to the packages the lab venv imports, its PYTHONPATH.

    ``interop_lab`` (the Nova driver, the agent) and ``harness``, only so that the lab's
    imports of ``harness.errors``, ``harness.waiting`` and ``harness.cancel`` (stdlib only)
    resolve. Not the packages' parent: for installed (non-editable) packages that is the
    harness venv's site-packages, whose libraries must not shadow the lab venv's own.
    """
    return paths.root / "pythonpath"


def python_path_links() -> dict[str, Path]:
    """What :func:`python_path` holds: link name -> package directory."""
    return {"interop_lab": LAB_PACKAGE_DIR, "harness": HARNESS_PACKAGE_DIR}


def ensure_python_path(paths: LabPaths) -> list[str]:
    """Make :func:`python_path` hold exactly :func:`python_path_links`; the names it (re)linked.

    Idempotent: a link already pointing at its package is kept, a stale one (another checkout,
    an older layout's link) is replaced in one rename, so a service starting meanwhile
    never sees it missing.
    """
    directory = python_path(paths)
    directory.mkdir(exist_ok=True)
    wanted = python_path_links()
    for entry in directory.iterdir():
        if entry.name not in wanted and entry.is_symlink():
            entry.unlink()  # a link an older lab made that this layout does not have
    changed = []
    for name, target in wanted.items():
        link = directory / name
        if link.is_symlink() and link.resolve() == target:
            continue
        if link.exists() and not link.is_symlink():
            raise LabError(f"{link} is not a symlink; remove it (the lab links its packages there)")
        tmp = directory / f".{name}.tmp"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(target, target_is_directory=True)
        os.replace(tmp, link)
        changed.append(name)
    return changed


def project_env(paths: LabPaths) -> dict[str, str]:
    return {"PYTHONPATH": str(python_path(paths))}


def fake_ovs_agent(paths: LabPaths, host: str) -> ServiceSpec:
    """The heartbeat-only OVS agent, run by the lab venv's python (neutron lives there)."""
    return ServiceSpec("neutron-agent", (str(paths.python), str(FAKE_AGENT), host, *neutron_config_args(paths)))


def dataplane_agent(paths: LabPaths, host: str) -> ServiceSpec:
    """The lab agent (interop_lab/agent.py): routers, floating IPs, security groups, port status."""
    argv = (str(paths.python), "-m", "interop_lab.agent", host, "--state-dir", str(dataplane_dir(paths)),
            *neutron_config_args(paths))
    return ServiceSpec("neutron-agent", argv, env=project_env(paths))


def stock_nova_compute(paths: LabPaths) -> ServiceSpec:
    return ServiceSpec("nova-compute", (str(paths.bin("nova-compute")), *nova_compute_config_args(paths)))


def netns_nova_compute(paths: LabPaths) -> ServiceSpec:
    """nova-compute through the launcher that makes the lab's virt driver loadable."""
    argv = (str(paths.python), "-m", "interop_lab.nova_compute", *nova_compute_config_args(paths))
    return ServiceSpec("nova-compute", argv, env=project_env(paths))


def dataplane_packages() -> tuple[str, ...]:
    lines = DATAPLANE_PACKAGES_FILE.read_text().splitlines()
    return tuple(word for line in lines if (word := line.split("#", 1)[0].strip()))


@dataclass(frozen=True)
class Drivers:
    """Which virt driver and network agent the lab runs, and the Debian packages they need."""

    compute: ComputeOptions = field(default_factory=ComputeOptions)
    agent: AgentFactory = dataplane_agent
    compute_service: ComputeFactory = netns_nova_compute
    packages: tuple[str, ...] = field(default_factory=dataplane_packages)

    @property
    def dataplane(self) -> bool:
        return self.compute.dataplane

    @classmethod
    def fake(cls) -> Drivers:
        """Nova's fake driver and the heartbeat-only agent: API behaviour only, no data plane."""
        return cls(ComputeOptions(driver=FAKE_COMPUTE_DRIVER), fake_ovs_agent, stock_nova_compute, ())

    @classmethod
    def from_env(cls) -> Drivers:
        """``$INTEROP_LAB_DATAPLANE``: ``netns`` (default) or ``fake``."""
        mode = os.environ.get(DATAPLANE_ENV, "").strip().lower() or "netns"
        if mode == "netns":
            return cls()
        if mode == "fake":
            return cls.fake()
        raise LabError(f"{DATAPLANE_ENV}={mode!r}: expected netns or fake")


# start order; down stops in tiers: every OpenStack service at once, then the message bus,
# then the database (last, so nothing writes to it while it shuts down)
START_ORDER = (
    "mariadb", "epmd", "rabbitmq",
    "keystone", "placement", "glance", "neutron-api", "neutron-rpc", "neutron-agent",
    "nova-api", "nova-conductor", "nova-scheduler", "nova-compute",
)
STOP_TIERS = (
    ("nova-compute", "nova-scheduler", "nova-conductor", "nova-api",
     "neutron-agent", "neutron-rpc", "neutron-api", "glance", "placement", "keystone"),
    ("rabbitmq",),
    ("epmd", "mariadb"),
)
# each database migration unblocks these services
SYNC_UNBLOCKS = {
    "placement": ("placement",),
    "glance": ("glance",),
    "neutron": ("neutron-api", "neutron-rpc", "neutron-agent"),
    "nova": ("nova-api", "nova-conductor", "nova-scheduler", "nova-compute"),
}


def rabbitmq_env(paths: LabPaths, ports: Ports) -> dict[str, str]:
    base = paths.rabbitmq
    return {
        "RABBITMQ_NODENAME": RABBIT_NODE,
        "RABBITMQ_NODE_IP_ADDRESS": HOST,
        "RABBITMQ_NODE_PORT": str(ports.rabbitmq),
        "RABBITMQ_DIST_PORT": str(ports.rabbitmq_dist),
        "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
        "RABBITMQ_LOG_BASE": str(paths.log / "rabbitmq"),
        "RABBITMQ_LOGS": "-",  # to stdout, i.e. the service log
        "RABBITMQ_PID_FILE": str(base / "rabbitmq.pid"),
        "RABBITMQ_CONFIG_FILE": str(paths.etc / "rabbitmq" / "rabbitmq.conf"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(paths.etc / "rabbitmq" / "enabled_plugins"),
        "RABBITMQ_ADVANCED_CONFIG_FILE": str(paths.etc / "rabbitmq" / "advanced.config"),
        # the Erlang distribution port listens on all interfaces unless told otherwise
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        "ERL_EPMD_ADDRESS": HOST,
        "ERL_EPMD_PORT": str(ports.epmd),
        "ERL_CRASH_DUMP": str(paths.log / "rabbitmq-erl_crash.dump"),
        # the Erlang cookie is written to $HOME: keep it in the state dir, not in /root
        "HOME": str(base),
    }


def service_configs(paths: LabPaths) -> dict[str, tuple[Path, ...]]:
    """The generated files each service reads: a change to one restarts the service."""
    etc = paths.etc
    neutron = (etc / "neutron" / "neutron.conf", etc / "neutron" / "ml2_conf.ini")
    nova = (etc / "nova" / "nova.conf",)
    rabbitmq = (etc / "rabbitmq" / "rabbitmq.conf", etc / "rabbitmq" / "enabled_plugins")

    def uwsgi(name: str) -> Path:
        return etc / "uwsgi" / f"{name}.ini"

    return {
        "mariadb": (), "epmd": (), "rabbitmq": rabbitmq,
        "keystone": (etc / "keystone" / "keystone.conf", uwsgi("keystone")),
        "placement": (etc / "placement" / "placement.conf", uwsgi("placement")),
        "glance": (etc / "glance" / "glance-api.conf", etc / "glance" / "glance-api-paste.ini", uwsgi("glance")),
        "neutron-api": (*neutron, etc / "neutron" / "api-paste.ini", uwsgi("neutron-api")),
        "neutron-rpc": neutron,
        "neutron-agent": neutron,
        "nova-api": (*nova, etc / "nova" / "api-paste.ini", uwsgi("nova-api")),
        "nova-conductor": nova,
        "nova-scheduler": nova,
        "nova-compute": (*nova, etc / "nova" / "nova-compute.conf"),
    }


def service_specs(paths: LabPaths, ports: Ports, drivers: Drivers) -> dict[str, ServiceSpec]:
    """Every long-running service of the lab, by name, in start order."""
    etc = paths.etc
    nova_args = ("--config-file", str(etc / "nova" / "nova.conf"))
    specs = [
        ServiceSpec("mariadb", (
            shutil.which("mariadbd") or "mariadbd", "--no-defaults",
            f"--datadir={paths.mysql_datadir}", f"--socket={paths.mysql_socket}",
            f"--port={ports.mariadb}", f"--bind-address={HOST}", "--user=root",
            "--skip-name-resolve", "--max-connections=1000", "--innodb-buffer-pool-size=64M",
            "--character-set-server=utf8", "--collation-server=utf8_general_ci",
            # its own pidfile stays out of run/, which holds only the lab's pidfiles
            f"--pid-file={paths.mysql_datadir / 'mariadbd.pid'}",
        ), port=ports.mariadb, url=f"mysql://{HOST}:{ports.mariadb}"),
        # our own epmd, in the foreground and in our process group: the one Erlang would
        # start by itself daemonizes out of it and would outlive `lab down`
        ServiceSpec("epmd", (shutil.which("epmd") or "epmd", "-address", HOST, "-port", str(ports.epmd)),
                    env={"ERL_EPMD_ADDRESS": HOST}, port=ports.epmd),
        ServiceSpec("rabbitmq", (str(RABBITMQ_SERVER),), env=rabbitmq_env(paths, ports),
                    port=ports.rabbitmq, url=f"amqp://{HOST}:{ports.rabbitmq}"),
    ]
    for name, port in (("keystone", ports.keystone), ("placement", ports.placement), ("glance", ports.glance),
                       ("neutron-api", ports.neutron), ("nova-api", ports.nova)):
        url = f"http://{HOST}:{port}" + ("/v3" if name == "keystone" else "/")
        specs.append(ServiceSpec(name, (str(paths.bin("uwsgi")), "--ini", str(etc / "uwsgi" / f"{name}.ini")),
                                 port=port, url=url))
        if name == "neutron-api":
            rpc = (str(paths.bin("neutron-rpc-server")), *neutron_config_args(paths))
            specs.append(ServiceSpec("neutron-rpc", rpc))
            specs.append(drivers.agent(paths, drivers.compute.host))
    for binary in ("nova-conductor", "nova-scheduler"):
        specs.append(ServiceSpec(binary, (str(paths.bin(binary)), *nova_args)))
    specs.append(drivers.compute_service(paths))
    by_name = {spec.name: spec for spec in specs}
    return {name: by_name[name] for name in START_ORDER}
