"""The :class:`~.base.Database` of the hosts-patroni stack: Patroni's REST API, ssh, psycopg.

>>> db = PatroniDatabase(plan, password=pw, ssh_key=key, known_hosts=kh)   # doctest: +SKIP
>>> db.health().ok, db.leader().name                                         # doctest: +SKIP
(True, 'db-c2-1')
>>> db.kill("db-c2-1"); db.wait_healthy(timeout=90)                          # doctest: +SKIP

Members are reached on their public addresses: REST on 8008 (``GET /cluster``, bounded by
``rest_timeout``), PostgreSQL on 5432. Kill and restart run ``interop-svc patroni kill|start``
(installed by ``playbooks/prepare.yml``) over ssh with the run's key.
"""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...configure.inventory import Server, ssh_common_args
from ...errors import CloudError, ConfigError
from ...waiting import wait_for
from ..base import Database, Health, Member
from .health import NotReady, not_streaming, parse_members, readiness

if TYPE_CHECKING:
    from .plan import ClusterPlan

REST_PORT = 8008
PG_PORT = 5432
SSH_TIMEOUT = 30.0
# DESIGN: without these a client hangs ~15 min on a cut-off node
# connect_timeout 2 (libpq's least): a client's next try after a failover must not wait long on
# the stopped member, which comes first in the host list for some clients
CLIENT_OPTIONS = {"connect_timeout": "2", "keepalives": "1", "keepalives_idle": "5", "keepalives_interval": "2",
                  "keepalives_count": "3", "tcp_user_timeout": "10000"}


class PatroniDatabase(Database):
    def __init__(self, plan: ClusterPlan, *, password: str, ssh_key: Path, known_hosts: Path,
                 dbname: str = "interop", user: str = "interop", rest_timeout: float = 3.0) -> None:
        self.plan = plan
        self.password = password
        self.ssh_key = ssh_key
        self.known_hosts = known_hosts
        self.dbname = dbname
        self.user = user
        self.rest_timeout = rest_timeout
        self.expected: list[str] = [m.name for m in plan.members]  # narrowed to the clouds that joined

    def __repr__(self) -> str:
        return f"PatroniDatabase(scope={self.plan.scope!r}, members={self.expected})"

    def _server(self, name: str) -> Server:
        for m in self.plan.members:
            if m.name == name:
                return m
        raise ConfigError(f"no member named {name} (members: {', '.join(m.name for m in self.plan.members)})")

    # ---- clients
    def dsn(self, *, read_write: bool = True, member: str | None = None, redact: bool = False) -> str:
        # psycopg is imported here, not at the top: every xdist worker imports this module
        # through the phase table, and psycopg's import is a fifth of a worker's start-up.
        from psycopg.conninfo import make_conninfo

        servers = [self._server(member)] if member else [self._server(n) for n in self.expected]
        return make_conninfo(
            host=",".join(s.public_ip for s in servers), port=",".join(str(PG_PORT) for _ in servers),
            dbname=self.dbname, user=self.user, password="********" if redact else self.password,
            target_session_attrs="read-write" if read_write and not member else "any", **CLIENT_OPTIONS)

    # ---- REST
    def rest(self, member: str, path: str) -> Any:
        """GET ``path`` from the member's REST API; OSError if it does not answer."""
        url = f"http://{self._server(member).public_ip}:{REST_PORT}{path}"
        try:
            with urllib.request.urlopen(url, timeout=self.rest_timeout) as response:  # noqa: S310 (http only)
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:  # 503 from /health etc. still carries the JSON
            return json.loads(exc.read() or b"null")
        except ValueError as exc:
            raise OSError(f"{url}: not JSON: {exc}") from exc

    def views(self, names: list[str] | None = None) -> dict[str, dict[str, Any] | None]:
        """Each member's ``/cluster`` answer (None where it did not answer), asked in parallel."""
        names = names if names is not None else list(self.expected)

        def ask(name: str) -> dict[str, Any] | None:
            try:
                view = self.rest(name, "/cluster")
            except OSError:
                return None
            return view if isinstance(view, dict) else None

        if not names:
            return {}
        with ThreadPoolExecutor(max_workers=min(16, len(names))) as pool:
            return dict(zip(names, pool.map(ask, names), strict=True))

    def members(self) -> list[Member]:
        for view in self.views().values():
            if view is not None:
                return parse_members(view)
        raise CloudError(f"no member of cluster {self.plan.scope} answered on its REST API")

    def not_streaming(self, names: list[str]) -> list[str]:
        """Why some of ``names`` are not leader or streaming (empty: they are), from their own views."""
        views = self.views(names)
        reasons = [f"{n}'s REST API did not answer" for n, v in views.items() if v is None]
        for view in views.values():
            if view is not None:
                return reasons + not_streaming(parse_members(view), names)
        return reasons

    def health(self) -> Health:
        return readiness(self.views(), self.expected, self.plan.sync_standbys)

    def wait_healthy(self, timeout: float, *, cloud: str | None = None, phase: str | None = None) -> float:
        """Wait until the cluster is ready: one leader, every expected member streaming on its
        timeline, the planned synchronous standbys. Returns the seconds it took."""
        def healthy() -> bool:
            health = self.health()
            if not health.ok:
                raise NotReady("; ".join(health.reasons))
            return True

        elapsed, _ = wait_for(healthy, timeout=timeout, interval=0.5, retry_on=(NotReady,), cloud=cloud, phase=phase,
                              what=f"cluster {self.plan.scope} to be ready (one leader, every member streaming on "
                                   f"its timeline, {self.plan.sync_standbys} synchronous standbys)")
        return elapsed

    def status(self) -> dict[str, Any]:
        views = self.views()
        health = readiness(views, self.expected, self.plan.sync_standbys)
        history = None
        if health.leader:
            try:
                history = self.rest(health.leader, "/history")
            except OSError:
                history = None
        return {"scope": self.plan.scope, "expected": self.expected, "sync_standbys_wanted": self.plan.sync_standbys,
                "health": health.as_dict(), "history": history, "views": views}

    # ---- faults
    def kill(self, member: str) -> None:
        self._svc(member, "kill")

    def kill_process(self, member: str) -> None:
        self._svc(member, "kill-postgres")

    def restart(self, member: str) -> None:
        # after a server stop or reboot nothing runs (no init system starts them): etcd first
        if member in self.plan.etcd:
            self._svc(member, "start", ok=(0, 3), service="etcd")
        self._svc(member, "start", ok=(0, 3))

    def reaches(self, member: str, other: str, timeout: float = 2.0) -> bool:
        # bash's /dev/tcp: every image has bash, not every image has nc; the exit code is the answer
        target = self._server(other)
        r = self._ssh(member, f"timeout {timeout:g} bash -c ': </dev/tcp/{target.public_ip}/{PG_PORT}'",
                      what=f"a probe of {other}", timeout=SSH_TIMEOUT + timeout)
        if r.returncode == 255:
            raise CloudError(f"{member}: ssh failed probing {other}: {r.stderr.strip()[-300:]}",
                             cloud=self._server(member).cloud)
        return r.returncode == 0

    def _ssh(self, member: str, command: str, *, what: str,
             timeout: float = SSH_TIMEOUT) -> subprocess.CompletedProcess[str]:
        server = self._server(member)
        cmd = ["ssh", "-F", "/dev/null", "-i", str(self.ssh_key), "-o", "BatchMode=yes",
               *ssh_common_args(self.known_hosts).split(), f"{server.ssh_user}@{server.public_ip}", command]
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise CloudError(f"{member}: {what} over ssh took over {timeout:.0f}s", cloud=server.cloud) from exc

    def _svc(self, member: str, action: str, ok: tuple[int, ...] = (0,), service: str = "patroni") -> None:
        server = self._server(member)
        sudo = "" if server.ssh_user == "root" else "sudo -n "
        r = self._ssh(member, f"{sudo}/usr/local/sbin/interop-svc {service} {action}",
                      what=f"interop-svc {service} {action}")
        if r.returncode not in ok:
            raise CloudError(f"{member}: interop-svc {service} {action} failed (rc {r.returncode}): "
                             f"{(r.stderr or r.stdout).strip()[-300:]}", cloud=server.cloud)
