"""Helpers every stack's phases and report rows share (not part of the plug-in interface)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..configure.inventory import Server, servers_from_facts
from ..errors import ConfigError, RendezvousError
from ..rendezvous import DirRendezvous

if TYPE_CHECKING:
    from ..engine import CloudRun


def ssh_files(run: CloudRun) -> tuple[Path, Path]:
    """The run's ssh private key and known_hosts file, as the keypair and ssh-ready phases left them."""
    key = run.facts.get("ssh_key")
    if not key or not Path(key).is_file():
        raise ConfigError(f"no ssh key in the run's facts (run.facts['ssh_key'] = {key!r})", cloud=run.cloud)
    known = run.facts.get("known_hosts") or Path(key).parent / "known_hosts"
    return Path(key), Path(known)


def cloud_servers(run: CloudRun) -> list[Server]:
    """This cloud's servers from the run's facts, with the challenge's ssh user."""
    try:
        user = run.settings.ssh_user
    except Exception:  # a cloud outside the challenge file (tests, tools): the usual default
        user = "root"
    return servers_from_facts(run.facts, run.cloud, default_user=user)


def confirm_plan(rv: DirRendezvous, name: str, cloud: str, clouds: list[str], digest: str, *, what: str,
                 timeout: float) -> None:
    """Every cloud of a cross-cloud plan must have derived the same plan (a cloud that saw the
    servers' rendezvous late would not): each publishes its plan's digest under ``name`` and
    waits for the others'. RendezvousError naming the clouds that differ or did not answer."""
    rv.publish(name, cloud, {"digest": digest})
    got = rv.gather(name, clouds, timeout=timeout, me=cloud)
    differ = sorted(c for c, d in got.present.items() if d.get("digest") != digest)
    if differ:
        raise RendezvousError(f"clouds {', '.join(differ)} derived a different {what} "
                              "(a cloud published its servers late)", cloud=cloud, phase="deploy")
    if got.missing:
        raise RendezvousError(f"clouds {', '.join(got.missing)} did not confirm the {what} within "
                              f"{timeout:.0f}s", cloud=cloud, phase="deploy")


def play_lines(details: Mapping[str, Any]) -> list[str]:
    """A phase's Ansible plays as report lines, ``name: 2.1 s``."""
    plays = details.get("plays") or []
    return [f"{p.get('name', '?')}: {float(p.get('seconds', 0)):.1f} s" for p in plays if isinstance(p, dict)]


def seconds_text(value: Any) -> str:
    return f"{float(value):.1f} s" if isinstance(value, (int, float)) else "-"
