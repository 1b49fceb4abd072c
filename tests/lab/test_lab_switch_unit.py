"""Which running services `lab up` restarts when the lab's drivers or configs change (no lab).

Switching between the fake and the data-plane drivers must restart nova-compute and the
network agent and nothing else; a changed file restarts exactly the services reading it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import LabError
from interop_lab import faults
from interop_lab.configs import ConfigContext, render_all
from interop_lab.controlplane import BringUp
from interop_lab.files import write_file
from interop_lab.plan import START_ORDER, Drivers
from interop_lab.progress import Progress
from interop_lab.settings import LabState, open_lab


def bring_up(root: Path, drivers: Drivers) -> BringUp:
    paths, state = open_lab(root)
    paths.make_dirs()
    run = BringUp(paths, state, Progress(lambda line: None), drivers)
    for path, text in render_all(ConfigContext(paths, run.ports, run.secrets, drivers.compute)).items():
        write_file(path, text)
    return run


def pretend_running(run: BringUp, name: str, *, legacy: bool = False) -> None:
    """A pidfile as ServiceManager writes it (only argv matters here), and the inputs record."""
    run.paths.run.mkdir(parents=True, exist_ok=True)
    run.manager.pidfile(name).write_text(json.dumps({"pid": 1, "argv": list(run.specs[name].argv)}))
    if not legacy:
        write_file(run.inputs_file(name), run.inputs(name) + "\n")


def test_switching_drivers_restarts_only_compute_and_agent(tmp_path: Path) -> None:
    fake = bring_up(tmp_path / "lab", Drivers.fake())
    for name in START_ORDER:
        pretend_running(fake, name)
    netns = bring_up(tmp_path / "lab", Drivers())
    stale = {name: why for name in START_ORDER if (why := netns.stale(name))}
    assert set(stale) == {"nova-compute", "neutron-agent"}, stale
    back = bring_up(tmp_path / "lab", Drivers.fake())
    assert [name for name in START_ORDER if back.stale(name)] == []


def test_a_changed_file_restarts_the_services_that_read_it(tmp_path: Path) -> None:
    run = bring_up(tmp_path / "lab", Drivers())
    for name in START_ORDER:
        pretend_running(run, name)
    conf = run.paths.etc / "neutron" / "neutron.conf"
    conf.write_text(conf.read_text() + "\n[agent]\nreport_interval = 7\n")
    assert [n for n in START_ORDER if run.stale(n)] == ["neutron-api", "neutron-rpc", "neutron-agent"]


def test_services_started_before_fingerprints_compare_their_command_line(tmp_path: Path) -> None:
    fake = bring_up(tmp_path / "lab", Drivers.fake())
    for name in START_ORDER:
        pretend_running(fake, name, legacy=True)
    netns = bring_up(tmp_path / "lab", Drivers())
    assert {n for n in START_ORDER if netns.stale(n)} == {"nova-compute", "neutron-agent"}
    assert netns.stale("nova-compute") == "its command line changed"


def test_cloud_faults_refuse_unknown_clouds_and_unbounded_cuts(tmp_path: Path) -> None:
    paths, _ = open_lab(tmp_path / "lab")
    paths.make_dirs()
    LabState(clouds=["lab1"]).save(paths.state_file)
    with pytest.raises(LabError, match="no lab cloud 'lab9'"):
        faults.cut_cloud(paths.root, "lab9", seconds=10)
    for seconds in (0, -1, faults.MAX_SECONDS + 1):
        with pytest.raises(LabError, match="between 0 and"):
            faults.cut_cloud(paths.root, "lab1", seconds=seconds)
    assert faults.heal_all(paths.root) == [] and faults.active_cuts(paths.root) == []
