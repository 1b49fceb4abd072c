"""Run a playbook on one cloud's servers through ansible-runner, timed into the run record.

>>> result = run_playbook(run_dir, cloud="lab1", phase="configure", playbook="prepare.yml",
...                       inventory=inv, label="configure", timeout=600)   # doctest: +SKIP
>>> result.summary.changed, [p.name for p in result.summary.plays]          # doctest: +SKIP
(0, ['Check the hosts', 'Install the stack's packages where missing', ...])

* one ansible-runner private data dir per cloud per run and label, under the run's private
  area (``<reports>/.interop-private/<run-id>/ansible/<cloud>/<label>``): inventory, extra vars
  (secrets) and the runner's raw artifacts stay there;
* ssh with the run's key, host keys pinned on first use, bounded connect and job timeouts;
* every play becomes a timed ``note`` event (``note: "ansible-play"``) as it ends, and the
  summary (plays, slowest tasks, changed tasks, per-host stats) goes into the phase's details;
* stdout and the events are copied to ``<run>/artifacts/<cloud>/ansible-<label>/`` with
  secrets removed (:func:`scrub`);
* a failed or unreachable host raises :class:`CloudError` / :class:`UnreachableError` naming
  host, task and message; the job timeout raises :class:`PhaseTimeout`.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import cancel
from ..errors import CloudError, HarnessError, PhaseTimeout, UnreachableError
from ..record import RunDir
from .events import HostFailure, PlaybookSummary, PlayTiming, parse_time, summarize
from .inventory import render_inventory
from .scrub import scrub, scrub_value

__all__ = ["HostFailure", "PlayTiming", "PlaybookResult", "PlaybookSummary",
           "run_playbook", "scrub", "summarize"]


@dataclass
class PlaybookResult:
    label: str
    status: str
    rc: int
    seconds: float
    summary: PlaybookSummary
    artifacts: Path
    private_dir: Path
    details: dict[str, Any] = field(default_factory=dict)


def run_playbook(
    run_dir: RunDir | Path,
    *,
    cloud: str,
    phase: str,
    playbook: str,
    inventory: Mapping[str, Any],
    label: str,
    timeout: float,
    extravars: Mapping[str, Any] | None = None,
    secrets: Sequence[str] = (),
    limit: str | None = None,
    skip_tags: str | None = None,
    forks: int = 10,
    project_dir: Path,
) -> PlaybookResult:
    """Run ``playbook`` (from ``project_dir``, the stack's playbooks) against ``inventory``; raise on any failed host.

    ``label`` names the private data dir and the artifacts dir (made unique if used before);
    ``secrets`` are extra strings to remove from the copied artifacts.
    """
    import ansible_runner  # slow import: only callers pay

    run = RunDir.of(run_dir)
    base = run.private_path() / "ansible" / cloud
    label = _unique_label([base, run.path / "artifacts" / cloud], label)
    private = base / label
    (private / "inventory").mkdir(parents=True, mode=0o700)
    inventory_path = private / "inventory" / "hosts.json"
    inventory_path.write_text(render_inventory(inventory))
    # ssh's ControlPath must fit a unix socket path (108 bytes): a short dir of our own
    control_dir = Path(tempfile.mkdtemp(prefix="interop-cp-"))
    events: list[dict[str, Any]] = []
    plays = _PlayNotes(run, cloud, phase, label)

    def on_event(event: dict[str, Any]) -> bool:
        events.append(event)
        plays.see(event)
        return True

    def cancelled() -> bool:
        return cancel.requested()

    venv_bin = str(Path(sys.executable).parent)
    envvars = {
        "PATH": venv_bin + os.pathsep + os.environ.get("PATH", "/usr/bin:/bin"),
        "ANSIBLE_FORKS": str(forks),
        "ANSIBLE_PIPELINING": "True",
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_TIMEOUT": "15",
        "ANSIBLE_SSH_ARGS": "-o ControlMaster=auto -o ControlPersist=30s",
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(control_dir),
        "ANSIBLE_LOCAL_TEMP": str(private / "tmp"),
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_DEPRECATION_WARNINGS": "False",
    }
    start = time.monotonic()
    try:
        r = ansible_runner.run(
            private_data_dir=str(private), project_dir=str(project_dir), playbook=playbook,
            inventory=str(inventory_path), extravars=dict(extravars or {}), envvars=envvars, ident=label,
            limit=limit, skip_tags=skip_tags, quiet=True, event_handler=on_event, cancel_callback=cancelled,
            timeout=max(1, int(timeout)), settings={"suppress_ansible_output": True},
        )
    except Exception as exc:  # ansible-runner's own failure (bad dir, missing ansible-playbook)
        raise HarnessError(f"ansible-runner could not run {playbook}: {type(exc).__name__}: {exc}",
                           cloud=cloud, phase=phase) from exc
    finally:
        shutil.rmtree(control_dir, ignore_errors=True)
    seconds = time.monotonic() - start
    plays.finish()
    summary = summarize(events)
    addresses = _addresses(inventory)
    for failure in summary.failures:  # ansible's remote_addr is often just the host name
        if not failure.address or failure.address == failure.host:
            failure.address = addresses.get(failure.host)
    known = [*secrets, *_string_values(extravars or {})]
    artifacts = run.path / "artifacts" / cloud / f"ansible-{label}"
    _copy_artifacts(private / "artifacts" / label, artifacts, events, summary, known)
    result = PlaybookResult(label=label, status=str(r.status), rc=int(r.rc if r.rc is not None else -1),
                            seconds=seconds, summary=summary, artifacts=artifacts, private_dir=private)
    result.details = {"playbook": playbook, "label": label, "seconds": round(seconds, 2), "status": result.status,
                      **summary.as_details(), "artifacts": str(artifacts.relative_to(run.path))}
    _raise_for(result, cloud=cloud, phase=phase, timeout=timeout, secrets=known)
    return result


def _raise_for(result: PlaybookResult, *, cloud: str, phase: str, timeout: float, secrets: Sequence[str]) -> None:
    failures = result.summary.failures
    if failures:
        text = "; ".join(f.describe() for f in failures)
        text = scrub(text, secrets)
        kind = UnreachableError if all(f.unreachable for f in failures) else CloudError
        raise kind(f"ansible {result.label}: {text}", cloud=cloud, phase=phase)
    if result.status == "timeout":
        raise PhaseTimeout(f"ansible {result.label} did not finish within {timeout:.0f}s", cloud=cloud, phase=phase)
    if result.status == "canceled":  # only harness.cancel stops a playbook: the run was interrupted
        raise KeyboardInterrupt(f"ansible {result.label} stopped: the run was interrupted")
    if result.status != "successful" or result.rc != 0:
        tail = _tail(result.artifacts / "stdout.txt")
        raise HarnessError(f"ansible {result.label} ended {result.status} (rc {result.rc}): {tail}",
                           cloud=cloud, phase=phase)


def _addresses(inventory: Mapping[str, Any]) -> dict[str, str]:
    """host name -> ansible_host, from every group of the inventory."""
    found: dict[str, str] = {}

    def walk(group: Mapping[str, Any]) -> None:
        for name, host in (group.get("hosts") or {}).items():
            if isinstance(host, Mapping) and host.get("ansible_host"):
                found[name] = str(host["ansible_host"])
        for child in (group.get("children") or {}).values():
            walk(child)

    walk(inventory.get("all", inventory))
    return found


def _unique_label(dirs: Sequence[Path], label: str) -> str:
    """``label``, or ``label-2``, ``-3``... if a run of this cloud used it already."""
    candidate, n = label, 1
    while any((d / c).exists() for d in dirs for c in (candidate, f"ansible-{candidate}")):
        n += 1
        candidate = f"{label}-{n}"
    return candidate


def _string_values(data: Mapping[str, Any]) -> list[str]:
    """Values of keys that look secret (password, secret, token, key)."""
    words = ("password", "secret", "token", "private_key")
    return [str(v) for k, v in data.items() if any(w in k.lower() for w in words) and v]


def _copy_artifacts(src: Path, dest: Path, events: Iterable[dict[str, Any]], summary: PlaybookSummary,
                    secrets: Sequence[str]) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    try:
        stdout = (src / "stdout").read_text(errors="replace")
    except OSError:
        stdout = ""
    (dest / "stdout.txt").write_text(scrub(stdout, secrets))
    with open(dest / "events.jsonl", "w") as f:
        for event in events:
            f.write(json.dumps(scrub_value(_slim(event), secrets), default=str) + "\n")
    (dest / "summary.json").write_text(json.dumps(scrub_value(summary.as_details(top=20), secrets), indent=1) + "\n")


def _slim(event: dict[str, Any]) -> dict[str, Any]:
    """An event without its rendered stdout (kept in stdout.txt) and the runner's env noise."""
    return {k: v for k, v in event.items() if k not in ("stdout", "start_line", "end_line", "runner_ident")}


def _tail(path: Path, lines: int = 12) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no output)"
    return " | ".join(line for line in text.strip().splitlines()[-lines:] if line.strip())


class _PlayNotes:
    """Writes one ``note`` event per play into the record as soon as the play ends."""

    def __init__(self, run: RunDir, cloud: str, phase: str, label: str) -> None:
        self.run, self.cloud, self.phase, self.label = run, cloud, phase, label
        self.current: tuple[str, float] | None = None

    def see(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind not in ("playbook_on_play_start", "playbook_on_stats"):
            return
        at = parse_time(event.get("created")) or time.time()
        self._close(at)
        if kind == "playbook_on_play_start":
            self.current = (str(event.get("event_data", {}).get("play", "")), at)

    def finish(self) -> None:
        self._close(time.time())

    def _close(self, at: float) -> None:
        if self.current is None:
            return
        name, start = self.current
        self.current = None
        self.run.append("note", note="ansible-play", cloud=self.cloud, phase=self.phase, label=self.label,
                        play=name, start=start, end=at, duration=round(at - start, 3))
