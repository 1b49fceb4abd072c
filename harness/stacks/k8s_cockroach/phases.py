"""The ``k8s-cockroach`` stack's phases: k3s in every cloud, then one CockroachDB cluster across them.

``run.facts`` as documented in :mod:`harness.stacks.base`. Both phases honour ``run.dry_run``
(``interop run --dry-run``): what can run without k3s and CockroachDB runs for real, the rest
is rendered into ``artifacts/<cloud>/`` and the phase ends "rendered" (never "passed").

``configure``  k3s through Ansible on this cloud's servers (one cloud, one k3s cluster):
               the airgap preflight when ``$INTEROP_K3S_AIRGAP_DIR`` is set, then
               ``configure.yml`` (airgap, host preparation, k3s servers and agents, every
               node Ready, kubeconfig fetched) with the inventory groups ``k3s``,
               ``k3s_server`` (the first node, or the first three: embedded-etcd HA) and
               ``k3s_agent``, the pins as extra vars and a random token kept in the run's
               private area. The kubeconfig (the cluster's admin key) stays there, its server
               rewritten to the first server's public address; ``artifacts/<cloud>/k3s/``
               gets a copy without keys, the inventory, the variables (no token) and the
               stack's rule set. Dry run: ``airgap.yml`` (when set) and ``prepare.yml`` for
               real, the rest rendered.
``deploy``     the cross-cloud join, done once, timed per cloud:

               1. publish this cloud's servers (``crdb-nodes``), gather every cloud's, derive
                  the :class:`~.plan.CrdbPlan` and confirm every cloud derived the same one
                  (``crdb-plan``);
               2. the run's one CA and every certificate (:func:`~.pki.ensure_pki`, race-safe);
                  this cloud's manifests, join list, certificate metadata and init command
                  rendered into ``artifacts/<cloud>/cockroach/`` (no key: checked);
               3. dry run: stop here. Real: apply this cloud's objects (Secrets included) by
                  server-side apply, wait for its pods to run, ``cockroach init`` exactly once
                  (by the cloud of the plan's init node), wait until every node of this cloud
                  is live with its locality: the cloud's **join time**, from the plan being
                  known; publish ``crdb-joined``, gather, and wait for the cluster of every
                  joined cloud: all live, no under-replicated range.

A cloud that fails withdraws from the names it has not published (the engine does it for
every name in :data:`RENDEZVOUS_NAMES`), so the other clouds stop waiting for it.
"""

from __future__ import annotations

import json
import os
import secrets as pysecrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...configure.ansible import run_playbook
from ...configure.inventory import Server, build_inventory, render_inventory
from ...errors import CloudError, ConfigError, HarnessError
from ...record import read_events, rendered
from ...rendezvous import DirRendezvous
from ...waiting import wait_for
from ..common import cloud_servers, confirm_plan, ssh_files
from . import airgap, pins
from .names import APPLIED, JOINED, NODES, PLAN, RENDEZVOUS_NAMES
from .plan import CrdbPlan, cluster_name_for, plan_from_servers

if TYPE_CHECKING:
    from ...engine import CloudRun
    from ..base import Stack
    from .database import CockroachDatabase
    from .kube import Kube
    from .pki import Pki

AIRGAP_ENV = "INTEROP_K3S_AIRGAP_DIR"
HA_SERVERS = 3  # an odd number > 1: k3s's embedded etcd keeps a quorum when one server is lost
PLAN_CONFIRM_TIMEOUT = 60.0
TOKEN_MASK = "(kept in the run's private area)"

__all__ = ["RENDEZVOUS_NAMES", "configure_phase", "deploy_phase", "k3s_groups", "k3s_token"]


# --------------------------------------------------------------------------- shared
def _artifacts(run: CloudRun, *parts: str) -> Path:
    path = run.rundir.path.joinpath("artifacts", run.cloud, *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _write_json(path: Path, data: Any) -> str:
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    return str(path)


def _private(run: CloudRun, *parts: str) -> Path:
    path = run.rundir.private_path().joinpath(*parts)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def k3s_token(private_dir: Path, cloud: str) -> str:
    """The cloud's k3s cluster token: random, made once (race-safe), mode 0600 in the private area."""
    path = private_dir / f"k3s-token-{cloud}"
    if not path.exists():
        tmp = private_dir / f".k3s-token-{cloud}.{os.getpid()}.{pysecrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, pysecrets.token_hex(32).encode())
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # never replaces: a second worker reads the first one's token
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    return path.read_text().strip()


def k3s_groups(servers: Sequence[Server]) -> dict[str, list[str]]:
    """``k3s`` (every node), ``k3s_server`` and ``k3s_agent``: three servers (embedded etcd) when
    the cloud has three nodes or more, so the API survives one node's loss; else the first alone.

    >>> s = [Server(f"n{i}", "10.0.0.1", "10.0.0.1") for i in range(1, 5)]
    >>> k3s_groups(s)["k3s_server"], k3s_groups(s[:2])["k3s_agent"]
    (['n1', 'n2', 'n3'], ['n2'])
    """
    names = [s.name for s in servers]
    count = HA_SERVERS if len(names) >= HA_SERVERS else 1
    return {"k3s": names, "k3s_server": names[:count], "k3s_agent": names[count:]}


def airgap_dir() -> Path | None:
    value = os.environ.get(AIRGAP_ENV, "").strip()
    return Path(value) if value else None


def needs_shortfall(run: CloudRun) -> str | None:
    """Why the cloud's configured flavor is below the stack's needs, or None.

    Discovery only picks flavors that meet them, so only a flavor named in the challenge file
    can fall short; one lookup tells. A lookup that fails says so rather than guessing.
    """
    wanted = run.settings.flavor
    if not wanted:
        return None
    needs = run.pipeline.stack.needs
    try:
        flavor = run.connection(phase="configure").compute.find_flavor(wanted, ignore_missing=True)
    except Exception as exc:  # the check is advice: an API hiccup must not fail the phase
        return f"flavor {wanted}: could not be checked against the stack's needs ({type(exc).__name__}: {exc})"
    if flavor is None:
        return f"flavor {wanted}: not found, so not checked against the stack's needs"
    short = []
    if int(flavor.ram or 0) < needs.min_ram_mb:
        short.append(f"{flavor.ram} MB RAM < {needs.min_ram_mb} MB")
    if int(flavor.vcpus or 0) < needs.min_vcpus:
        short.append(f"{flavor.vcpus} vCPU < {needs.min_vcpus}")
    if 0 < int(flavor.disk or 0) < needs.min_disk_gb:  # 0: the image's size (boot from volume)
        short.append(f"{flavor.disk} GB disk < {needs.min_disk_gb} GB")
    if not short:
        return None
    return (f"flavor {flavor.name} is below stack {run.pipeline.stack.name}'s needs: {', '.join(short)} "
            "(k3s and CockroachDB would not fit)")


def rules_data(stack: Stack) -> list[dict[str, Any]]:
    return [{**asdict(r), "ports": r.port_text() or None} for r in stack.rules]


def _applied_rules(run: CloudRun) -> dict[str, Any] | None:
    """The security group as this cloud's security-groups phase recorded it (the rules as created)."""
    for event in reversed(read_events(run.rundir.events_path)):
        if (event.get("type") == "phase-end" and event.get("cloud") == run.cloud
                and event.get("phase") == "security-groups" and event.get("outcome") == "passed"):
            found = event.get("details") or {}
            return {k: found.get(k) for k in ("id", "name", "harness", "rules", "audit")}
    return None


# --------------------------------------------------------------------------- configure
def configure_phase(run: CloudRun) -> dict[str, Any]:
    """k3s on this cloud's servers (dry run: host preparation only); see the module docstring."""
    servers = cloud_servers(run)
    key, known = ssh_files(run)
    groups = k3s_groups(servers)
    inventory = build_inventory(servers, ssh_key=key, known_hosts=known, groups=groups)
    private = _private(run, "k3s")
    kubeconfig = private / f"kubeconfig-{run.cloud}.yaml"
    directory = airgap_dir()
    extravars: dict[str, Any] = {**pins.load().extravars(), **airgap.extravars(directory),
                                 "k3s_kubeconfig": str(kubeconfig)}
    details: dict[str, Any] = {"servers": len(servers), "k3s_server": groups["k3s_server"],
                               "k3s_agent": groups["k3s_agent"], "k3s_version": extravars["k3s_version"],
                               "airgap_dir": str(directory) if directory else None}
    shortfall = needs_shortfall(run)
    if shortfall:
        if not run.dry_run:
            raise ConfigError(f"{shortfall}; give a flavor of at least the stack's needs, or use --dry-run",
                              cloud=run.cloud, phase="configure")
        details["needs_not_met"] = shortfall
        run.note("configure", "needs-not-met", reason=shortfall)
    if directory is not None:
        if not directory.is_dir():
            raise ConfigError(f"airgap directory {directory} (${AIRGAP_ENV}) does not exist",
                              cloud=run.cloud, phase="configure")
        # what each arch would lack, for the record; airgap.yml then fails naming exactly what a
        # node of its own arch lacks, before anything is installed
        details["airgap_files"] = {arch: [p.describe() for p in airgap.check(directory, [arch])] or "complete"
                                   for arch in sorted(set(pins.load().arches.values()))}
    artifacts = _artifacts(run, "k3s")
    (artifacts / "inventory.json").write_text(render_inventory(inventory))
    _write_json(artifacts / "vars.json", {**extravars, "k3s_token": TOKEN_MASK})
    _write_json(artifacts / "rules.json", {"stack": run.pipeline.stack.name, "rules": rules_data(run.pipeline.stack),
                                           "security_group": _applied_rules(run)})
    rendered_into = str(artifacts.relative_to(run.rundir.path))
    details["rendered_into"] = rendered_into
    common: dict[str, Any] = {"project_dir": pins.PLAYBOOKS, "inventory": inventory, "forks": max(5, len(servers))}
    timeout = run.challenge.timeout("configure")
    if run.dry_run:
        plays: list[dict[str, Any]] = []
        if directory is not None:
            result = run_playbook(run.rundir, cloud=run.cloud, phase="configure", playbook="airgap.yml",
                                  label="airgap", timeout=timeout, extravars=extravars, **common)
            plays += result.details.get("plays", [])
        result = run_playbook(run.rundir, cloud=run.cloud, phase="configure", playbook="prepare.yml",
                              label="prepare", timeout=timeout, extravars=extravars, **common)
        details.update(result.details)
        details["plays"] = plays + result.details.get("plays", [])
        why = ("dry run: host preparation (prepare.yml) ran for real; k3s not installed, its inventory, "
               f"variables and rule set rendered into {rendered_into}/")
        return rendered(details, why + (f"; {shortfall}" if shortfall else ""))
    token = k3s_token(_private(run), run.cloud)
    result = run_playbook(run.rundir, cloud=run.cloud, phase="configure", playbook="configure.yml", label="configure",
                          timeout=timeout, extravars={**extravars, "k3s_token": token}, secrets=[token], **common)
    details.update(result.details)
    first = next(s for s in servers if s.name == groups["k3s_server"][0])
    details.update(_kubeconfig(run, kubeconfig, first.public_ip, artifacts, len(servers)))
    return details


def _kubeconfig(run: CloudRun, path: Path, address: str, artifacts: Path, expected: int) -> dict[str, Any]:
    """Rewrite the fetched kubeconfig to ``address``, keep a copy without keys, and ask the API
    server through it for the cloud's nodes (the rewrite and the TLS SAN are then both right)."""
    import yaml

    from .kube import Kube
    from .kubeconfig import redacted, rewrite_file

    if not path.is_file():
        raise CloudError(f"configure.yml fetched no kubeconfig to {path}", cloud=run.cloud, phase="configure")
    config = rewrite_file(path, address)
    (artifacts / "kubeconfig.yaml").write_text(yaml.safe_dump(redacted(config), sort_keys=False))
    kube = Kube.from_kubeconfig(path, cloud=run.cloud, phase="configure")
    try:
        nodes, _ = kube.list_objects("Node")
    finally:
        kube.close()
    if len(nodes) != expected:
        raise CloudError(f"the k3s API at {address} lists {len(nodes)} nodes, not {expected}", cloud=run.cloud,
                         phase="configure")
    return {"kubeconfig_server": f"https://{address}:6443", "k8s_nodes": len(nodes)}


# --------------------------------------------------------------------------- deploy
def deploy_phase(run: CloudRun) -> dict[str, Any]:
    """Join this cloud's nodes to the run's one CockroachDB cluster; see the module docstring."""
    from .manifests import render_all
    from .pki import ensure_pki

    rundir = run.rundir
    rv = DirRendezvous(rundir)
    deadline = time.monotonic() + run.challenge.timeout("deploy")

    def left() -> float:
        return max(1.0, deadline - time.monotonic())

    servers = run.facts.get("servers")
    if not isinstance(servers, list) or not servers:
        raise ConfigError("no servers in the run's facts", cloud=run.cloud, phase="deploy")
    details: dict[str, Any] = {}
    rv.publish(NODES, run.cloud, {"servers": servers})
    got = rv.gather(NODES, run.expected_clouds(), timeout=left(), me=run.cloud)
    details["peers_waited_s"] = round(got.waited, 3)
    if got.withdrawn or got.missing:
        details["clouds_not_in_plan"] = {**got.withdrawn, **{c: "missing" for c in got.missing}}
    plan = plan_from_servers(cluster_name_for(rundir.run_id),
                             {c: list(d.get("servers") or []) for c, d in got.present.items()})
    confirm_plan(rv, PLAN, run.cloud, plan.clouds, plan.digest(), what="CockroachDB plan",
                 timeout=min(PLAN_CONFIRM_TIMEOUT, left()))
    known_at = time.monotonic()
    mine = plan.of_cloud(run.cloud)
    details["plan"] = {"cluster_name": plan.cluster_name, "clouds": plan.clouds, "nodes": len(plan.nodes),
                       "join": list(plan.join), "localities": {n.name: n.locality for n in mine}}
    pki = ensure_pki(rundir.private_path(), plan)
    details["files"] = _render(run, render_all(plan, pki))
    run.facts["database"] = {"stack": run.pipeline.stack.name, **plan.as_dict()}
    if run.dry_run:
        return rendered(details, f"dry run: manifests, join list, certificate metadata and init command rendered "
                                 f"into artifacts/{run.cloud}/cockroach/; nothing applied (no k3s here)")
    return _deploy_live(run, plan, pki, rv, details, known_at, left)


def _render(run: CloudRun, files: Mapping[str, str]) -> list[str]:
    """This cloud's share of :func:`~.manifests.render_all` (each cloud writes its own files only)."""
    base = run.rundir.path / "artifacts"
    written = []
    for rel, text in sorted(files.items()):
        if not rel.startswith(f"{run.cloud}/"):
            continue
        path = base / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(str(path.relative_to(run.rundir.path)))
    return written


def kubeconfig_path(run: CloudRun, cloud: str) -> Path:
    return run.rundir.private_path() / "k3s" / f"kubeconfig-{cloud}.yaml"


def _deploy_live(run: CloudRun, plan: CrdbPlan, pki: Pki, rv: DirRendezvous, details: dict[str, Any],
                 known_at: float, left: Any) -> dict[str, Any]:
    from .database import ClientCerts, CockroachDatabase, NotHealthy, init_cluster
    from .kube import Kube
    from .manifests import init_node, objects_for_cloud, pod_name

    kube = Kube.from_kubeconfig(kubeconfig_path(run, run.cloud), cloud=run.cloud, phase="deploy")
    mine = plan.of_cloud(run.cloud)
    kube.apply(objects_for_cloud(plan, pki, run.cloud))
    for node in mine:  # not Ready: /health?ready=1 fails until the cluster is initialized
        kube.wait_for("Pod", plan.namespace, pod_name(node),
                      lambda o: o is not None and (o.get("status") or {}).get("phase") == "Running",
                      timeout=left(), what=f"pod {plan.namespace}/{pod_name(node)} of {node.name} to run")
    rv.publish(APPLIED, run.cloud, {"pods": [pod_name(n) for n in mine]})
    first = init_node(plan)
    if first.cloud == run.cloud:  # exactly one cloud inits: the one holding the first join address
        details["init"] = init_cluster(kube, plan, timeout=min(300.0, left()), cloud=run.cloud)
    client = pki.client_dir()
    certs = ClientCerts(ca=client / "ca.crt", cert=client / "client.root.crt", key=client / "client.root.key")
    kubes = _kubes(run, plan, own=kube)
    db = CockroachDatabase.of_plan(plan, kubes=kubes, certs=certs)
    names = [n.name for n in mine]

    def joined() -> bool:
        live = {m.name for m in db.members() if m.role == "live"}
        missing = [n for n in names if n not in live]
        if missing:
            raise NotHealthy(f"not live with locality cloud={run.cloud}: {', '.join(missing)}")
        return True

    wait_for(joined, timeout=left(), interval=1.0, retry_on=(NotHealthy, HarnessError), cloud=run.cloud,
             phase="deploy", what=f"{', '.join(names)} live in the cluster with locality cloud={run.cloud}")
    join_s = time.monotonic() - known_at
    details["join_s"] = round(join_s, 2)
    run.note("deploy", "join", seconds=join_s, members=names)
    rv.publish(JOINED, run.cloud, {"members": names, "join_s": round(join_s, 2)})
    got = rv.gather(JOINED, plan.clouds, timeout=left(), me=run.cloud)
    db.nodes = [n for n in plan.nodes if n.cloud in got.present]
    db.wait_healthy(left(), cloud=run.cloud, phase="deploy")
    details.update(cluster_ready_s=round(time.monotonic() - known_at, 2), members=len(db.nodes),
                   dsn=db.dsn(redact=True))
    if got.withdrawn or got.missing:
        details["clouds_not_joined"] = {**got.withdrawn, **{c: "missing" for c in got.missing}}
    status = _artifacts(run, "cockroach") / "cluster-status.json"
    _write_json(status, db.status())
    details["status_artifact"] = str(status.relative_to(run.rundir.path))
    run.state["database"] = db
    return details


def _kubes(run: CloudRun, plan: CrdbPlan, own: Kube) -> dict[str, Kube]:
    """A client per cloud whose kubeconfig the run holds (faults reach any cloud's pods)."""
    from .kube import Kube

    kubes = {run.cloud: own}
    for cloud in plan.clouds:
        path = kubeconfig_path(run, cloud)
        if cloud != run.cloud and path.is_file():
            kubes[cloud] = Kube.from_kubeconfig(path, cloud=cloud, phase="survive")
    return kubes


def database(run: CloudRun) -> CockroachDatabase:
    """The cluster the deploy phase of this cloud joined."""
    db: CockroachDatabase | None = run.state.get("database")
    if db is None:
        raise CloudError("no database: the deploy phase did not complete on this cloud", cloud=run.cloud)
    return db
