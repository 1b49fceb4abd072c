"""Progress per cloud and phase as it happens, in the controller.

The lines come from the run record, not from pytest's reports: a worker runs its clouds side
by side (:mod:`harness.lanes`) and reports a phase only when the test for it comes up, which
can be well after the phase ended. The record has each phase's start and end the moment they
happen, whichever process wrote them, so a thread follows it and prints them. pytest's reports
still add what the record cannot know: a phase skipped before it started (an earlier one
failed), and errors outside any phase.
"""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Callable

import pytest

from .record import RecordTail, RunDir, progress_line
from .tags import cloud_phase

POLL = 0.25  # seconds between looks at the record


def reason(report: pytest.TestReport) -> str:
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        first = str(crash.message).splitlines()[0]
        return re.sub(r"^harness\.errors\.\w+: ", "", first)[:300]
    return str(report.longrepr).splitlines()[-1][:300] if report.longrepr else ""


class Progress:
    """Prints one line per cloud and phase from the record of ``run``.

    Registered only in the controller (or the only process). ``start`` opens the run record
    (its run-start event) at the first cloud test; the plugin closes it after :meth:`stop`.
    """

    def __init__(self, config: pytest.Config, run: RunDir, *, start: Callable[[], RunDir]) -> None:
        self.config = config
        self.started = False
        self._start = start
        self._tail = RecordTail(run.events_path)
        self._lock = threading.Lock()
        self._ended: set[tuple[str, str]] = set()  # phases whose end the record already told
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def say(self, line: str) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(line)
        else:
            print(line, file=sys.stderr, flush=True)

    def drain(self) -> None:
        """Print what the record gained since the last look."""
        with self._lock:
            for event in self._tail.poll():
                line = progress_line(event)
                if line is None:
                    continue
                if event["type"] == "phase-end":
                    self._ended.add((str(event.get("cloud")), str(event.get("phase"))))
                self.say(line)

    def _follow(self) -> None:
        while not self._stop.wait(POLL):
            try:
                self.drain()
            except Exception as exc:  # progress must never break the run
                self.say(f"interop: progress stopped: {type(exc).__name__}: {exc}")
                return

    def _start_run(self) -> None:
        """At the first cloud test's report: a session without cloud tests has no run to follow."""
        if self.started:
            return
        self.started = True
        run = self._start()
        self.say(f"interop: run {run.run_id} -> {run.path}")
        self._thread = threading.Thread(target=self._follow, name="interop-progress", daemon=True)
        self._thread.start()

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        where = cloud_phase(report)
        if where is None:
            return
        if report.when == "setup":
            self._start_run()
        self.drain()  # the phase's own end is in the record before its test's report is sent
        cloud, phase = where
        if report.when == "setup":
            if report.skipped:
                self.say(f"[{cloud}] {phase} skipped: {reason(report)}")
            elif report.failed:
                self.say(f"[{cloud}] {phase} ERROR in setup: {reason(report)}")
        elif report.when == "call" and where not in self._ended:
            if report.skipped:
                self.say(f"[{cloud}] {phase} skipped: {reason(report)}")
            else:  # a test that failed outside its phase (e.g. a stuck lane): the record has no end
                self.say(str(progress_line({
                    "type": "phase-end", "cloud": cloud, "phase": phase, "duration": report.duration,
                    "outcome": "passed" if report.passed else "failed",
                    "error": None if report.passed else reason(report)})))

    def stop(self) -> None:
        """Stop following the record and print what it still holds."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.drain()
