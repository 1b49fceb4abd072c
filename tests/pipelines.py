"""Pipelines for tests: a stack's real pipeline with some phases swapped for the test's own.

Injected into :class:`~harness.engine.CloudRun`, never patched into a global registry::

    phases: dict[str, PhaseFn] = {}
    run = cloud_run(tmp_path, "lab1", phases=phases)
    phases["servers"] = failing_servers      # read when the phase runs
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.challenge import Challenge
from harness.engine import CloudRun
from harness.provision.pipeline import pipeline_for
from harness.stacks import load_stack
from harness.stacks.base import Phase, PhaseFn, Pipeline


def pipeline_with(overrides: Mapping[str, PhaseFn], stack: str = "hosts-patroni") -> Pipeline:
    """``stack``'s pipeline where a phase named in ``overrides`` runs that function instead.

    ``overrides`` is read each time a phase runs, so a test may fill it after making the run.
    """
    real = pipeline_for(load_stack(stack))

    def swapped(phase: Phase) -> Phase:
        def run(cloud_run: CloudRun) -> dict[str, Any] | None:
            return overrides.get(phase.name, phase.run)(cloud_run)

        return replace(phase, run=run)

    return replace(real, phases=tuple(swapped(p) for p in real.phases))


def cloud_run(challenge: Challenge, cloud: str, run_dir: Path, *, phases: Mapping[str, PhaseFn] | None = None,
              clouds: Any = None) -> CloudRun:
    """A CloudRun of ``challenge``'s stack, with ``phases`` swapped in."""
    return CloudRun(cloud=cloud, challenge=challenge, clouds=clouds, run_dir=run_dir,
                    pipeline=pipeline_with(phases or {}, challenge.stack))
