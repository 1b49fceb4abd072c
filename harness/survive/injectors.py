"""Fault injectors with roachtest's lifecycle: inject, wait for the effect, recover, wait for recovery.

Each step is a ``fault`` event in the record (cloud, phase ``survive``, fault, target, step,
start/end), so the dashboard can mark them on the throughput plot and the availability check
knows the windows. A fault is named in the challenge file (``survival.faults``); the registry
maps the name to its injector. Stacks add their own kinds (``Stack.faults``).

Every fault holds for ``survival.hold_s`` after its effect is seen, then recovers: the fault
window (injection to recovery) is what the throughput ratio is measured over.

- ``process-kill``: SIGKILL of the member's database server process alone over SSH
  (:meth:`~harness.stacks.base.Database.kill_process`); its manager (Patroni) restarts it in
  place, with no failover (Patroni's own tests: primary again within ~10 s).
- ``server-stop``: the server stopped through Nova, started after the hold, then the member's
  services. Nova's stop is graceful on real clouds (ACPI first), so it is recorded as such.
- ``server-reboot-hard``: a hard reboot through Nova; the services started once it is ACTIVE.
- ``member-kill``: SIGKILL of the member's database processes and their manager
  (:meth:`~harness.stacks.base.Database.kill`), started again after the hold
  (:meth:`~harness.stacks.base.Database.restart`): a server crash, as the database sees it; a
  killed leader is replaced by a synchronous standby once the DCS ttl runs out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import CloudError, PhaseTimeout
from ..stacks.base import Database, Member
from ..waiting import wait_for


@dataclass
class FaultStep:
    step: str  # inject | effect | recover | recovered
    start: float  # epoch seconds, for the record
    end: float
    details: dict[str, Any] = field(default_factory=dict)
    clock_start: int = 0  # on the history's clock (ns), for the checkers
    clock_end: int = 0


@dataclass
class FaultRun:
    """One fault as it happened: its steps, timestamped (epoch seconds)."""

    fault: str
    target: str
    steps: list[FaultStep] = field(default_factory=list)
    in_force_after: str = "inject"  # the step whose end puts the fault in force

    def _step(self, name: str) -> FaultStep | None:
        return next((s for s in self.steps if s.step == name), None)

    @property
    def injected_ns(self) -> int:
        """When the fault is in force, on the history's clock: the end of the inject step, or of
        the effect step for faults that are only in force once seen (a cut: security-group agents
        apply rules seconds after the API accepted them, and writes acknowledged meanwhile are
        the whole cluster's, not the cut side's)."""
        step = self._step(self.in_force_after) or self.steps[0]
        return step.clock_end

    @property
    def healed_ns(self) -> int | None:
        """When recovery started (the process started again), on the history's clock."""
        recover = self._step("recover")
        return recover.clock_start if recover else None

    def as_window(self) -> dict[str, Any]:
        return {"fault": self.fault, "target": self.target, "steps": {s.step: [s.start, s.end] for s in self.steps},
                **{k: v for s in self.steps for k, v in s.details.items()}}


@dataclass
class Target:
    """What a fault acts on: the database, the member, and the cloud run it belongs to (its
    connection and its provisioned servers, for faults through the cloud's API)."""

    db: Database
    member: Member
    run: Any = None  # harness.engine.CloudRun; Any: the engine sits above this layer

    def server_id(self) -> str:
        ctx = self.run.state.get("provision") if self.run is not None else None
        servers = ctx.results.get("servers", []) if ctx is not None else []
        for server in servers:
            if server.name == self.member.name:
                return str(server.id)
        raise CloudError(f"member {self.member.name} is not a server this run provisioned on the cloud",
                         cloud=self.member.cloud, phase="survive")

    def compute(self) -> Any:
        return self.run.connection(phase="survive").compute


@dataclass
class Injector:
    """A fault kind: inject, wait for the effect (seconds allowed), recover; the engine holds and
    then waits for the cluster to be healthy."""

    name: str
    describe: str
    inject: Callable[[Target], dict[str, Any] | None]
    effect: Callable[[Target, float], dict[str, Any]]
    recover: Callable[[Target, float], dict[str, Any] | None]
    in_force_after: str = "inject"  # or "effect": the fault is in force only once its effect is seen


def _refuses(t: Target, timeout: float) -> dict[str, Any]:
    """The target's database no longer accepts connections (asked directly, not through the DCS,
    whose view of a killed member lasts until its ttl runs out)."""
    import psycopg

    def down() -> bool:
        try:
            with psycopg.connect(t.db.dsn(member=t.member.name, read_write=False), connect_timeout=2):
                return False
        except psycopg.OperationalError:
            return True

    waited, _ = wait_for(down, timeout=timeout, interval=0.2,
                         what=f"{t.member.name} to refuse connections")
    return {"down_after_s": round(waited, 2)}


def _server_status(t: Target, status: str, timeout: float) -> float:

    compute, server_id = t.compute(), t.server_id()
    waited, _ = wait_for(lambda: compute.get_server(server_id).status == status, timeout=timeout, interval=1.0,
                         what=f"server {t.member.name} to be {status}")
    return round(waited, 2)


def _stopped(t: Target, timeout: float) -> dict[str, Any]:
    return {"shutoff_after_s": _server_status(t, "SHUTOFF", timeout), **_refuses(t, timeout)}


def _start_again(t: Target, timeout: float, *, start: bool) -> dict[str, Any]:
    """Server ACTIVE again (started if ``start``), then the member's services, retried until SSH answers."""

    if start:
        t.compute().start_server(t.server_id())
    active = _server_status(t, "ACTIVE", timeout)
    waited, _ = wait_for(lambda: t.db.restart(t.member.name) is None, timeout=timeout, interval=1.0,
                         retry_on=(CloudError,), what=f"{t.member.name}'s services to start over SSH")
    return {"active_after_s": active, "services_after_s": round(waited, 2)}


def _cut(t: Target) -> dict[str, Any]:
    from .cut import Cut, cut

    done = t.run.state["survive-cut"] = Cut(t.member.cloud)  # before cutting: the heal needs it
    return {"rules_removed": cut(t.run, done).count()}


def _partitioned(t: Target, timeout: float) -> dict[str, Any]:
    """The cut is in force: the target's server opens no new connection to any node of the
    other clouds, nor does one node of each other cloud to it. The firewall that refuses new
    connections has by then ended the established ones (Neutron's agents and the lab's alike
    delete the conntrack entries a removed rule no longer allows)."""
    from concurrent.futures import ThreadPoolExecutor

    members = t.db.members()
    others = sorted((m for m in members if m.cloud != t.member.cloud), key=lambda m: m.name)
    if not others:
        raise CloudError(f"cannot see a cut of {t.member.cloud}: no member in another cloud", cloud=t.member.cloud,
                         phase="survive")
    firsts = {m.cloud: m.name for m in reversed(others)}
    pairs = [(t.member.name, m.name) for m in others] + [(name, t.member.name) for name in sorted(firsts.values())]
    open_pairs: list[tuple[str, str]] = []

    def cut_off() -> bool:
        with ThreadPoolExecutor(max_workers=min(8, len(pairs))) as pool:
            answers = list(pool.map(lambda p: t.db.reaches(*p), pairs))
        open_pairs[:] = [p for p, reached in zip(pairs, answers, strict=True) if reached]
        return not open_pairs

    try:
        waited, _ = wait_for(cut_off, timeout=timeout, interval=0.2,
                             what=f"the cut of {t.member.cloud} to be in force (no new connection across it)")
    except PhaseTimeout as exc:
        raise PhaseTimeout(f"{exc}; still open: {', '.join(f'{a} -> {b}' for a, b in open_pairs)}",
                           cloud=t.member.cloud, phase="survive") from exc
    return {"in_force_after_s": round(waited, 2), "probes": len(pairs)}


def _heal(t: Target, timeout: float) -> dict[str, Any]:
    from .cut import heal

    done = t.run.state.pop("survive-cut", None)
    return {"rules_restored": heal(t.run, done) if done is not None else 0}


REGISTRY: dict[str, Injector] = {
    "cloud-cut": Injector(
        "cloud-cut", "the cloud's nodes and the other clouds' stop admitting each other (security groups), "
                     "healed after the hold",
        inject=_cut,
        effect=_partitioned,
        recover=_heal,
        in_force_after="effect",
    ),
    "process-kill": Injector(
        "process-kill", "SIGKILL of the member's database server process; its manager restarts it in place",
        inject=lambda t: t.db.kill_process(t.member.name),
        effect=_refuses,
        recover=lambda t, timeout: None,  # Patroni does: the recovered step waits for it
    ),
    "member-kill": Injector(
        "member-kill", "SIGKILL of the member's database processes and their manager, started again after the hold",
        inject=lambda t: t.db.kill(t.member.name),
        effect=_refuses,
        recover=lambda t, timeout: t.db.restart(t.member.name),
    ),
    "server-stop": Injector(
        "server-stop", "the server stopped through Nova (graceful on real clouds: ACPI first), started after the hold",
        inject=lambda t: (t.compute().stop_server(t.server_id()), {"graceful": True})[1],
        effect=_stopped,
        recover=lambda t, timeout: _start_again(t, timeout, start=True),
    ),
    "server-reboot-hard": Injector(
        "server-reboot-hard", "a hard reboot through Nova; the member's services started when it is ACTIVE",
        inject=lambda t: t.compute().reboot_server(t.server_id(), "HARD"),
        effect=_refuses,
        recover=lambda t, timeout: _start_again(t, timeout, start=False),
    ),
}


def known_faults(extra: tuple[str, ...] = ()) -> list[str]:
    return sorted({*REGISTRY, *extra})


def run_fault(injector: Injector, target: Target, *, timeout: float, hold: float,
              on_step: Callable[[FaultStep], None], clock: Callable[[], int] = lambda: 0,
              pause: Callable[[float], None] = time.sleep) -> FaultRun:
    """Inject, wait for the effect, hold, recover, wait for the cluster to be healthy; each step timed."""
    run = FaultRun(injector.name, target.member.name, in_force_after=injector.in_force_after)

    def step(name: str, fn: Callable[[], dict[str, Any] | None]) -> None:
        start, at = time.time(), clock()
        details = fn() or {}
        done = FaultStep(name, start, time.time(), details, at, clock())
        run.steps.append(done)
        on_step(done)

    step("inject", lambda: injector.inject(target))
    try:
        step("effect", lambda: injector.effect(target, timeout))
        step("hold", lambda: pause(hold))
    finally:  # whatever happened, put the member back
        step("recover", lambda: injector.recover(target, timeout))
    step("recovered", lambda: {"rejoin_s": round(target.db.wait_healthy(timeout), 2)})
    return run
