"""Cross-cloud rendezvous: clouds publish data under a name, and gather everyone's.

Later phases need every cloud's data (each cloud's node addresses for the database join
list, readiness before the survivability workload). Clouds run in separate xdist workers on
their own schedules, so each one publishes what it has, and gathers with a deadline:

>>> rv = DirRendezvous(run.path)                                           # doctest: +SKIP
>>> rv.publish("join-addrs", "lab1", {"addrs": ["10.0.0.5"]})              # doctest: +SKIP
>>> got = rv.gather("join-addrs", ["lab1", "lab2", "lab3"], timeout=300, me="lab1")  # doctest: +SKIP
>>> got.present, got.missing, got.withdrawn                                # doctest: +SKIP
({'lab1': {...}, 'lab2': {...}}, ['lab3'], {})

A cloud whose earlier phase failed *withdraws*, so the others stop waiting for it at once.
``gather`` never blocks past its deadline and never raises because peers are late or gone:
what it got is data (a :class:`Gathering`), and the phase decides what is enough.

:class:`Rendezvous` is the interface; :class:`DirRendezvous` keeps the entries as files in
the run directory (``<run>/rendezvous/<name>/<cloud>.json``), and a network backend for the
federated mode can replace it without touching the phases.
"""

from __future__ import annotations

import abc
import json
import os
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import PhaseTimeout, RendezvousError
from .record import RunDir
from .waiting import wait_for

POLL_INTERVAL = 0.1


@dataclass
class Gathering:
    """What ``gather`` saw: ready clouds' data, late clouds, withdrawn clouds with reasons."""

    present: dict[str, dict[str, Any]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    withdrawn: dict[str, str] = field(default_factory=dict)
    waited: float = 0.0

    @property
    def complete(self) -> bool:
        """Every expected cloud published."""
        return not self.missing and not self.withdrawn


class Rendezvous(abc.ABC):
    """Where clouds meet; see the module docstring."""

    @abc.abstractmethod
    def publish(self, name: str, cloud: str, data: dict[str, Any]) -> None:
        """Make ``data`` available as ``cloud``'s entry under ``name`` (replacing any earlier one)."""

    @abc.abstractmethod
    def withdraw(self, name: str, cloud: str, reason: str) -> None:
        """Say ``cloud`` will not publish under ``name``, so nobody waits for it."""

    @abc.abstractmethod
    def gather(
        self, name: str, expected: Sequence[str], timeout: float, *, me: str | None = None
    ) -> Gathering:
        """Wait until every cloud in ``expected`` published or withdrew, or ``timeout`` seconds.

        Raises :class:`RendezvousError` only when ``me`` is given and has no ready entry, or
        an entry is unreadable.
        """


class DirRendezvous(Rendezvous):
    """Entries as JSON files under ``<run>/rendezvous/<name>/``, written atomically.

    Each file is ``{"cloud", "status": "ready"|"withdrawn", "data", "reason", "ts"}``,
    written to a temporary name and renamed, so a reader never sees half an entry.
    """

    def __init__(self, run_dir: Path | str | RunDir, *, interval: float = POLL_INTERVAL) -> None:
        self.run_path = run_dir.path if isinstance(run_dir, RunDir) else Path(run_dir)
        self.root = self.run_path / "rendezvous"
        self.interval = interval

    def __repr__(self) -> str:
        return f"DirRendezvous({str(self.run_path)!r})"

    def entry_path(self, name: str, cloud: str) -> Path:
        return self.root / _check_name(name, "rendezvous name") / f"{_check_name(cloud, 'cloud name')}.json"

    def publish(self, name: str, cloud: str, data: dict[str, Any]) -> None:
        if not isinstance(data, dict):
            raise TypeError(f"rendezvous data must be a dict, got {type(data).__name__}")
        self._write(name, cloud, {"status": "ready", "data": data, "reason": None})

    def withdraw(self, name: str, cloud: str, reason: str) -> None:
        self._write(name, cloud, {"status": "withdrawn", "data": None, "reason": reason})

    def gather(
        self, name: str, expected: Sequence[str], timeout: float, *, me: str | None = None
    ) -> Gathering:
        if isinstance(expected, str):
            raise TypeError("expected must be a sequence of cloud names, not one string")
        clouds = list(dict.fromkeys(expected))
        paths = {cloud: self.entry_path(name, cloud) for cloud in clouds}
        if me is not None and me not in paths:
            raise ValueError(f"me={me!r} is not among the expected clouds {clouds}")
        start = time.monotonic()
        got = Gathering()
        if me is not None:
            # Waiting out the deadline cannot fix our own absence: say so at once.
            self._require_ready(name, me, self._read(paths[me]))

        def settle() -> bool:
            for cloud in clouds:
                if cloud in got.present or cloud in got.withdrawn:
                    continue
                entry = self._read(paths[cloud])
                if entry is None:
                    continue
                if entry["status"] == "ready":
                    got.present[cloud] = entry["data"]
                else:
                    got.withdrawn[cloud] = entry["reason"]
            return len(got.present) + len(got.withdrawn) == len(clouds)

        if timeout <= 0:
            settle()
        else:
            try:
                wait_for(settle, timeout=timeout, what=f"rendezvous {name!r}", interval=self.interval)
            except PhaseTimeout:
                pass  # late peers are data, not an error: they are listed in `missing`
        got.missing = [c for c in clouds if c not in got.present and c not in got.withdrawn]
        got.present = {c: got.present[c] for c in clouds if c in got.present}
        got.withdrawn = {c: got.withdrawn[c] for c in clouds if c in got.withdrawn}
        got.waited = time.monotonic() - start
        if me is not None and me not in got.present:  # withdrew (or vanished) while we waited
            reason = got.withdrawn.get(me)
            self._require_ready(name, me, None if reason is None else {"status": "withdrawn", "reason": reason})
        return got

    def _require_ready(self, name: str, me: str, entry: dict[str, Any] | None) -> None:
        if entry is None:
            raise RendezvousError(f"{me} gathers {name!r} but has not published to it", cloud=me)
        if entry["status"] != "ready":
            raise RendezvousError(
                f"{me} gathers {name!r} but withdrew from it: {entry['reason']}", cloud=me
            )

    def _write(self, name: str, cloud: str, fields: dict[str, Any]) -> None:
        path = self.entry_path(name, cloud)
        path.parent.mkdir(parents=True, exist_ok=True)
        body = json.dumps({"cloud": cloud, **fields, "ts": time.time()}, sort_keys=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(body)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)

    def _read(self, path: Path) -> dict[str, Any] | None:
        """The entry at ``path``, None if not there yet; RendezvousError if unreadable."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise RendezvousError(f"cannot read rendezvous entry {path}: {exc}") from exc
        try:
            entry = json.loads(text)
        except ValueError as exc:
            raise RendezvousError(f"corrupt rendezvous entry {path}: {exc}") from exc
        cloud = path.name.removesuffix(".json")
        problem = _entry_problem(entry, cloud)
        if problem:
            raise RendezvousError(f"corrupt rendezvous entry {path}: {problem}", cloud=cloud)
        return entry


def _entry_problem(entry: object, cloud: str) -> str | None:
    if not isinstance(entry, dict):
        return f"expected a JSON object, got {type(entry).__name__}"
    if entry.get("cloud") != cloud:
        return f"it names cloud {entry.get('cloud')!r}"
    status = entry.get("status")
    if status == "ready" and not isinstance(entry.get("data"), dict):
        return "a ready entry without a data object"
    if status == "withdrawn" and not isinstance(entry.get("reason"), str):
        return "a withdrawn entry without a reason"
    if status not in ("ready", "withdrawn"):
        return f"unknown status {status!r}"
    return None


def _check_name(value: str, what: str) -> str:
    """Names become file names: refuse anything that could leave the directory."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    if "/" in value or "\\" in value or "\0" in value or value.startswith("."):
        raise ValueError(
            f"{what} {value!r} cannot be used: no path separators, NUL or leading dot allowed"
        )
    return value
