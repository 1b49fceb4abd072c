"""The ``survive`` phase: the cluster under a SQL workload while each cloud's nodes are faulted.

Every cloud runs it after its stack's phases (``test_survive[lab2]``). The clouds take turns,
in name order, through the rendezvous name ``survive-done``: a cloud waits until the clouds
before it are done (or withdrew: a cloud that failed earlier never holds the others up), then:

1. starts the workload (:mod:`.workload`) against the whole cluster, keys unique to its turn;
2. runs a baseline, then each fault of ``survival.faults`` (:mod:`.faults`) aimed at one of
   its own nodes: the cluster's leader when the leader is in this cloud, else its first member;
3. stops the workload, reads the set and the bank, writes the history
   (``survive/<cloud>/history.jsonl``) and the fault windows (``survive/<cloud>/faults.json``);
4. judges them (:mod:`.checks`), one ``check`` event per verdict, and keeps the per-second
   samples (``survive/<cloud>/samples.json``);
5. publishes ``survive-done`` and waits for every cloud's turn, so its servers stay up for
   the turns after its own.

A failed check fails the phase with the checks' reasons.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import psycopg

from .. import cancel
from ..errors import CloudError, ConfigError
from ..provision.pipeline import SURVIVE_DONE as DONE
from ..rendezvous import DirRendezvous
from ..stacks.base import Member
from ..waiting import wait_for
from .availability import DEFAULT_STEADY_S
from .checks import Thresholds, check_history
from .faults import CUT_KIND, FAULTS_FILE, Faults, FaultWindow, Observation, Window, dump_faults
from .history import HISTORY_FILE, HistoryWriter
from .injectors import REGISTRY as FAULTS
from .injectors import FaultRun, FaultStep, Target, run_fault
from .workload import Limits, Workload, bank_total, prepare

if TYPE_CHECKING:
    from ..engine import CloudRun

STOP_TIMEOUT = 30.0
SETTLE_MIN_S = DEFAULT_STEADY_S + 2.0  # a shorter settle leaves the recovery check "too little history"


def survive_skip(run: CloudRun) -> str | None:
    if run.dry_run:
        return "dry run: no database was deployed to fault (interop run --dry-run)"
    if not run.challenge.survival.enabled:
        return "survival is off in the challenge file (survival.enabled: false)"
    if run.pipeline.stack.database is None:
        return f"stack {run.pipeline.stack.name} gives no database to check"
    return None


def _target(members: list[Member], cloud: str) -> Member:
    """The cluster's leader if it is in ``cloud``, else the cloud's first member."""
    mine = sorted((m for m in members if m.cloud == cloud), key=lambda m: m.name)
    if not mine:
        raise CloudError(f"no database member of cloud {cloud} is in the cluster", cloud=cloud, phase="survive")
    leaders = [m for m in mine if m.role in ("leader", "primary")]
    return leaders[0] if leaders else mine[0]


def _pause(seconds: float) -> None:
    """Sleep, but stop at once on Ctrl-C (harness.cancel)."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        cancel.check("the survive phase to pause")
        time.sleep(min(0.5, left))


def _observe(db: Any, history: HistoryWriter, samples: int = 3) -> list[Observation]:
    """Every member's role and timeline, a few times a second apart (bounded)."""
    seen: list[Observation] = []
    for i in range(samples):
        now = history.now()
        seen += [Observation(now, m.name, m.role, m.timeline) for m in db.members()]
        if i < samples - 1:
            _pause(1.0)
    return seen


def survive_phase(run: CloudRun) -> dict[str, Any]:
    stack = run.pipeline.stack
    survival = run.challenge.survival
    if stack.database is None:
        raise ConfigError(f"stack {stack.name} gives no database", cloud=run.cloud, phase="survive")
    injectors = {**FAULTS, **(stack.injectors() if stack.injectors is not None else {})}
    unknown = [f for f in survival.faults if f not in injectors]
    if unknown:
        known = ", ".join(sorted(injectors))
        raise ConfigError(f"survival.faults: {', '.join(unknown)} not available (known: {known})",
                          cloud=run.cloud, phase="survive")
    db = stack.database(run)
    deadline = time.monotonic() + run.challenge.timeout("survive")

    def left() -> float:
        return max(1.0, deadline - time.monotonic())

    clouds = sorted(run.expected_clouds())
    rv = DirRendezvous(run.rundir)
    turn = rv.gather(DONE, clouds[: clouds.index(run.cloud)], timeout=left())
    details: dict[str, Any] = {"turn": clouds.index(run.cloud) + 1, "waited_for_turn_s": round(turn.waited, 2)}
    if turn.missing:
        raise CloudError(f"clouds {', '.join(turn.missing)} did not finish their turn in time", cloud=run.cloud,
                         phase="survive")

    published = False
    try:
        dsn = db.dsn()

        def prepared() -> bool:
            prepare(dsn)
            return True

        wait_for(prepared, timeout=min(60.0, left()), interval=1.0,
                 retry_on=(psycopg.OperationalError,), what="a writable member to create the workload's tables")
        members = db.members()
        hosts, clouds_of = {m.host: m.name for m in members}, {m.name: m.cloud for m in members}
        where = run.rundir.path / "survive" / run.cloud
        history = HistoryWriter(where / HISTORY_FILE)
        limits = Limits(clients=survival.clients, rate=survival.rate, max_seconds=left())
        workload = Workload(dsn, history, cloud=run.cloud, prefix=f"{run.rundir.run_id}-{run.cloud}-", limits=limits,
                            node_of=hosts.get, cloud_of=clouds_of.get).start()
        faults: list[FaultRun] = []
        observations: list[Observation] = []
        try:
            _pause(survival.baseline_s)
            baseline_end = history.now()
            for name in survival.faults:
                target = _target(db.members(), run.cloud)

                def noted(step: FaultStep, fault: str = name, member: str = target.name) -> None:
                    run.note("survive", "fault", fault=fault, target=member, step=step.step, start=step.start,
                             end=step.end, **step.details)

                faults.append(run_fault(injectors[name], Target(db, target, run),
                                        timeout=min(left(), survival.max_rejoin_s * 4), hold=survival.hold_s,
                                        on_step=noted, clock=history.now, pause=_pause))
                if name == CUT_KIND:  # after the heal: who leads, on which timeline (the split-brain check)
                    observations += _observe(db, history)
                # the recovery check needs DEFAULT_STEADY_S whole seconds of history after each heal
                _pause(max(survival.settle_s, SETTLE_MIN_S))
        finally:
            stuck = workload.stop(STOP_TIMEOUT)
        try:
            workload.final_reads()
        finally:
            history.close()
        windows = Faults(baseline=Window(0, baseline_end),
                         faults=tuple(FaultWindow(f"{run.cloud} {f.fault} {f.target}", f.fault, run.cloud,
                                                  f.injected_ns,
                                                  f.healed_ns if f.healed_ns is not None else history.now())
                                      for f in faults),
                         observations=tuple(observations))
        dump_faults(windows, where / FAULTS_FILE)
        report = check_history(where / HISTORY_FILE, windows, Thresholds.of(survival, bank_total=bank_total()))
        for scoped in report.verdicts:
            run.rundir.append("check", cloud=run.cloud, phase="survive", scope=scoped.cloud or "cluster",
                              **scoped.verdict.event_fields())
        rejoin = [s.details.get("rejoin_s") for f in faults for s in f.steps if s.step == "recovered"]
        samples = where / "samples.json"
        samples.write_text(json.dumps([x._asdict() for x in report.samples]) + "\n")
        verdicts = [s.verdict for s in report.verdicts]
        rv.publish(DONE, run.cloud, {"checks": {v.check: v.outcome for v in verdicts}})
        published = True
    finally:
        if not published:  # this turn failed: say so, the next cloud goes on
            rv.withdraw(DONE, run.cloud, "its survive turn failed")
        # this cloud's servers serve the later turns: keep them until every cloud's turn is over
        everyone = rv.gather(DONE, clouds, timeout=left())

    details.update(operations=report.operations, faults=[f.as_window() for f in faults], rejoin_s=rejoin,
                   checks={v.check: f"{v.outcome}, {v.figure()}: {v.reason}" for v in verdicts},
                   skipped=dict(report.skipped), history=str((where / HISTORY_FILE).relative_to(run.rundir.path)))
    if stuck:
        details["clients_still_running"] = stuck
    if everyone.missing:
        details["clouds_not_done"] = everyone.missing
    failed = [v for v in verdicts if v.outcome != "passed"]
    if failed:
        raise CloudError("; ".join(f"{v.check} {v.outcome}: {v.reason}" for v in failed), cloud=run.cloud,
                         phase="survive")
    return details
