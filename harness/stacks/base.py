"""What a workload stack is to the rest of the harness: :class:`Stack`, and the database it
gives the survivability checks (:class:`Database`).

A stack is data the engine runs: what it needs from a cloud (:class:`Needs`), the security
group rules it opens (:class:`Rule`), its phases between ``ssh-ready`` and ``teardown``
(:class:`Phase`), the rendezvous names it publishes (withdrawn for it when its cloud fails),
its fault kinds, its database, report rows and playbooks. Stacks are found by name through the
lazy registry in :mod:`harness.stacks`; nothing outside a stack's own package names it.

The survivability checks speak the PostgreSQL wire protocol (psycopg) to whatever database a
stack deployed, and reach database-specific state (Patroni's REST API, CockroachDB's
``crdb_internal``) only through :class:`Database`:

>>> db = run.state["database"]                       # doctest: +SKIP
>>> with psycopg.connect(db.dsn()) as conn: ...      # doctest: +SKIP
>>> db.leader().name, db.health().ok                 # doctest: +SKIP
('db-c1-1', True)
>>> db.kill("db-c1-1"); db.wait_healthy(timeout=60)  # doctest: +SKIP
21.4

What the configure and deploy phases read from ``CloudRun.facts`` (written by provision)::

    run.facts["servers"] = [                 # this cloud's servers, in boot order
        {"name": "ih-1a2b-lab1-1",           # unique across clouds; becomes the member name
         "public_ip": "172.24.4.57",         # what the harness and the other clouds connect to
                                             # (the floating IP; the fixed IP if none)
         "private_ip": "10.10.1.12",         # the address on the server's own interface
         "ssh_user": "root"},                # optional, default the challenge's ssh_user
        ...]
    run.facts["ssh_key"] = "/abs/path/to/the/run/private/key"   # OpenSSH private key
    run.facts["known_hosts"] = "/abs/path/known_hosts"          # optional; default: a file
                                                                # in the run's private area

The deploy phase adds (plain data, no secrets)::

    run.facts["database"] = {"stack": "hosts-patroni", "scope": ..., "members": [...],
                             "etcd": [...], "sync_standbys": 2}

and leaves the live :class:`Database` in ``run.state["database"]``.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from ..engine import CloudRun

Source = Literal["harness", "group", "peers"]


@dataclass(frozen=True)
class Rule:
    """One ingress rule of a stack's security group, as data.

    ``sources``: ``harness`` (the harness's own address, /32), ``group`` (the other servers of
    the same cloud, by remote group) and ``peers`` (the other clouds' node addresses, /32 each).
    """

    purpose: str
    protocol: Literal["tcp", "udp", "icmp"]
    ports: tuple[int, int] | None
    sources: tuple[Source, ...]

    def port_text(self) -> str:
        if self.ports is None:
            return ""
        low, high = self.ports
        return str(low) if low == high else f"{low}-{high}"


@dataclass(frozen=True)
class Needs:
    """What a stack needs from a server; ``os`` is in order of preference (name or os_distro)."""

    os: tuple[str, ...]
    min_ram_mb: int
    min_vcpus: int
    min_disk_gb: int


PhaseFn = Callable[["CloudRun"], "dict[str, Any] | None"]


def lazy(target: str) -> Callable[..., Any]:
    """``"package.module:function"`` as a callable that imports the module on its first call.

    A pipeline names every phase, but a process pays for a phase's imports (Ansible, psycopg,
    the SDK's proxies) only when it runs it: the controller never does, and a worker started
    for a few phases imports those alone.
    """
    module_name, _, attribute = target.partition(":")
    resolved: list[Callable[..., Any]] = []

    def call(*args: Any, **kwargs: Any) -> Any:
        if not resolved:
            import importlib

            resolved.append(getattr(importlib.import_module(module_name), attribute))
        return resolved[0](*args, **kwargs)

    call.__name__ = call.__qualname__ = attribute
    call.__doc__ = f"{target}, imported on first use."
    return call


@dataclass(frozen=True)
class Phase:
    """A named step of every cloud's pipeline; ``run`` returns details for the record.

    ``skip``, if given, says why there is nothing to do (the phase is then skipped with that
    reason) or returns None. ``always`` phases (teardown) run even after an earlier phase of
    the cloud failed, and the engine runs them at close when nobody did.
    """

    name: str
    run: PhaseFn
    skip: Callable[[CloudRun], str | None] | None = None
    always: bool = False

    @classmethod
    def not_built(cls, name: str, why: str) -> Phase:
        """A phase the stack declares but cannot run yet: every cloud skips it with ``why``."""
        def never(run: CloudRun) -> dict[str, Any]:
            raise AssertionError(f"phase {name} is not built")

        return cls(name, never, skip=lambda run: why)


@dataclass(frozen=True)
class Stack:
    """A workload stack, as the engine, provisioning, the CLI and the reports see it.

    ``report_rows(details)`` gets one cloud's phase details (``{phase: details}``) and returns
    the stack's row for the report (column -> lines of text), or None; ``report_title`` heads
    that table. ``image_file`` is a YAML file with an ``image:``
    mapping (apt packages, venvs) a cloud image needs; the lab bakes it into its servers.
    ``faults`` names the stack's own fault kinds; ``injectors`` (lazily, see :func:`lazy`) returns
    their :class:`harness.survive.injectors.Injector` by name.
    """

    name: str
    needs: Needs
    rules: tuple[Rule, ...]
    phases: tuple[Phase, ...] = ()
    rendezvous: tuple[str, ...] = ()
    faults: tuple[str, ...] = ()
    injectors: Callable[[], Mapping[str, Any]] | None = None
    database: Callable[[CloudRun], Database] | None = None
    report_rows: Callable[[Mapping[str, Mapping[str, Any]]], dict[str, list[str]] | None] | None = None
    report_title: str = ""
    playbooks: Path | None = None
    image_file: Path | None = None
    # its phases honour CloudRun.dry_run (`interop run --dry-run`): they do for real what can run
    # here and render the rest. A stack without it would run for real under --dry-run: refused.
    dry_run: bool = False

    def phase_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.phases)


@dataclass(frozen=True)
class Pipeline:
    """Every phase a cloud runs, in order, and the rendezvous names its failure withdraws from."""

    stack: Stack
    phases: tuple[Phase, ...]
    rendezvous: tuple[str, ...]

    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.phases)

    def get(self, name: str) -> Phase | None:
        return next((p for p in self.phases if p.name == name), None)


@dataclass(frozen=True)
class Member:
    """One database member as the database sees it right now.

    ``role``/``state`` are the database's own words (Patroni: leader/sync_standby/replica,
    running/streaming/stopped...); ``timeline`` and ``lag_bytes`` are None when unknown.
    """

    name: str
    cloud: str
    host: str
    role: str
    state: str
    timeline: int | None = None
    lag_bytes: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Health:
    """A readiness verdict: ``ok`` or the reasons it is not, and what it was judged on."""

    ok: bool
    reasons: list[str] = field(default_factory=list)
    leader: str | None = None
    timeline: int | None = None
    sync_standbys: list[str] = field(default_factory=list)
    members: list[Member] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "reasons": list(self.reasons), "leader": self.leader,
                "timeline": self.timeline, "sync_standbys": list(self.sync_standbys),
                "members": [m.as_dict() for m in self.members]}

    def __bool__(self) -> bool:
        return self.ok


class Database(abc.ABC):
    """A deployed, replicated database spanning the clouds of a run."""

    @abc.abstractmethod
    def dsn(self, *, read_write: bool = True, member: str | None = None, redact: bool = False) -> str:
        """A libpq connection string for clients (with password, timeouts and keepalives).

        By default every member is listed and libpq picks the writable one
        (``target_session_attrs=read-write``); ``member`` connects to that one only;
        ``redact`` masks the password (for the record).
        """

    @abc.abstractmethod
    def members(self) -> list[Member]:
        """Every member as the database reports it (one request, from any answering member)."""

    @abc.abstractmethod
    def health(self) -> Health:
        """The readiness verdict over every expected member."""

    @abc.abstractmethod
    def kill(self, member: str) -> None:
        """Kill the member's database processes hard (SIGKILL), as a crash would."""

    def kill_process(self, member: str) -> None:
        """SIGKILL of the member's database server process alone, its manager left running
        (Patroni restarts PostgreSQL in place). Stacks without such a manager do not offer it."""
        raise NotImplementedError(f"{type(self).__name__} cannot kill the database process alone")

    def reaches(self, member: str, other: str, timeout: float = 2.0) -> bool:
        """Whether ``member``'s server opens a new connection to ``other``'s database port now
        (how a partition is seen to be in force). Stacks that cannot ask their servers do not offer it."""
        raise NotImplementedError(f"{type(self).__name__} cannot probe between its members")

    @abc.abstractmethod
    def restart(self, member: str) -> None:
        """Start the member's database processes again after :meth:`kill`."""

    @abc.abstractmethod
    def wait_healthy(self, timeout: float) -> float:
        """Wait until :meth:`health` is ok; return the seconds it took (PhaseTimeout if not)."""

    @abc.abstractmethod
    def status(self) -> dict[str, Any]:
        """The raw status for the run's artifacts (no secrets)."""

    def leader(self) -> Member | None:
        """The member that takes writes now, if exactly one does."""
        leaders = [m for m in self.members() if m.role in ("leader", "primary")]
        return leaders[0] if len(leaders) == 1 else None
