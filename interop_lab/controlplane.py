"""Bring the lab's OpenStack up: ordered, idempotent, every step timed and bounded.

Bring-up order (each step skipped when already done, each wait through ``wait_for``)::

    packages -> venv (pip) and the servers' image (image files), in threads | configs, MariaDB,
    epmd + RabbitMQ
    -> Keystone (db sync, keys, bootstrap, API)
    -> identity (catalog, service and tenant users) | db syncs of placement, glance, neutron,
       nova in parallel, each starting its services as soon as its schema is ready
    -> every API answers -> compute host usable | network, image, flavor, quotas
    -> clouds.yaml, admin-clouds.yaml, challenge.yaml

One-time steps leave a stamp in ``<state>/stamps``; services are recognised by their pidfiles.
So a second ``lab up`` with the same cloud count starts nothing and talks to no OpenStack API.

A running service whose inputs changed (command line, environment, or a generated file it
reads, see :func:`plan.service_configs`) is restarted, and only that one: switching the virt
driver and agent (e.g. ``INTEROP_LAB_DATAPLANE=fake`` -> default) restarts nova-compute and the
network agent and leaves the rest of the lab, and its servers, running. A fingerprint of the
inputs is kept next to the pidfile (``run/<name>.inputs``); a service started before
fingerprints existed is restarted only if its command line changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import LabError, PhaseTimeout
from harness.waiting import wait_for

from . import backends, install
from .configs import ConfigContext, dataplane_dir, paste_files, render_all
from .content import Tenant
from .dataplane import names as dp_names
from .dataplane import system as dp_system
from .files import lab_lock, tail, write_file
from .image import Image, ensure_image, load_image
from .outputs import cloud_names, write_outputs
from .plan import SYNC_UNBLOCKS, Drivers, ensure_python_path, neutron_config_args, service_configs, service_specs
from .progress import Progress
from .services import LAB_ID_ENV, port_in_use
from .settings import DEFAULT_STATE_DIR, LabPaths, LabState, Secrets, open_lab
from .status import LabInfo, manager_for

if TYPE_CHECKING:
    from openstack.connection import Connection

SERVICE_TIMEOUT = 180.0  # one API from start to answering; ~30 s measured on 2 cores
COMPUTE_TIMEOUT = 300.0
TOOL_TIMEOUT = 600.0  # one db sync or manage command


@contextmanager
def sdk_errors(step: str) -> Iterator[None]:
    """Translate openstacksdk / keystoneauth failures into LabError at the one place we call them."""
    from keystoneauth1.exceptions import ClientException
    from openstack.exceptions import SDKException

    try:
        yield
    except (SDKException, ClientException) as exc:
        raise LabError(f"{step}: {type(exc).__name__}: {exc}", phase="lab up") from exc


class BringUp:
    """One ``lab up`` call: the state it works on and the services it (re)started."""

    def __init__(self, paths: LabPaths, state: LabState, progress: Progress, drivers: Drivers,
                 image: Image | None = None) -> None:
        self.paths = paths
        self.state = state
        self.log = progress
        self.drivers = drivers
        self.image = image or Image()
        self.ports = state.resolved_ports()
        self.secrets = Secrets.load(paths.secrets_file)
        self.manager = manager_for(paths)
        self.specs = service_specs(paths, self.ports, drivers)
        self.configs = service_configs(paths)
        self.config = ConfigContext(paths, self.ports, self.secrets, drivers.compute)
        self.lab_id = str(paths.root)
        self.started: list[str] = []
        # naive UTC, as OpenStack reports heartbeats: only later ones prove a restarted service
        self.began = datetime.now(UTC).replace(tzinfo=None)

    # -- helpers ---------------------------------------------------------------------------

    def tool(self, log_name: str, *argv: str, env: dict[str, str] | None = None) -> str:
        """Run a one-shot command to completion (bounded); its output goes to log/<log_name>.log."""
        log_file = self.paths.log / f"{log_name}.log"
        with log_file.open("a") as out:
            out.write(f"$ {' '.join(argv)}\n")
            out.flush()
            try:
                result = subprocess.run(argv, capture_output=True, text=True, timeout=TOOL_TIMEOUT,
                                        env={**os.environ, **(env or {}), LAB_ID_ENV: self.lab_id})
            except subprocess.TimeoutExpired as exc:
                raise LabError(
                    f"`{' '.join(argv[:3])}` did not finish within {TOOL_TIMEOUT:.0f}s (log: {log_file})"
                ) from exc
            out.write(result.stdout + result.stderr)
        if result.returncode != 0:
            raise LabError(f"`{' '.join(argv[:4])}` failed: {tail(log_file, 4)} (log: {log_file})")
        return result.stdout

    def once(self, stamp: str, action: Callable[[], object], done: str | None = None) -> bool:
        """Run a one-time step unless its stamp says it already succeeded; True if it ran.

        ``done`` is logged with the step's duration when it ran.
        """
        marker = self.paths.stamps / stamp
        if marker.exists():
            return False
        started = self.log.elapsed
        action()
        marker.touch()
        if done:
            self.log(f"{done} ({self.log.elapsed - started:.1f}s)")
        return True

    def inputs_file(self, name: str) -> Path:
        return self.paths.run / f"{name}.inputs"

    def inputs(self, name: str) -> str:
        """Fingerprint of what ``name`` runs with: argv, environment, the files it reads."""
        spec = self.specs[name]
        files = {}
        for path in self.configs.get(name, ()):
            try:
                files[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
            except FileNotFoundError:
                files[str(path)] = "missing"
        text = json.dumps({"argv": list(spec.argv), "env": dict(spec.env), "files": files}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def stale(self, name: str) -> str | None:
        """Why the running ``name`` must be restarted, or None if it runs with today's inputs."""
        try:
            recorded = self.inputs_file(name).read_text().strip()
        except FileNotFoundError:
            # started before fingerprints were kept: only its command line can be compared
            try:
                argv = json.loads(self.manager.pidfile(name).read_text()).get("argv")
            except (FileNotFoundError, ValueError):
                return None
            return "its command line changed" if argv != list(self.specs[name].argv) else None
        return "its configuration changed" if recorded != self.inputs(name) else None

    def start(self, name: str) -> None:
        pid = self.manager.pid(name)
        if pid is not None:
            why = self.stale(name)
            if why is None:
                self.log(f"{name} already running (pid {pid})")
                return
            self.log(f"{name} (pid {pid}): {why}, restarting it")
            self.manager.stop([name])
        pid = self.manager.start(self.specs[name])
        write_file(self.inputs_file(name), self.inputs(name) + "\n")
        self.started.append(name)
        self.log(f"started {name} (pid {pid})")

    def wait_ready(self, name: str, check: Callable[[], bool], timeout: float = SERVICE_TIMEOUT) -> None:
        """Wait until ``check`` passes; fail at once, with its log, if the service exits."""
        log_file = self.manager.logfile(name)

        def ready() -> bool:
            if check():
                return True
            if self.manager.pid(name) is None:
                raise LabError(f"{name} exited while starting: {tail(log_file)} (log: {log_file})")
            return False

        try:
            wait_for(ready, timeout=timeout, interval=0.5, what=f"{name} to answer")
        except PhaseTimeout as exc:
            raise LabError(f"{exc}; last log lines: {tail(log_file)} (log: {log_file})") from exc
        spec = self.specs[name]
        if name in self.started and (spec.url or spec.port):
            self.log(f"{name} answers at {spec.url or spec.port}")

    def admin(self) -> Connection:
        from .bootstrap import admin_connection

        with sdk_errors("connecting as the lab admin"):
            return admin_connection(self.ports, self.secrets.admin)

    # -- steps -----------------------------------------------------------------------------

    def write_configs(self) -> None:
        for directory in ("keystone/fernet-keys", "keystone/credential-keys", "glance/images",
                          "glance/staging", "glance/tasks", "neutron", "nova/instances"):
            (self.paths.root / "data" / directory).mkdir(parents=True, exist_ok=True, mode=0o700)
        self.paths.rabbitmq.mkdir(parents=True, exist_ok=True, mode=0o700)
        changed = [path for path, text in render_all(self.config).items() if write_file(path, text, mode=0o600)]
        if changed and any(self.manager.pid(name) for name in self.specs):
            self.log(f"configs changed: {', '.join(p.name for p in changed)}")
        if self.drivers.dataplane:
            dataplane_dir(self.paths).mkdir(mode=0o700, exist_ok=True)
        # the lab venv imports interop_lab (driver, agent) and harness's three stdlib-only
        # helpers through the symlinks in this directory, its PYTHONPATH
        ensure_python_path(self.paths)

    def up_mariadb(self) -> None:
        if backends.init_mariadb_datadir(self.paths, self.paths.log / "mariadb-install.log"):
            self.log("initialised the MariaDB datadir")
        self.start("mariadb")
        self.wait_ready("mariadb", lambda: backends.mariadb_ready(self.paths), timeout=120)
        backends.ensure_databases(self.paths, self.secrets.database, lab_id=self.lab_id)

    def up_rabbitmq(self) -> None:
        if self.manager.pid("epmd") is None and port_in_use(self.ports.epmd):
            self.log(f"an epmd the lab did not start listens on {self.ports.epmd}; RabbitMQ uses it")
        else:
            self.start("epmd")
            # RabbitMQ would otherwise spawn its own, daemonized epmd outside our process group
            self.wait_ready("epmd", lambda: port_in_use(self.ports.epmd), timeout=30)
        self.start("rabbitmq")
        self.wait_ready("rabbitmq", lambda: backends.rabbitmq_ready(self.ports.rabbitmq), timeout=120)

    def up_keystone(self) -> None:
        manage = (str(self.paths.bin("keystone-manage")), "--config-file",
                  str(self.paths.etc / "keystone" / "keystone.conf"))
        self.once("keystone-db-sync", lambda: self.tool("keystone-dbsync", *manage, "db_sync"),
                  done="keystone database migrated")
        for kind in ("fernet", "credential"):
            if not (self.paths.data("keystone") / f"{kind}-keys" / "0").exists():
                self.tool("keystone-dbsync", *manage, f"{kind}_setup", "--keystone-user", "root",
                          "--keystone-group", "root")
                self.log(f"keystone {kind} keys created")
        url = self.ports.keystone_url
        self.once("keystone-bootstrap", lambda: self.tool(
            "keystone-dbsync", *manage, "bootstrap", "--bootstrap-admin-url", url, "--bootstrap-internal-url", url,
            "--bootstrap-public-url", url, "--bootstrap-region-id", "RegionOne",
            # from the environment, so the password never shows in the process list
            env={"OS_BOOTSTRAP_PASSWORD": self.secrets.admin}), done="keystone bootstrapped (admin, RegionOne)")
        self.start("keystone")
        self.wait_ready("keystone", lambda: backends.http_answers(url))

    def db_sync(self, project: str) -> None:
        etc = self.paths.etc
        b = self.paths.bin
        if project == "placement":
            self.tool("placement-dbsync", str(b("placement-manage")), "--config-file",
                      str(etc / "placement" / "placement.conf"), "db", "sync")
        elif project == "glance":
            self.tool("glance-dbsync", str(b("glance-manage")), "--config-file",
                      str(etc / "glance" / "glance-api.conf"), "db_sync")
        elif project == "neutron":
            self.tool("neutron-dbsync", str(b("neutron-db-manage")), *neutron_config_args(self.paths),
                      "upgrade", "heads")
        elif project == "nova":
            manage = (str(b("nova-manage")), "--config-file", str(etc / "nova" / "nova.conf"))
            self.tool("nova-dbsync", *manage, "api_db", "sync")
            self.tool("nova-dbsync", *manage, "cell_v2", "map_cell0")
            if " cell1 " not in self.tool("nova-dbsync", *manage, "cell_v2", "list_cells"):
                self.tool("nova-dbsync", *manage, "cell_v2", "create_cell", "--name", "cell1")
            self.tool("nova-dbsync", *manage, "db", "sync")
        else:
            raise ValueError(project)

    def identity(self, tenants: Sequence[Tenant]) -> dict[str, str]:
        """Catalog and service users (once), then the new tenants' projects and users."""
        from . import bootstrap

        conn = self.admin()

        def catalog() -> None:
            bootstrap.ensure_catalog(conn, self.ports)
            bootstrap.ensure_service_users(conn, self.secrets.service)

        with sdk_errors("registering the catalog and service users"):
            self.once("catalog", catalog, done="catalog and service users registered")
        with sdk_errors("creating the tenant projects and users"):
            projects = {t.cloud: bootstrap.ensure_tenant_identity(conn, t) for t in tenants}
        if tenants:
            self.log(f"projects and users for {', '.join(t.cloud for t in tenants)} created")
        return projects

    def up_openstack(self, tenants: Sequence[Tenant]) -> dict[str, str]:
        """Identity registration and the four db syncs in parallel; start services as syncs finish."""
        needs_identity = bool(tenants) or not (self.paths.stamps / "catalog").exists()
        with ThreadPoolExecutor(max_workers=5) as pool:
            identity = pool.submit(self.identity, tenants) if needs_identity else None
            syncs = {pool.submit(self.once, f"{p}-db-sync", partial(self.db_sync, p), f"{p} database migrated"): p
                     for p in SYNC_UNBLOCKS}
            for future in as_completed(syncs):
                future.result()
                for name in SYNC_UNBLOCKS[syncs[future]]:
                    self.start(name)
            projects = identity.result() if identity else {}
        for name in ("placement", "glance", "neutron-api", "nova-api"):
            self.wait_ready(name, partial(backends.http_answers, str(self.specs[name].url)))
        return projects

    def compute_ready(self) -> None:
        from . import bootstrap

        host = self.drivers.compute.host
        manage = (str(self.paths.bin("nova-manage")), "--config-file", str(self.paths.etc / "nova" / "nova.conf"))

        def is_mapped() -> bool:
            rows = backends.sql(self.paths, "SELECT host FROM nova_api.host_mappings;", lab_id=self.lab_id)
            return host in rows.split()

        def discover() -> None:
            self.tool("nova-discover", *manage, "cell_v2", "discover_hosts")

        conn = self.admin()
        with sdk_errors("waiting for the compute host"):
            bootstrap.wait_compute_ready(conn, host, is_mapped=is_mapped, discover=discover,
                                         timeout=COMPUTE_TIMEOUT, log=self.log,
                                         since=self.began if self.started else None)
        (self.paths.stamps / "compute-ready").touch()

    def resources(self, projects: dict[str, str]) -> None:
        from . import bootstrap

        conn = self.admin()

        def shared() -> None:
            bootstrap.ensure_public_network(conn)
            bootstrap.ensure_image(conn)
            bootstrap.ensure_flavor(conn)

        # not once per lab: each ensure_* is a lookup when all is in place, and a lab made by
        # an older harness gets what a newer one adds (e.g. the image's os_distro)
        with sdk_errors("creating the public network, image and flavor"):
            shared()
            (self.paths.stamps / "resources").touch()
        with sdk_errors("setting the tenant quotas"):
            for project_id in projects.values():
                bootstrap.set_tenant_quotas(conn, project_id)
        self.log("public network, image, flavor and quotas in place")

    def finish(self, projects: dict[str, str]) -> None:
        """Wait for the compute host and create the shared resources, as needed, in parallel."""
        jobs: list[Callable[[], None]] = []
        if self.started or not (self.paths.stamps / "compute-ready").exists():
            jobs.append(self.compute_ready)  # any restart may have re-registered the compute host
        if projects or self.started or not (self.paths.stamps / "resources").exists():
            jobs.append(lambda: self.resources(projects))
        with ThreadPoolExecutor(max_workers=2) as pool:
            for future in [pool.submit(job) for job in jobs]:
                future.result()
        if self.drivers.dataplane:
            self.dataplane_ready()

    def dataplane_ready(self) -> None:
        """The agent has put the external network's gateway (the harness side) on its bridge."""
        bridge = dp_names.DEFAULT_EXTERNAL_BRIDGE
        if dp_system.link_exists(bridge):
            return
        self.wait_ready("neutron-agent", lambda: dp_system.link_exists(bridge))
        self.log(f"data plane ready: the external network's gateway is on {bridge}")

    def run(self, count: int) -> LabInfo:
        existing = list(self.state.clouds)
        wanted = existing + [name for name in cloud_names(count) if name not in existing]
        if count < len(existing):
            self.log(f"the lab already has {len(existing)} clouds; keeping them all")
        new = [Tenant(name, self.secrets.tenant(name)) for name in wanted if name not in existing]
        self.secrets.save(self.paths.secrets_file)
        self.state.venv, self.state.ports = str(self.paths.venv), asdict(self.ports)
        self.state.save(self.paths.state_file)

        if self.drivers.dataplane and os.geteuid() != 0:
            raise LabError("the lab data plane (servers as network namespaces) needs root; run as root, or "
                           "bring up a lab without one: INTEROP_LAB_DATAPLANE=fake interop lab up")
        install.ensure_packages(self.log, self.drivers.packages)
        self.write_configs()
        with ThreadPoolExecutor(max_workers=2) as pool:
            # pip takes a minute: bring the database and the message bus up meanwhile
            venv = pool.submit(install.ensure_venv, self.paths.venv, self.log, self.paths.log / "pip.log")
            # the servers' "image" is this host's filesystem: bake the image files' packages in
            # before any server boots (a VM hides /var/lib/etcd only if it exists at boot)
            wants_image = self.drivers.dataplane and not self.image.empty
            image = pool.submit(ensure_image, self.image, self.log) if wants_image else None
            self.up_mariadb()
            self.up_rabbitmq()
            venv.result()
            if image is not None:
                image.result()
        for path, text in paste_files(self.paths).items():
            write_file(path, text)
        self.up_keystone()
        projects = self.up_openstack(new)
        self.finish(projects)

        tenants = [Tenant(name, self.secrets.tenant(name)) for name in wanted]
        write_outputs(self.paths.clouds_yaml, self.paths.admin_clouds_yaml, self.paths.challenge_yaml,
                      ports=self.ports, tenants=tenants, admin_password=self.secrets.admin)
        self.state.clouds = wanted
        self.state.save(self.paths.state_file)
        return LabInfo(self.paths.root, self.paths.clouds_yaml, self.paths.admin_clouds_yaml,
                       self.paths.challenge_yaml, wanted, round(self.log.elapsed, 2), list(self.started),
                       [tenant.cloud for tenant in new])


def lab_up(state_dir: Path, clouds: int = 3, log: Callable[[str], None] = print, *,
           venv: Path | None = None, drivers: Drivers | None = None,
           image_files: Sequence[Path] = ()) -> LabInfo:
    """Bring the lab up (or add clouds to it); a no-op when it already runs with ``clouds`` clouds.

    ``drivers``: default ``Drivers.from_env()``, i.e. the data plane unless
    ``INTEROP_LAB_DATAPLANE=fake``. ``image_files``: YAML files whose ``image:`` the servers
    find pre-installed (:mod:`.image`), read before anything starts; none, nothing is.

    >>> info = lab_up(default_state_dir(), clouds=3)      # doctest: +SKIP
    >>> info.cloud_names
    ['lab1', 'lab2', 'lab3']
    """
    if clouds < 1:
        raise LabError(f"a lab needs at least one cloud, got {clouds}")
    image = load_image(image_files)
    progress = Progress(log)
    paths, state = open_lab(state_dir, venv)
    paths.make_dirs()
    with lab_lock(paths.lock_file):
        # re-read under the lock: another lab up may have just finished
        paths, state = open_lab(state_dir, venv)
        info = BringUp(paths, state, progress, drivers or Drivers.from_env(), image).run(clouds)
    if info.noop:
        progress(f"lab already up, nothing started (no-op in {info.seconds:.2f}s): {len(info.cloud_names)} clouds")
    elif not info.started:
        progress(f"lab already up; added clouds {', '.join(info.added)} in {info.seconds:.1f}s")
    else:
        progress(f"lab up in {info.seconds:.0f}s: clouds {', '.join(info.cloud_names)} in {info.clouds_yaml}")
    where = "" if info.state_dir == DEFAULT_STATE_DIR else f"INTEROP_LAB_DIR={info.state_dir} "
    progress(f"use it: eval \"$({where}interop lab env)\"  (challenge: {info.challenge_yaml})")
    return info
