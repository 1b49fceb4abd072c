"""The run directory and its event record: every phase of every cloud, timed.

One run writes one append-only JSON-lines file, ``reports/<run-id>/events.jsonl``. Every
report (dashboard, JUnit, RefStack JSON) is rendered from it, never from logs. Several
pytest-xdist workers append to it at once, so each event is one ``write()`` under an
exclusive ``flock``; a writer killed mid-line leaves a torn line that readers skip.

>>> run = RunDir(Path("reports"), new_run_id()).create()          # doctest: +SKIP
>>> with phase_timer(run, cloud="lab1", phase="identity", progress=print) as rec:  # doctest: +SKIP
...     rec.details["cpid"] = "4f3c..."
[lab1] identity ... started
[lab1] identity passed in 0.42s

Event types: ``run-start``, ``phase-start``, ``phase-end``, ``run-end``, ``note``; each event
carries ``type`` and ``ts`` (epoch seconds). Nothing here imports pytest: the CLI and the
benchmarks use the same code.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from .errors import HarnessError, PhaseTimeout, failure_text

log = logging.getLogger(__name__)

Outcome = Literal["passed", "failed", "error", "timeout", "skipped", "unfinished", "rendered"]
# A phase of a dry run (``interop run --dry-run``) that stopped short of doing its work and only
# rendered what it would do returns ``details[RENDERED] = why``: its outcome is then "rendered",
# with that reason, never "passed" (nor failed: nothing went wrong). See :func:`rendered`.
RENDERED = "rendered"
EVENT_TYPES = ("run-start", "phase-start", "phase-end", "run-end", "note", "check")
# run-start carries it; a reader (trends across runs) knows which shape of record it reads
SCHEMA_VERSION = 1
PRIVATE_DIR = ".interop-private"


def new_run_id(now: datetime | None = None) -> str:
    """A sortable, unique-enough run id: UTC time to the second plus 4 random hex digits.

    >>> new_run_id(datetime(2026, 11, 25, 0, 15, tzinfo=UTC))[:17]
    '20261125T001500Z-'
    """
    now = now or datetime.now(UTC)
    if now.tzinfo is None:  # a naive datetime is taken to be UTC already
        now = now.replace(tzinfo=UTC)
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"


def worker_id() -> str:
    """The pytest-xdist worker id (``gw0``...) or ``main`` outside xdist."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


class RunDir:
    """``root/<run_id>``: the record, the reports and the artifacts of one run."""

    def __init__(self, root: Path, run_id: str) -> None:
        if not run_id or "/" in run_id or run_id.startswith("."):
            raise ValueError(f"invalid run id {run_id!r}")
        # absolute: tools we start (ansible-runner, ssh) run in other working directories
        self.root = Path(root).absolute()
        self.run_id = run_id
        self.path = self.root / run_id
        self.events_path = self.path / "events.jsonl"

    def __repr__(self) -> str:
        return f"RunDir({str(self.root)!r}, {self.run_id!r})"

    @classmethod
    def of(cls, run: RunDir | Path | str) -> RunDir:
        """The RunDir of a run directory's path (a RunDir is returned as it is)."""
        if isinstance(run, RunDir):
            return run
        path = Path(run)
        return cls(path.parent, path.name)

    def create(self) -> RunDir:
        """Make the directory and point ``root/latest`` at it; idempotent, safe to race.

        ``latest`` is only moved forward: a worker of an older run calling ``create`` late
        does not take it back from a newer run (run ids sort by time).
        """
        self.path.mkdir(parents=True, exist_ok=True)
        latest = self.root / "latest"
        try:
            current = os.readlink(latest)
        except OSError:
            current = None
        if current is not None and current >= self.run_id:
            return self
        tmp = self.root / f".latest.{os.getpid()}.{secrets.token_hex(4)}"
        os.symlink(self.run_id, tmp)  # relative: the reports dir can be moved or archived
        try:
            os.replace(tmp, latest)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise HarnessError(f"cannot point {latest} at {self.run_id}: {exc}") from exc
        return self

    def private_path(self) -> Path:
        """A 0700 directory outside the reports tree for keys and credentials of this run."""
        base = self.root.parent / PRIVATE_DIR
        path = base / self.run_id
        for directory in (base, path):
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            directory.chmod(0o700)  # mkdir's mode is filtered by the umask
        return path

    def append(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Append one event of type ``kind`` (with ts, worker and pid) and return it.

        >>> run.append("run-start", run_id=run.run_id, clouds=["lab1", "lab2"])  # doctest: +SKIP
        """
        event = {"type": kind, "ts": time.time(), **fields, "worker": worker_id(), "pid": os.getpid()}
        append_event(self.events_path, event)
        return event


def append_event(path: Path, event: dict[str, Any]) -> None:
    """Append ``event`` as one JSON line; safe from many processes at once.

    ``ts`` is added when missing. The line goes out in one ``write()`` on an O_APPEND
    descriptor under an exclusive ``flock``, so lines longer than PIPE_BUF do not interleave;
    if a killed writer left the file without a final newline, one is written first so the
    torn fragment stays on its own line instead of spoiling this event.
    """
    if "type" not in event:
        raise ValueError(f"an event needs a 'type' (one of {', '.join(EVENT_TYPES)})")
    line = json.dumps({"ts": time.time(), **event}, default=str, separators=(",", ":")) + "\n"
    data = line.encode()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            size = os.fstat(fd).st_size
            if size and _last_byte(path, size) != b"\n":
                data = b"\n" + data
            while data:
                written = os.write(fd, data)
                data = data[written:]
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _last_byte(path: Path, size: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(size - 1)
        return f.read(1)


def read_events(path: Path) -> list[dict[str, Any]]:
    """All events of the record in file order; ``[]`` when there is no record yet.

    A torn last line (a writer killed mid-write, or one still writing) is skipped silently;
    an unreadable line elsewhere can only be such a fragment too and is skipped with a warning.
    """
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        return []
    lines = raw.split(b"\n")
    events: list[dict[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            event = None
        if isinstance(event, dict):
            events.append(event)
        elif number < len(lines):  # the last element has no newline after it: torn, fine
            log.warning("%s:%d: skipping an unreadable event line", path, number)
    return events


class RecordTail:
    """Follows a record as it grows: each :meth:`poll` returns the events appended since the last.

    Only complete lines count; a line still being written is kept for the next poll.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._offset = 0
        self._partial = b""

    def poll(self) -> list[dict[str, Any]]:
        try:
            with self.path.open("rb") as f:
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return []
        self._offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        events = []
        for line in lines:
            try:
                event = json.loads(line)
            except (ValueError, UnicodeDecodeError):  # a torn line of a killed writer
                continue
            if isinstance(event, dict):
                events.append(event)
        return events


@dataclass
class PhaseResult:
    """How one phase went on one cloud. ``end``/``duration`` are None while unfinished."""

    cloud: str
    phase: str
    outcome: Outcome
    start: float
    end: float | None = None
    duration: float | None = None
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


ProgressFn = Callable[[str], object]


class PhaseTimer:
    """Time one phase of one cloud into the record; see :func:`phase_timer`."""

    def __init__(
        self,
        run_dir: RunDir | Path,
        *,
        cloud: str,
        phase: str,
        progress: ProgressFn | None = None,
    ) -> None:
        self.run = RunDir.of(run_dir)
        self.cloud = cloud
        self.phase = phase
        self.progress = progress
        self.details: dict[str, Any] = {}
        self.start = 0.0
        self.result: PhaseResult | None = None
        self._t0 = 0.0

    def __enter__(self) -> PhaseTimer:
        self.start = time.time()
        self._t0 = time.monotonic()
        self._append("phase-start", start=self.start)
        self._say(progress_line({"type": "phase-start", "cloud": self.cloud, "phase": self.phase}))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]:
        duration = time.monotonic() - self._t0
        outcome, error = self._classify(exc)
        self.result = PhaseResult(
            cloud=self.cloud,
            phase=self.phase,
            outcome=outcome,
            start=self.start,
            end=self.start + duration,
            duration=duration,
            error=error,
            details=self.details,
        )
        self._append(
            "phase-end",
            start=self.start,
            end=self.result.end,
            duration=duration,
            outcome=outcome,
            error=error,
            error_type=type(exc).__name__ if exc is not None else None,
            details=self.details,
        )
        self._say(progress_line({"type": "phase-end", "cloud": self.cloud, "phase": self.phase,
                                 "outcome": outcome, "duration": duration, "error": error}))
        return False  # record, never swallow

    def _classify(self, exc: BaseException | None) -> tuple[Outcome, str | None]:
        if exc is None:
            why = self.details.get(RENDERED)
            if isinstance(why, str) and why:
                return "rendered", why
            return "passed", None
        if isinstance(exc, KeyboardInterrupt):
            return "error", "interrupted"
        if isinstance(exc, PhaseTimeout):
            return "timeout", self._reason(exc)
        if isinstance(exc, HarnessError):
            return "failed", self._reason(exc)
        pytest_outcome = _pytest_outcome(exc)
        if pytest_outcome == "Skipped":
            return "skipped", str(exc) or "skipped"
        if pytest_outcome == "Failed":  # pytest.fail(): the test itself said the cloud failed
            return "failed", str(exc) or "failed"
        return "error", failure_text(exc)

    def _reason(self, exc: HarnessError) -> str:
        # Drop the "cloud X, phase Y:" prefix when it only repeats where we are.
        if exc.cloud in (None, self.cloud) and exc.phase in (None, self.phase):
            return exc.message
        return str(exc)

    def _append(self, kind: str, **fields: Any) -> None:
        self.run.append(kind, cloud=self.cloud, phase=self.phase, **fields)

    def _say(self, line: str | None) -> None:
        if self.progress is not None and line:
            self.progress(line)


def progress_line(event: dict[str, Any]) -> str | None:
    """The terminal's line for a phase event (None for other events).

    >>> progress_line({"type": "phase-end", "cloud": "lab1", "phase": "servers", "outcome": "timeout",
    ...                "duration": 600.2, "error": "servers not ACTIVE"})
    '[lab1] servers TIMEOUT in 600.20s: servers not ACTIVE'
    """
    where = f"[{event.get('cloud')}] {event.get('phase')}"
    if event.get("type") == "phase-start":
        return f"{where} ... started"
    if event.get("type") != "phase-end":
        return None
    outcome = str(event.get("outcome"))
    word = outcome if outcome in ("passed", "skipped", "rendered") else outcome.upper()
    reason = f": {event['error']}" if event.get("error") else ""
    return f"{where} {word} in {float(event.get('duration') or 0):.2f}s{reason}"


def phase_timer(
    run_dir: RunDir | Path, *, cloud: str, phase: str, progress: ProgressFn | None = None
) -> PhaseTimer:
    """Context manager timing ``phase`` on ``cloud``; the exception (if any) propagates.

    No exception -> passed (rendered when ``details[RENDERED]`` says why); PhaseTimeout -> timeout;
    other HarnessError -> failed; pytest.skip -> skipped; pytest.fail -> failed;
    KeyboardInterrupt -> error "interrupted"; anything else -> error (a harness bug: the verdict is ABORT).
    """
    return PhaseTimer(run_dir, cloud=cloud, phase=phase, progress=progress)


def rendered(details: dict[str, Any], why: str) -> dict[str, Any]:
    """``details`` marked as a dry run's rendering (outcome "rendered", reason ``why``).

    >>> rendered({"files": 4}, "dry run: manifests rendered, not applied")["rendered"]
    'dry run: manifests rendered, not applied'
    """
    return {**details, RENDERED: why}


def _pytest_outcome(exc: BaseException) -> str | None:
    """'Skipped' or 'Failed' for pytest's outcome exceptions, without importing pytest.

    pytest sets those classes' ``__module__`` to "builtins"; their base is still found in
    ``_pytest.outcomes``.
    """
    mro = type(exc).__mro__
    if not any(c.__module__ == "_pytest.outcomes" and c.__name__ == "OutcomeException" for c in mro):
        return None
    names = {c.__name__ for c in mro}
    return next((name for name in ("Skipped", "Failed") if name in names), None)
