"""The Kubernetes objects of one cloud's CockroachDB nodes, rendered from ``templates/``.

Per cloud: the Namespace, a headless Service (the StatefulSets' governing service), and per
node a StatefulSet of one pod. One StatefulSet per node rather than one of N replicas: each
node has its own server (nodeSelector), addresses, locality and certificate, which one pod
template cannot say. A StatefulSet of one rather than a bare Pod: a deleted pod is recreated
(the ``pod-delete`` fault's restart), under the same name, never two at once on one store.
No pod network spans clouds, so nodes run with ``hostNetwork`` and advertise the server's
addresses (anchors, plan (a)).

>>> pki = ensure_pki(run.private_path(), plan)               # doctest: +SKIP
>>> objects_for_cloud(plan, pki, "lab1")                     # doctest: +SKIP
[Namespace, Secret (per node), Service, StatefulSet (per node)]: apply in this order
>>> for rel, text in render_all(plan, pki).items():          # doctest: +SKIP
...     write(run.path / "artifacts" / rel, text)            # no Secret, no key in any of them

Secrets travel only through :func:`objects_for_cloud` to the cloud's own cluster; what
:func:`render_all` gives a dry run to write under ``reports/`` holds none (checked).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jinja2
import yaml

from ...errors import HarnessError
from .pki import Pki, client_secret, metadata, node_secret, node_secret_name
from .plan import HTTP_PORT, SQL_PORT, CrdbNode, CrdbPlan

TEMPLATES = Path(__file__).resolve().parent / "templates"
CERTS_DIR = "/cockroach/cockroach-certs"
STORE_DIR = "/cockroach/cockroach-data"
HOST_DATA_ROOT = "/var/lib/cockroach"
SERVICE = "cockroachdb"
# 2 vCPU / 4 GB servers (the stack's Needs) also run k3s; CockroachDB gets half
CPU = "1"
MEMORY = "2Gi"
# CockroachDB's Kubernetes manifests give 60 s to drain; a node with no leases needs far less
GRACE_SECONDS = 60
MANAGED_BY = "interop-harness"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
                             autoescape=False, keep_trailing_newline=True)
    # every value goes into YAML as a JSON string: quoted, escaped, never read as YAML syntax
    env.filters["q"] = lambda value: json.dumps(str(value))
    return env


_ENV = _environment()


def _labels(node: CrdbNode | None = None) -> dict[str, str]:
    labels = {"app.kubernetes.io/name": "cockroachdb", "app.kubernetes.io/managed-by": MANAGED_BY}
    if node is not None:
        labels |= {"app.kubernetes.io/instance": node.k8s_name, f"{MANAGED_BY}/cloud": node.cloud}
    return labels


def start_args(plan: CrdbPlan, node: CrdbNode) -> list[str]:
    """The arguments of ``cockroach start`` for ``node`` (``cockroach-start.md``; never ``--insecure``)."""
    return ["start",
            f"--certs-dir={CERTS_DIR}",
            f"--store=path={STORE_DIR}",
            # every interface: the floating IP is NAT to the private one and not on the server
            f"--listen-addr=:{SQL_PORT}",
            f"--http-addr=:{HTTP_PORT}",
            # what the harness and the other clouds dial ...
            f"--advertise-addr={node.advertise_addr}",
            # ... and what nodes of the same cloud dial instead, inside the cloud's network
            f"--locality-advertise-addr=cloud={node.cloud}@{node.private_addr}",
            f"--locality={node.locality}",
            f"--join={','.join(plan.join)}",
            # a node started with another run's join list refuses to join this cluster
            f"--cluster-name={plan.cluster_name}",
            "--cache=.25",
            "--max-sql-memory=.25"]


def pod_name(node: CrdbNode) -> str:
    """The node's pod: the first (only) ordinal of its StatefulSet."""
    return f"{node.k8s_name}-0"


def _render(template: str, **context: Any) -> str:
    return _ENV.get_template(template).render(**context)


def namespace_text(plan: CrdbPlan) -> str:
    return _render("namespace.yaml.j2", namespace=plan.namespace, labels=_labels())


def service_text(plan: CrdbPlan) -> str:
    return _render("service.yaml.j2", name=SERVICE, namespace=plan.namespace, labels=_labels(),
                   sql_port=SQL_PORT, http_port=HTTP_PORT)


def statefulset_text(plan: CrdbPlan, node: CrdbNode) -> str:
    return _render("statefulset.yaml.j2", name=node.k8s_name, namespace=plan.namespace, labels=_labels(node),
                   annotations={f"{MANAGED_BY}/node": node.name, f"{MANAGED_BY}/cluster-name": plan.cluster_name},
                   service=SERVICE, hostname=node.hostname, image=plan.image, args=start_args(plan, node),
                   grace_seconds=GRACE_SECONDS, sql_port=SQL_PORT, http_port=HTTP_PORT, cpu=CPU, memory=MEMORY,
                   certs_dir=CERTS_DIR, store_dir=STORE_DIR, certs_secret=node_secret_name(node),
                   host_data_dir=f"{HOST_DATA_ROOT}/{plan.cluster_name}")


def manifest_texts(plan: CrdbPlan, cloud: str) -> list[str]:
    """The cloud's manifests as YAML documents, Secrets excluded, in apply order."""
    return ([namespace_text(plan), service_text(plan)]
            + [statefulset_text(plan, node) for node in plan.of_cloud(cloud)])


def manifests_for_cloud(plan: CrdbPlan, cloud: str) -> list[dict[str, Any]]:
    """The cloud's objects without Secrets (what a dry run shows), in apply order."""
    return [yaml.safe_load(text) for text in manifest_texts(plan, cloud)]


def secrets_for_cloud(plan: CrdbPlan, pki: Pki, cloud: str) -> list[dict[str, Any]]:
    """The cloud's Secrets: each node's certificates, and the root client's (for ``kubectl exec``
    SQL inside the cluster). Hold keys: for the cloud's cluster only."""
    return ([node_secret(pki, node, plan.namespace) for node in plan.of_cloud(cloud)]
            + [client_secret(pki, plan.namespace)])


def objects_for_cloud(plan: CrdbPlan, pki: Pki, cloud: str) -> list[dict[str, Any]]:
    """Everything to apply to the cloud's cluster, in order: Namespace, Secrets, Service, StatefulSets."""
    namespace, *rest = manifests_for_cloud(plan, cloud)
    return [namespace, *secrets_for_cloud(plan, pki, cloud), *rest]


def init_node(plan: CrdbPlan) -> CrdbNode:
    """The node ``cockroach init`` runs on: the first of the join list (the same on every cloud)."""
    first = plan.join[0]
    return next(n for n in plan.nodes if n.advertise_addr == first)


def init_command(plan: CrdbPlan) -> list[str]:
    """``cockroach init`` as an exec command inside :func:`init_node`'s pod, run once per cluster.

    The node's own certificate authenticates it (CockroachDB's Kubernetes guides run it the
    same way); ``localhost`` is in every node certificate. It exits non-zero with "cluster has
    already been initialized" on a second run, which the caller counts as success.
    """
    return ["/cockroach/cockroach", "init", f"--certs-dir={CERTS_DIR}", f"--host=localhost:{SQL_PORT}",
            f"--cluster-name={plan.cluster_name}"]


# a PEM key, or any base64 PEM (how a Secret's data looks): neither belongs in an artifact
_KEY_MARKERS = ("PRIVATE KEY", "LS0tLS1CRUdJTi")


def _check_no_keys(files: dict[str, str]) -> dict[str, str]:
    for path, text in files.items():
        for marker in _KEY_MARKERS:
            if marker in text:
                raise HarnessError(f"refusing to render {path}: it would contain key material ({marker!r})")
    return files


def render_all(plan: CrdbPlan, pki: Pki) -> dict[str, str]:
    """Every per-cloud artifact of a dry run: ``{"<cloud>/cockroach/<file>": text}``, relative to
    the run's ``artifacts/`` directory; no key material in any (checked before returning).

    Per cloud: ``manifests.yaml`` (Namespace, Service, StatefulSets; the Secrets are named in
    ``certificates.json``, never rendered), ``join.json``, ``certificates.json`` (the CA's,
    the cloud's nodes' and the root client's certificate metadata) and ``init.json``.
    """
    first = init_node(plan)
    files: dict[str, str] = {}
    for cloud in plan.clouds:
        base = f"{cloud}/cockroach"
        files[f"{base}/manifests.yaml"] = "---\n".join(manifest_texts(plan, cloud))
        files[f"{base}/join.json"] = _json({"cluster_name": plan.cluster_name, "join": list(plan.join),
                                            "clouds": sorted({a.cloud for a in plan.nodes
                                                              if a.advertise_addr in plan.join})})
        files[f"{base}/certificates.json"] = _json(metadata(pki, plan.of_cloud(cloud), namespace=plan.namespace))
        files[f"{base}/init.json"] = _json({"cloud": first.cloud, "node": first.name, "pod": pod_name(first),
                                            "namespace": plan.namespace, "container": "cockroachdb",
                                            "command": init_command(plan), "runs_here": first.cloud == cloud})
    return _check_no_keys(files)


def _json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True) + "\n"
