"""The ``hosts-patroni`` stack as the harness sees it: needs, rules, phases, rendezvous, reports."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ...errors import CloudError
from ..base import Needs, Phase, Rule, Stack, lazy
from ..common import play_lines, seconds_text
from .names import PINS_FILE, PLAYBOOKS, RENDEZVOUS_NAMES

if TYPE_CHECKING:
    from ...engine import CloudRun
    from ..base import Database

# PostgreSQL + Patroni + etcd for a test cluster fit in 512 MB.
NEEDS = Needs(os=("debian", "ubuntu"), min_ram_mb=512, min_vcpus=1, min_disk_gb=1)

RULES = (
    Rule("ssh", "tcp", (22, 22), ("harness",)),
    Rule("postgresql", "tcp", (5432, 5432), ("harness", "group", "peers")),
    Rule("patroni-rest", "tcp", (8008, 8008), ("harness", "group", "peers")),
    Rule("etcd", "tcp", (2379, 2380), ("group", "peers")),
    Rule("icmp", "icmp", None, ("harness", "group")),
)


def database(run: CloudRun) -> Database:
    """The cluster the deploy phase of this cloud joined."""
    db: Database | None = run.state.get("database")
    if db is None:
        raise CloudError("no database: the deploy phase did not complete on this cloud", cloud=run.cloud)
    return db


def report_row(details: Mapping[str, Mapping[str, Any]]) -> dict[str, list[str]] | None:
    """The report's "Configure and join" row: Ansible plays with their times, join time, leader.

    Column -> lines of text. Only named fields are taken from the details.
    """
    if "configure" not in details and "deploy" not in details:
        return None
    conf = details.get("configure") or {}
    dep = details.get("deploy") or {}
    ansible = dep.get("ansible") if isinstance(dep.get("ansible"), dict) else {}
    changed = conf.get("changed")
    standbys = dep.get("sync_standbys")
    return {
        "configure plays": play_lines(conf) + ([f"changed tasks: {changed}"] if changed is not None else []),
        "deploy plays": play_lines(ansible or {}),
        "join": [seconds_text(dep.get("join_s"))],
        "cluster ready": [seconds_text(dep.get("cluster_ready_s"))],
        "leader": [str(dep.get("leader") or "-")],
        "sync standbys": [", ".join(map(str, standbys)) if isinstance(standbys, list)
                          else str(standbys) if standbys is not None else "-"],
    }


STACK = Stack(
    name="hosts-patroni",
    needs=NEEDS,
    rules=RULES,
    phases=(Phase("configure", lazy(f"{__package__}.phases:configure_phase")),
            Phase("deploy", lazy(f"{__package__}.phases:deploy_phase"))),
    rendezvous=RENDEZVOUS_NAMES,
    database=database,
    report_rows=report_row,
    report_title="Configure and join",
    playbooks=PLAYBOOKS,
    image_file=PINS_FILE,
)
