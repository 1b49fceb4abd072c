"""Phases as data: what each stack runs, in order, per cloud.

A phase is a function of the cloud's context returning details for the record. Stacks list
their phases by name; the pytest scenarios, the CLI and benchmarks all run phases through
:class:`CloudRun`, which times each one into the run record and stops a cloud at its first
failure (its later phases are skipped with the reason, never reported as extra failures).

>>> STACKS["hosts-patroni"]
('identity',)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .challenge import Challenge, CloudSettings
from .clouds import CloudsConfig, check_identity
from .errors import CloudError, ConfigError, HarnessError

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


PHASES: dict[str, PhaseFn] = {
    "identity": identity_phase,
}

# Stacks grow phases as the pipeline is built; every stack starts with identity.
STACKS: dict[str, tuple[str, ...]] = {
    "hosts-patroni": ("identity",),
    "k8s-cockroach": ("identity",),
}


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
    _conn: Any = None

    @property
    def settings(self) -> CloudSettings:
        return self.challenge.settings_for(self.cloud)

    def connection(self, phase: str | None = None) -> Any:
        if self._conn is None:
            self._conn = self.clouds.connect(self.cloud, phase=phase)
        return self._conn

    def run_phase(self, name: str) -> dict[str, Any]:
        """Run one phase under the phase timer. Raises :class:`SkipCloud` if an earlier phase failed."""
        from .record import RunDir, phase_timer

        if self.failed_phase is not None:
            raise SkipCloud(f"cloud {self.cloud} failed in phase {self.failed_phase}: {self.failure}")
        try:
            fn = PHASES[name]
        except KeyError:
            raise ConfigError(f"unknown phase {name!r} (known: {', '.join(PHASES)})", cloud=self.cloud) from None
        run_dir = RunDir(self.run_dir.parent, self.run_dir.name)
        try:
            with phase_timer(run_dir, cloud=self.cloud, phase=name, progress=self.progress) as rec:
                details = fn(self) or {}
                rec.details.update(details)
        except Exception as exc:
            self.failed_phase = name
            self.failure = exc.message if isinstance(exc, HarnessError) else f"{type(exc).__name__}: {exc}"
            raise
        return details

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None


class SkipCloud(Exception):
    """An earlier phase of this cloud failed; the caller reports this phase as skipped."""
