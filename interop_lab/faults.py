"""Faults the lab injects beyond the API: cut a whole lab cloud off the other clouds, heal it.

A lab cloud is a project; everything it exchanges with the other clouds crosses its routers'
gateway legs on the external network. :func:`cut_cloud` drops that traffic in every router
namespace of the project (:func:`interop_lab.dataplane.isolate.cut`), so the other clouds
see its servers' floating IPs stop answering, exactly like a network partition; traffic inside
the cloud is untouched, and by default the harness (the external network's gateway, the root
namespace) still reaches it. Every cut is bounded: the kernel removes it by itself after
``seconds`` (an nft set timeout, so even a crashed harness cannot leave one behind), and
:func:`heal_all` (run by ``interop lab down``) removes whatever is recorded.

    >>> cut = cut_cloud(default_state_dir(), "lab2", seconds=30)    # doctest: +SKIP
    >>> heal_cloud(default_state_dir(), "lab2")                       # doctest: +SKIP
    True
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import LabError

from . import backends
from .configs import dataplane_dir
from .content import Tenant
from .dataplane import isolate
from .dataplane.router import RouterSpec
from .dataplane.state import Ledger
from .settings import open_lab

Cut = isolate.Cut
MAX_SECONDS = isolate.MAX_CUT_SECONDS


def cloud_project_id(state_dir: Path, cloud: str) -> str:
    """The Keystone project id of lab cloud ``cloud`` (read from Keystone's database)."""
    paths, state = open_lab(state_dir)
    if cloud not in state.clouds:
        raise LabError(f"no lab cloud {cloud!r} in {paths.root} (clouds: {', '.join(state.clouds) or 'none'})")
    project = Tenant(cloud, "").project
    rows = backends.sql(paths, f"SELECT id FROM keystone.project WHERE name = '{project}' "
                               "AND domain_id = 'default';\n", lab_id=str(paths.root)).split()
    if len(rows) != 1:
        raise LabError(f"lab cloud {cloud}: project {project} not found in Keystone")
    return rows[0]


def cloud_routers(state_dir: Path, cloud: str) -> list[str]:
    """Ids of the cloud's routers that have a gateway in the data plane (what a cut acts on)."""
    project_id = cloud_project_id(state_dir, cloud)
    data = Ledger(dataplane_dir(open_lab(state_dir)[0])).read()
    specs = [RouterSpec.from_dict(rec["spec"]) for rec in data["routers"].values()]
    return sorted(s.router_id for s in specs if s.project == project_id and s.gateway is not None)


def cut_cloud(state_dir: Path, cloud: str, seconds: float, *, keep_harness: bool = True) -> Cut:
    """Cut lab cloud ``cloud`` off the other clouds for ``seconds`` (healed by itself afterwards).

    ``keep_harness``: the harness (root namespace) still reaches the cloud's floating IPs.
    Routers the cloud creates after the cut are not cut.
    """
    if not 0 < seconds <= MAX_SECONDS:
        raise LabError(f"a cut lasts between 0 and {MAX_SECONDS:.0f} seconds, not {seconds}")
    routers = cloud_routers(state_dir, cloud)
    if not routers:
        raise LabError(f"lab cloud {cloud} has no router with a gateway on the external network: nothing to cut")
    return isolate.cut(dataplane_dir(open_lab(state_dir)[0]), cloud, routers, seconds=seconds,
                       keep_harness=keep_harness)


def heal_cloud(state_dir: Path, cloud: str) -> bool:
    """Undo the cut of ``cloud`` now; False if it had none."""
    return isolate.heal(dataplane_dir(open_lab(state_dir)[0]), cloud)


def heal_all(state_dir: Path) -> list[str]:
    """Undo every cut; returns the clouds healed."""
    state = dataplane_dir(open_lab(state_dir)[0])
    return isolate.heal_all(state) if state.exists() else []


def active_cuts(state_dir: Path) -> list[Cut]:
    """The cuts in force now (recorded and not yet expired)."""
    state = dataplane_dir(open_lab(state_dir)[0])
    return isolate.active_cuts(state) if state.exists() else []
