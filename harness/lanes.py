"""Several clouds side by side in one process: each cloud's phases, in order, in a thread.

pytest runs one test at a time in a process, so a worker holding three clouds would run them
one after another. Instead each cloud gets a lane: a thread that runs the cloud's phases in
order as soon as the worker starts, and each test waits for its phase's outcome and reports
it. xdist spreads the clouds over a worker per core and lanes spread a worker's clouds over
threads, so a 6-cloud run on 2 cores starts 2 Python processes instead of 6
(``benchmarks/bench_fanout.py`` measures the difference).

A phase's outcome is exactly what running it in the test would have given: its return value,
or its exception (``SkipCloud`` after an earlier failure, the phase's own error) re-raised in
the test. :meth:`Lane.stop` ends a lane after its current phase (pytest's ``-x``); after
:func:`harness.cancel.request` the current phase stops at its next wait (Ctrl-C). Either way
the lane still runs teardown (:meth:`CloudRun.close`) before it ends.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

from .engine import CloudRun
from .errors import PhaseTimeout, SkipCloud

log = logging.getLogger(__name__)

# A test waits for its phase at most for the phase budgets up to it plus this much: the
# phases bound themselves, so running out means the lane itself is stuck.
WAIT_MARGIN = 60.0


class Lane:
    """One cloud's phases, run in order by a thread of their own."""

    def __init__(self, run: CloudRun, phases: Sequence[str]) -> None:
        self.run = run
        self.phases = list(dict.fromkeys(phases))
        self._done = {name: threading.Event() for name in self.phases}
        self._outcomes: dict[str, tuple[dict[str, Any] | None, BaseException | None]] = {}
        self.durations: dict[str, float] = {}  # the phases' own run times, for the tests' reports
        self._stop = threading.Event()
        self.finished = threading.Event()
        # daemon: if the process must end regardless (SIGTERM, a second Ctrl-C), do not hang on it
        self._thread = threading.Thread(target=self._work, name=f"lane-{run.cloud}", daemon=True)
        run.lane = self

    def start(self) -> Lane:
        self._thread.start()
        return self

    def _work(self) -> None:
        try:
            always = {p.name for p in self.run.pipeline.phases if p.always}
            for name in self.phases:
                if self._stop.is_set() and name not in always:
                    outcome: tuple[dict[str, Any] | None, BaseException | None] = (
                        None, SkipCloud(f"the run stopped before phase {name} of cloud {self.run.cloud}"))
                else:
                    t0 = time.monotonic()
                    try:
                        outcome = (self.run.run_phase(name), None)
                    except BaseException as exc:  # handed to the test that reports this phase
                        outcome = (None, exc)
                        if isinstance(exc, KeyboardInterrupt):  # stopped (harness.cancel): no more phases
                            self._stop.set()
                    self.durations[name] = time.monotonic() - t0
                self._outcomes[name] = outcome
                self._done[name].set()
        finally:
            try:
                self.run.close()  # teardown if no test asked for it, then the connection
            except Exception:
                log.exception("cloud %s: closing its lane failed", self.run.cloud)
            self.finished.set()

    def budget(self, phase: str) -> float:
        """How long a test may wait for ``phase``: the budgets of the phases up to it, and a margin."""
        upto = self.phases[: self.phases.index(phase) + 1]
        return sum(self.run.challenge.timeout(p) for p in upto) + WAIT_MARGIN

    def outcome(self, phase: str, timeout: float | None = None) -> dict[str, Any]:
        """Wait for ``phase`` and return its details, or raise what it raised."""
        if phase not in self._done:
            raise KeyError(f"phase {phase} is not in the lane of cloud {self.run.cloud}")
        limit = self.budget(phase) if timeout is None else timeout
        if not self._done[phase].wait(limit):
            raise PhaseTimeout(f"no outcome after {limit:.0f}s (the cloud's lane is stuck)",
                               cloud=self.run.cloud, phase=phase)
        result, exc = self._outcomes[phase]
        if exc is not None:
            raise exc
        return result or {}

    def stop(self) -> None:
        """Run no further phase after the current one (except teardown)."""
        self._stop.set()

    def join(self, timeout: float) -> bool:
        """Wait until the lane has torn down; False if it is still going after ``timeout``."""
        return self.finished.wait(timeout)


def start_lanes(runs: Iterable[tuple[CloudRun, Sequence[str]]]) -> list[Lane]:
    """A started lane per (cloud run, its phases in order)."""
    return [Lane(run, phases).start() for run, phases in runs]


def stop_lanes(lanes: Sequence[Lane], *, timeout: float) -> list[str]:
    """Stop every lane and wait (bounded) for its teardown; the clouds still going, if any."""
    for lane in lanes:
        lane.stop()
    deadline = time.monotonic() + timeout
    for lane in lanes:
        lane.join(max(0.0, deadline - time.monotonic()))
    left = [lane.run.cloud for lane in lanes if not lane.finished.is_set()]
    if left:
        log.warning("lanes still tearing down after %.0fs: %s", timeout, ", ".join(left))
    return left
