"""The ``hosts-patroni`` stack: PostgreSQL + Patroni 4 + etcd on plain servers of every cloud.

Two phases per cloud (``run.facts`` as documented in :mod:`harness.stacks.base`):

``configure``  ``playbooks/prepare.yml`` on this cloud's servers: host checks (right host,
               clock), the stack's packages where missing, directories, control script.
``deploy``     the cross-cloud join, through the rendezvous:

               1. publish this cloud's servers (``db-nodes``), gather every cloud's;
               2. derive the :class:`ClusterPlan` (members, etcd members, synchronous
                  standbys) -- every cloud derives the same one; confirm that (``db-plan``);
               3. ``playbooks/deploy.yml`` on this cloud's servers only (``--limit``), with
                  every member in the inventory: etcd, Patroni, PostgreSQL;
               4. wait until this cloud's members are leader or streaming replicas: the
                  cloud's **join time**, counted from the moment the plan was known;
               5. publish ``db-joined``; wait until the cluster of every joined cloud is
                  ready (:func:`~.patroni_health.readiness`); save its status as an artifact.

A cloud that fails withdraws from the names it has not published (the engine does it for
every name in :data:`RENDEZVOUS_NAMES`), so the other clouds stop waiting for it and form the
cluster without it.
"""

from __future__ import annotations

import json
import os
import secrets as pysecrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...configure.ansible import run_playbook
from ...configure.inventory import Server, build_inventory, group_name
from ...configure.scrub import scrub_value
from ...record import RunDir
from ...rendezvous import DirRendezvous
from ...waiting import wait_for
from ..common import cloud_servers, confirm_plan, ssh_files
from . import pins
from .database import PatroniDatabase
from .health import NotReady
from .names import JOINED, NODES, PLAN, PLAYBOOKS, RENDEZVOUS_NAMES
from .plan import plan_cluster

if TYPE_CHECKING:
    from ...engine import CloudRun

SECRETS_FILE = "hosts-patroni-secrets.json"
SECRET_KEYS = ("db_superuser_password", "db_replication_password", "db_rewind_password", "db_password")
PLAN_CONFIRM_TIMEOUT = 60.0

__all__ = ["RENDEZVOUS_NAMES", "configure_phase", "db_secrets", "deploy_phase"]


def db_secrets(private_dir: Path) -> dict[str, str]:
    """The run's database passwords, created once (race-safe) in the run's private area."""
    path = private_dir / SECRETS_FILE
    if not path.exists():
        tmp = private_dir / f".{SECRETS_FILE}.{os.getpid()}.{pysecrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, json.dumps({k: pysecrets.token_urlsafe(18) for k in SECRET_KEYS}).encode())
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # never replaces: the first worker's passwords win
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    data: dict[str, str] = json.loads(path.read_text())
    return data


def stack_vars() -> dict[str, Any]:
    """Extra vars every run passes: the stack's pins (:mod:`.pins`)."""
    return pins.load().extravars()


# --------------------------------------------------------------------------- phases
def configure_phase(run: CloudRun) -> dict[str, Any]:
    """Run ``prepare.yml`` on this cloud's servers; details: plays, slowest tasks, changes."""
    servers = cloud_servers(run)
    key, known = ssh_files(run)
    inventory = build_inventory(servers, ssh_key=key, known_hosts=known,
                                groups={"patroni": [s.name for s in servers]})
    result = run_playbook(run.rundir, cloud=run.cloud, phase="configure", playbook="prepare.yml",
                          project_dir=PLAYBOOKS, inventory=inventory, label="configure",
                          timeout=run.challenge.timeout("configure"), extravars=stack_vars(),
                          forks=max(5, len(servers)))
    return {"servers": len(servers), **result.details}


def deploy_phase(run: CloudRun) -> dict[str, Any]:
    """Join this cloud's servers to the one cluster of the run; see the module docstring."""
    servers = cloud_servers(run)
    key, known = ssh_files(run)
    rundir = run.rundir
    rv = DirRendezvous(rundir)
    timeout = run.challenge.timeout("deploy")
    deadline = time.monotonic() + timeout

    def left() -> float:
        return max(1.0, deadline - time.monotonic())

    details: dict[str, Any] = {}
    rv.publish(NODES, run.cloud, {"servers": [s.as_fact() for s in servers]})
    got = rv.gather(NODES, run.expected_clouds(), timeout=left(), me=run.cloud)
    details["peers_waited_s"] = round(got.waited, 3)
    if got.withdrawn:
        details["clouds_withdrawn"] = got.withdrawn
    if got.missing:
        details["clouds_missing"] = got.missing
    nodes = {c: [Server.from_fact(f, c) for f in d.get("servers", [])] for c, d in got.present.items()}
    plan = plan_cluster(nodes)
    confirm_plan(rv, PLAN, run.cloud, plan.clouds, plan.digest(), what="cluster plan",
                 timeout=min(PLAN_CONFIRM_TIMEOUT, left()))
    known_at = time.monotonic()
    details["plan"] = {"clouds": plan.clouds, "members": len(plan.members), "etcd": list(plan.etcd),
                       "sync_standbys": plan.sync_standbys}
    secrets = db_secrets(rundir.private_path())
    inventory = build_inventory(plan.members, ssh_key=key, known_hosts=known,
                                groups={"patroni": [m.name for m in plan.members], "etcd": list(plan.etcd)})
    result = run_playbook(rundir, cloud=run.cloud, phase="deploy", playbook="deploy.yml", project_dir=PLAYBOOKS,
                          inventory=inventory, label="deploy", timeout=left(), limit=group_name(run.cloud),
                          skip_tags="wait", forks=max(5, len(servers)),
                          extravars={**stack_vars(), **secrets, "db_scope": plan.scope,
                                     "db_sync_standbys": plan.sync_standbys})
    details["ansible"] = result.details
    db = PatroniDatabase(plan, password=secrets["db_password"], ssh_key=key, known_hosts=known)
    mine = [m.name for m in plan.of_cloud(run.cloud)]
    wait_for(lambda: _joined(db, mine), timeout=left(), interval=0.5, cloud=run.cloud, phase="deploy",
             what=f"{', '.join(mine)} to be leader or streaming replicas", retry_on=(NotReady, OSError))
    join_s = time.monotonic() - known_at
    details["join_s"] = round(join_s, 2)
    run.note("deploy", "join", seconds=join_s, members=mine)
    rv.publish(JOINED, run.cloud, {"members": mine, "join_s": round(join_s, 2)})
    joined = rv.gather(JOINED, plan.clouds, timeout=left(), me=run.cloud)
    expected = [m.name for m in plan.members if m.cloud in joined.present]
    db.expected = expected
    db.wait_healthy(left(), cloud=run.cloud, phase="deploy")
    health = db.health()
    details.update(cluster_ready_s=round(time.monotonic() - known_at, 2), leader=health.leader,
                   timeline=health.timeline, sync_standbys=health.sync_standbys, members=len(expected),
                   dsn=db.dsn(redact=True))
    if joined.withdrawn or joined.missing:
        details["clouds_not_joined"] = {**joined.withdrawn, **{c: "missing" for c in joined.missing}}
    details["status_artifact"] = _save_status(rundir, run.cloud, db)
    run.facts["database"] = plan.as_facts()
    run.state["database"] = db
    return details


def _joined(db: PatroniDatabase, members: list[str]) -> bool:
    reasons = db.not_streaming(members)
    if reasons:
        raise NotReady("; ".join(reasons))
    return True


def _save_status(rundir: RunDir, cloud: str, db: PatroniDatabase) -> str:
    path = rundir.path / "artifacts" / cloud / "cluster-status.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(scrub_value(db.status()), indent=1, default=str) + "\n")
    return str(path.relative_to(rundir.path))
