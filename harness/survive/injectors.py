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

from ..stacks.base import Database, Member


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

    def _step(self, name: str) -> FaultStep | None:
        return next((s for s in self.steps if s.step == name), None)

    @property
    def injected_ns(self) -> int:
        return self.steps[0].clock_start

    @property
    def healed_ns(self) -> int | None:
        """When recovery started (the process started again), on the history's clock."""
        recover = self._step("recover")
        return recover.clock_start if recover else None

    def as_window(self) -> dict[str, Any]:
        return {"fault": self.fault, "target": self.target, "steps": {s.step: [s.start, s.end] for s in self.steps},
                **{k: v for s in self.steps for k, v in s.details.items()}}


Step = Callable[[], dict[str, Any] | None]


@dataclass
class Injector:
    """A fault kind: its four steps, given the database and the target member."""

    name: str
    describe: str
    inject: Callable[[Database, Member], None]
    effect: Callable[[Database, Member, float], dict[str, Any]]
    recover: Callable[[Database, Member], None]
    manual_recovery: bool = True  # False: the database recovers by itself (the recover step waits)


def _gone(db: Database, target: Member, timeout: float) -> dict[str, Any]:
    """The target's database no longer accepts connections (asked directly, not through the DCS,
    whose view of a killed member lasts until its ttl runs out)."""
    import psycopg

    from ..waiting import wait_for

    def down() -> bool:
        try:
            with psycopg.connect(db.dsn(member=target.name, read_write=False), connect_timeout=2):
                return False
        except psycopg.OperationalError:
            return True

    waited, _ = wait_for(down, timeout=timeout, interval=0.2,
                         what=f"{target.name} to refuse connections after the kill")
    return {"down_after_s": round(waited, 2)}


def _nothing(db: Database, member: Member) -> None:
    return None


REGISTRY: dict[str, Injector] = {
    "process-kill": Injector(
        "process-kill", "SIGKILL of the member's database server process; its manager restarts it in place",
        inject=lambda db, m: db.kill_process(m.name),
        effect=_gone,
        recover=_nothing,
        manual_recovery=False,
    ),
    "member-kill": Injector(
        "member-kill", "SIGKILL of the member's database processes and their manager, started again after the hold",
        inject=lambda db, m: db.kill(m.name),
        effect=_gone,
        recover=lambda db, m: db.restart(m.name),
    ),
}


def known_faults(extra: tuple[str, ...] = ()) -> list[str]:
    return sorted({*REGISTRY, *extra})


def run_fault(injector: Injector, db: Database, target: Member, *, timeout: float, hold: float,
              on_step: Callable[[FaultStep], None], clock: Callable[[], int] = lambda: 0,
              pause: Callable[[float], None] = time.sleep) -> FaultRun:
    """Inject, wait for the effect, hold, recover, wait for the cluster to be healthy; each step timed."""
    run = FaultRun(injector.name, target.name)

    def step(name: str, fn: Callable[[], dict[str, Any] | None]) -> None:
        start, at = time.time(), clock()
        details = fn() or {}
        done = FaultStep(name, start, time.time(), details, at, clock())
        run.steps.append(done)
        on_step(done)

    step("inject", lambda: injector.inject(db, target))
    try:
        step("effect", lambda: injector.effect(db, target, timeout))
        step("hold", lambda: pause(hold))
    finally:  # whatever happened, put the member back
        step("recover", lambda: injector.recover(db, target))
    step("recovered", lambda: {"rejoin_s": round(db.wait_healthy(timeout), 2)})
    return run
