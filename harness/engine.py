"""The engine: one cloud's pipeline of phases, run in order, timed into the record.

A :class:`CloudRun` is handed its :class:`~harness.stacks.base.Pipeline` (provisioning's
phases around its stack's, composed by :func:`harness.provision.pipeline.pipeline_for`) and
imports no phase itself. It times each phase into the run record and stops the cloud at its
first failure: later phases are skipped with the reason, never reported as extra failures,
and the cloud withdraws from every rendezvous name it has not published, so the other clouds
stop waiting for it.

``always`` phases (teardown) run even after an earlier phase failed, shielded from Ctrl-C,
and :meth:`CloudRun.close` runs them as timed phases when nobody did (a failure that stopped
the scenario, Ctrl-C).

>>> run = CloudRun("lab1", challenge, clouds, run_dir, pipeline_for(load_stack("hosts-patroni")))  # doctest: +SKIP
>>> run.run_phase("identity")                                                     # doctest: +SKIP
{'cpid': '4f3c...', ...}
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from . import cancel
from .challenge import Challenge, CloudSettings
from .clouds import CloudsConfig
from .errors import ConfigError, SkipCloud, failure_text
from .record import RunDir, phase_timer, read_events
from .rendezvous import DirRendezvous
from .stacks.base import Phase, PhaseFn, Pipeline

log = logging.getLogger(__name__)

__all__ = ["CloudRun", "SkipCloud", "failure_text"]


@dataclass
class CloudRun:
    """One cloud's state for one run: settings, connection, facts, and where it failed."""

    cloud: str
    challenge: Challenge
    clouds: CloudsConfig
    run_dir: Path
    pipeline: Pipeline
    progress: Callable[[str], None] | None = None
    # `interop run --dry-run`: the stack's phases render what they would do where they cannot
    # run here (a phase so cut short is recorded "rendered", not passed: harness.record.RENDERED)
    dry_run: bool = False
    # `interop run --keep`: teardown is skipped with that reason; `interop cleanup --run-id` deletes later
    keep: bool = False
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

    @cached_property
    def rundir(self) -> RunDir:
        """The run directory: its record, private area and artifacts."""
        return RunDir.of(self.run_dir)

    def connection(self, phase: str | None = None) -> Any:
        if self._conn is None:
            self._conn = self.clouds.connect(self.cloud, phase=phase)
        return self._conn

    def expected_clouds(self) -> list[str]:
        """The clouds of this run (its run-start event), else the challenge's."""
        for event in read_events(self.rundir.events_path):
            if event.get("type") == "run-start" and isinstance(event.get("clouds"), list):
                return [str(c) for c in event["clouds"]]
        return self.challenge.cloud_names()

    def note(self, phase: str, note: str, **fields: Any) -> None:
        """A ``note`` event for this cloud in the record (a timing inside a phase, say)."""
        self.rundir.append("note", note=note, cloud=self.cloud, phase=phase, **fields)

    def _phase(self, name: str) -> Phase:
        phase = self.pipeline.get(name)
        if phase is None:
            raise ConfigError(f"phase {name!r} is not part of stack {self.pipeline.stack.name} "
                              f"(its phases: {', '.join(self.pipeline.names())})", cloud=self.cloud)
        return phase

    def run_phase(self, name: str) -> dict[str, Any]:
        """Run one phase under the phase timer.

        Raises :class:`SkipCloud` if an earlier phase failed (except for ``always`` phases) or
        if the phase says it has nothing to do.
        """
        phase = self._phase(name)
        if not phase.always and self.failed_phase is not None:
            raise SkipCloud(f"cloud {self.cloud} failed in phase {self.failed_phase}: {self.failure}")
        self.ran.add(name)
        reason = phase.skip(self) if phase.skip is not None else None
        if reason:
            raise SkipCloud(reason)
        interrupted = False
        try:
            with phase_timer(self.rundir, cloud=self.cloud, phase=name, progress=self.progress) as rec:
                if phase.always:
                    result, interrupted = _shielded(phase.run, self)
                else:
                    result = phase.run(self)
                details = result or {}
                if interrupted:
                    details["interrupted_meanwhile"] = True
                rec.details.update(details)
        except BaseException as exc:  # Ctrl-C too: the other clouds must not wait for this one
            failure = failure_text(exc)
            if isinstance(exc, Exception) and self.failed_phase is None:  # the first failure is the reason
                self.failed_phase, self.failure = name, failure
            if not phase.always:
                self.withdraw(f"failed in {name}: {failure}")
            raise
        if interrupted and not self._closing:
            raise KeyboardInterrupt  # done cleaning up: now stop, as the user asked
        return details

    def withdraw(self, reason: str) -> None:
        """Withdraw from every rendezvous name of the pipeline this cloud has not published."""
        rv = DirRendezvous(self.rundir)
        for name in self.pipeline.rendezvous:
            try:
                if not rv.entry_path(name, self.cloud).exists():
                    rv.withdraw(name, self.cloud, reason)
            except Exception:  # withdrawing must not hide the phase's own error
                log.exception("cloud %s: could not withdraw from %s", self.cloud, name)

    def close(self) -> None:
        """Run the ``always`` phases (teardown) nobody ran yet, then drop the connection.

        This is the fixture finalizer's path: after a failure that ended the scenario early,
        and on Ctrl-C, teardown still runs, timed into the record like any phase.
        """
        self._closing = True
        try:
            for phase in self.pipeline.phases:
                if not phase.always or phase.name in self.ran:
                    continue
                try:
                    self.run_phase(phase.name)
                except SkipCloud:
                    pass
                except Exception as exc:  # recorded by the phase timer; close() must finish
                    log.warning("cloud %s: %s at close failed: %s", self.cloud, phase.name, exc)
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
