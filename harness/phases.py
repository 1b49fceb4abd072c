"""Phases as data: what each stack runs, in order, per cloud.

A phase is a function of the cloud's context returning details for the record. Stacks list
their phases by name; the pytest scenarios, the CLI and benchmarks all run phases through
:class:`CloudRun`, which times each one into the run record and stops a cloud at its first
failure (its later phases are skipped with the reason, never reported as extra failures).

>>> STACKS["hosts-patroni"][:3]
('identity', 'keypair', 'network')

``teardown`` is special: it runs even after an earlier phase failed (it cleans up after it),
and :meth:`CloudRun.close` runs it as a timed phase when nobody ran it explicitly (a failure
that stopped the scenario, Ctrl-C). A phase that some stack lists but this challenge's stack
does not is skipped with that reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import cancel
from .challenge import Challenge, CloudSettings
from .clouds import CloudsConfig, check_identity
from .errors import CloudError, ConfigError, HarnessError

log = logging.getLogger(__name__)

# What every stack needs from a cloud: servers, networks, images.
REQUIRED_SERVICES = ("compute", "network", "image")

PhaseFn = Callable[["CloudRun"], dict[str, Any] | None]


def identity_phase(run: CloudRun) -> dict[str, Any]:
    """Authenticate, read the catalog, derive the RefStack cpid."""
    result = check_identity(run.connection(phase="identity"), run.cloud)
    missing = [s for s in REQUIRED_SERVICES if s not in result.services]
    if missing:
        raise CloudError(f"the service catalog lacks {', '.join(missing)} (has: {', '.join(result.services)})",
                         cloud=run.cloud, phase="identity")
    run.facts["cpid"] = result.cpid
    return result.as_details()


from .provision.phases import PROVISION_PHASES, teardown_skip_reason, withdraw_on_failure  # noqa: E402

from .stacks import hosts_patroni  # noqa: E402

PHASES: dict[str, PhaseFn] = {
    "identity": identity_phase,
    **PROVISION_PHASES,
    "configure": hosts_patroni.configure_phase,
    "deploy": hosts_patroni.deploy_phase,
}

# Stacks list their phases in order; every stack starts with identity and ends with teardown.
STACKS: dict[str, tuple[str, ...]] = {
    "hosts-patroni": ("identity", "keypair", "network", "security-groups", "servers", "floating-ips", "ssh-ready",
                      "configure", "deploy", "teardown"),
    "k8s-cockroach": ("identity", "keypair", "network", "security-groups", "servers", "floating-ips", "ssh-ready",
                      "teardown"),
}

# Why a stack leaves out a phase other stacks run: the skip reason says so.
LEFT_OUT: dict[tuple[str, str], str] = {
    ("k8s-cockroach", "configure"): "the k8s-cockroach configure phase (k3s through Ansible) is not built yet",
    ("k8s-cockroach", "deploy"): "the k8s-cockroach deploy phase (CockroachDB join) is not built yet",
}

# Phases that run even after an earlier phase of the cloud failed, and that CloudRun.close()
# runs when nobody did; the function says why there is nothing to do (-> skipped), or None.
ALWAYS_RUN: dict[str, Callable[[CloudRun], str | None]] = {
    "teardown": teardown_skip_reason,
}

# Called with (run, phase, reason) when a phase fails, e.g. to withdraw from a rendezvous so
# the other clouds stop waiting for this one.
ON_FAILURE: list[Callable[[CloudRun, str, str], None]] = [withdraw_on_failure, hosts_patroni.on_failure]


def stack_phases(stack: str) -> tuple[str, ...]:
    try:
        return STACKS[stack]
    except KeyError:
        raise ConfigError(f"unknown stack {stack!r} (known: {', '.join(sorted(STACKS))})") from None


@dataclass
class CloudRun:
    """One cloud's state for one run: settings, connection, facts, and where it failed."""

    cloud: str
    challenge: Challenge
    clouds: CloudsConfig
    run_dir: Path
    progress: Callable[[str], None] | None = None
    failed_phase: str | None = None
    failure: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    # live objects the phases share (connections, contexts); facts are plain data
    state: dict[str, Any] = field(default_factory=dict)
    ran: set[str] = field(default_factory=set)
    # the thread running this cloud's phases ahead of its tests (harness.lanes), if any
    lane: Any = None
    _conn: Any = None
    _closing: bool = False

    @property
    def settings(self) -> CloudSettings:
        return self.challenge.settings_for(self.cloud)

    def connection(self, phase: str | None = None) -> Any:
        if self._conn is None:
            self._conn = self.clouds.connect(self.cloud, phase=phase)
        return self._conn

    def run_phase(self, name: str) -> dict[str, Any]:
        """Run one phase under the phase timer.

        Raises :class:`SkipCloud` if an earlier phase failed (except for ``ALWAYS_RUN`` phases),
        if the phase has nothing to do, or if the challenge's stack does not list it.
        """
        from .record import RunDir, phase_timer

        try:
            fn = PHASES[name]
        except KeyError:
            raise ConfigError(f"unknown phase {name!r} (known: {', '.join(PHASES)})", cloud=self.cloud) from None
        stack = self.challenge.stack
        listed_elsewhere = any(name in phases for phases in STACKS.values()) or (stack, name) in LEFT_OUT
        if listed_elsewhere and name not in stack_phases(stack):
            why = LEFT_OUT.get((stack, name))
            raise SkipCloud(f"phase {name} is not part of stack {stack}" + (f": {why}" if why else ""))
        if name in ALWAYS_RUN:
            self.ran.add(name)
            reason = ALWAYS_RUN[name](self)
            if reason:
                raise SkipCloud(reason)
        elif self.failed_phase is not None:
            raise SkipCloud(f"cloud {self.cloud} failed in phase {self.failed_phase}: {self.failure}")
        self.ran.add(name)
        run_dir = RunDir(self.run_dir.parent, self.run_dir.name)
        interrupted = False
        try:
            with phase_timer(run_dir, cloud=self.cloud, phase=name, progress=self.progress) as rec:
                if name in ALWAYS_RUN:
                    result, interrupted = _shielded(fn, self)
                else:
                    result = fn(self)
                details = result or {}
                if interrupted:
                    details["interrupted_meanwhile"] = True
                rec.details.update(details)
        except Exception as exc:
            failure = exc.message if isinstance(exc, HarnessError) else f"{type(exc).__name__}: {exc}"
            if self.failed_phase is None:  # the first failure is the cloud's reason
                self.failed_phase, self.failure = name, failure
            for hook in ON_FAILURE:
                try:
                    hook(self, name, failure)
                except Exception:  # a hook must not hide the phase's own error
                    log.exception("on-failure hook %r for cloud %s failed", hook, self.cloud)
            raise
        if interrupted and not self._closing:
            raise KeyboardInterrupt  # done cleaning up: now stop, as the user asked
        return details

    def close(self) -> None:
        """Run the ALWAYS_RUN phases (teardown) nobody ran yet, then drop the connection.

        This is the fixture finalizer's path: after a failure that ended the scenario early,
        and on Ctrl-C, teardown still runs, timed into the record like any phase.
        """
        self._closing = True
        try:
            for name in ALWAYS_RUN:
                if name in self.ran or name not in stack_phases(self.challenge.stack):
                    continue
                try:
                    self.run_phase(name)
                except SkipCloud:
                    pass
                except Exception as exc:  # recorded by the phase timer; close() must finish
                    log.warning("cloud %s: %s at close failed: %s", self.cloud, name, exc)
        finally:
            self._closing = False
            self.state.clear()
            if self._conn is not None:
                try:
                    self._conn.close()
                finally:
                    self._conn = None


def _shielded(fn: PhaseFn, run: CloudRun) -> tuple[dict[str, Any] | None, bool]:
    """``fn(run)`` with Ctrl-C held off until it returns; returns (result, interrupted).

    Both kinds of interrupt: SIGINT in the main thread, a stop request in a lane thread
    (harness.cancel). SIGKILL still ends it, and the ledger is for that; execnet also
    ``os._exit``s a worker 15 s after stopping it.
    """
    with cancel.shielded(), cancel.sigint_held() as hits:
        result = fn(run)
    if hits:
        log.warning("cloud %s: interrupted during cleanup; finished it first", run.cloud)
    return result, bool(hits)


class SkipCloud(Exception):
    """An earlier phase of this cloud failed; the caller reports this phase as skipped."""
