"""Take the lab down: stop every process it started, prove none is left, optionally purge.

Processes are stopped only through the process groups recorded in the pidfiles, in tiers
(OpenStack services together, then RabbitMQ, then epmd and MariaDB). Once nova-compute and the
network agent are stopped, the data plane is removed from its ledger (``<state>/dataplane``):
network cuts healed, every server VM killed, router and VM namespaces, veths, bridges and
routes deleted, VM disks removed (:func:`teardown_all`, which fails naming whatever is left).
Afterwards both the recorded groups and the lab's environment tag must be empty, or ``lab
down`` fails.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from harness.errors import LabError

from .configs import dataplane_dir
from .dataplane import heal_all, teardown_all
from .files import lab_lock
from .plan import START_ORDER, STOP_TIERS
from .progress import Progress
from .settings import MARKER_FILE, LabPaths, open_lab
from .status import manager_for


def remove_dataplane(paths: LabPaths, log: Callable[[str], None]) -> None:
    """Heal cuts and tear down every VM, router, bridge and route of the lab's data plane."""
    state = dataplane_dir(paths)
    if not (state / "dataplane.json").exists():
        return
    healed = heal_all(state)
    report = teardown_all(state)
    log(f"data plane removed: {len(report.namespaces)} namespace(s), {len(report.killed_pids)} VM process(es), "
        f"{len(report.bridges)} bridge(s), {len(report.links)} veth(s), {len(report.routes)} route(s)"
        + (f", cuts healed: {', '.join(healed)}" if healed else "") + "; nothing left")


def lab_down(state_dir: Path, purge: bool = False, log: Callable[[str], None] = print) -> None:
    """Stop every lab process (by its recorded process group); ``purge`` deletes the state dir.

    Raises LabError if any process of the lab survives.
    """
    progress = Progress(log)
    paths, _ = open_lab(state_dir)
    if not (paths.root / MARKER_FILE).exists():
        # not created by `lab up`: touch nothing in it, let alone delete it
        if purge and paths.root.exists():
            raise LabError(f"refusing to delete {paths.root}: it is not a lab state directory")
        progress(f"no lab at {paths.root}")
        return
    with lab_lock(paths.lock_file):
        manager = manager_for(paths)
        recorded = sorted(p.name.removesuffix(".pid") for p in paths.run.glob("*.pid")) if paths.run.exists() else []
        unknown = [name for name in recorded if name not in START_ORDER]
        dataplane_error: LabError | None = None
        for index, tier in enumerate(((*STOP_TIERS[0], *unknown), *STOP_TIERS[1:])):
            for name in manager.stop(tier):
                progress(f"stopped {name}")
            if index == 0:  # nova-compute and the agent are gone: nothing re-creates VMs or routers
                try:
                    remove_dataplane(paths, progress)
                except LabError as exc:  # stop the rest of the lab anyway, then report it
                    dataplane_error = exc
        left = {name: pids for name in (*START_ORDER, *unknown) if (pids := manager.members(name))}
        tagged = manager.tagged_processes()
        if left or tagged:
            raise LabError(f"lab processes survived: {left or ''} {tagged or ''}".strip(), phase="lab down")
        if dataplane_error is not None:
            raise LabError(str(dataplane_error), phase="lab down") from dataplane_error
        progress("no lab process left")
        if purge:
            shutil.rmtree(paths.root)
            kept = "" if paths.venv.is_relative_to(paths.root) else f" (kept the venv {paths.venv})"
            progress(f"purged {paths.root}{kept}")
    progress(f"lab down in {progress.elapsed:.1f}s")
