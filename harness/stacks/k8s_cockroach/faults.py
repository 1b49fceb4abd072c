"""The fault kinds the k8s-cockroach stack adds to the survive phase's registry.

- ``pod-delete``: the member's pod deleted with grace 0 through its cloud's Kubernetes API (a
  crash, as the node sees it: no drain); the effect is that pod gone (deleted, or already
  replaced by a new one); recovery is the StatefulSet's new pod Ready. The survive phase then
  waits for the cluster to be healthy (every node live, no under-replicated range).

The generic kinds work on this stack's database unchanged: ``process-kill`` (SIGKILL of the
cockroach process through exec, restarted in place by the kubelet) and ``member-kill``
(= pod delete, then wait for the new pod), ``server-stop`` and ``server-reboot-hard`` through
Nova (the pod comes back with k3s), ``cloud-cut``.
"""

from __future__ import annotations

import time
from typing import Any

from ...errors import ConfigError
from ...survive.injectors import Injector, Target
from .database import CockroachDatabase


def _db(t: Target) -> CockroachDatabase:
    if not isinstance(t.db, CockroachDatabase):
        raise ConfigError(f"pod-delete needs the k8s-cockroach database, not {type(t.db).__name__}",
                          cloud=t.member.cloud, phase="survive")
    return t.db


def _delete(t: Target) -> dict[str, Any]:
    db = _db(t)
    _, pod = db.pod_of(t.member.name)
    db.kill(t.member.name)
    return {"pod": f"{db.namespace}/{pod}", "uid": db.killed_uid(t.member.name), "grace_period_s": 0}


def _gone(t: Target, timeout: float) -> dict[str, Any]:
    """The killed pod object is gone: absent, or a new pod (another uid) in its place."""
    db = _db(t)
    node, pod = db.pod_of(t.member.name)
    old = db.killed_uid(t.member.name)
    kube = db.kube_for(node)
    start = time.monotonic()
    kube.wait_for("Pod", db.namespace, pod,
                  lambda obj: obj is None or (obj.get("metadata") or {}).get("uid") != old,
                  timeout=timeout, what=f"pod {db.namespace}/{pod} of {t.member.name} to be gone")
    return {"gone_after_s": round(time.monotonic() - start, 2)}


def _recreated(t: Target, timeout: float) -> dict[str, Any]:
    start = time.monotonic()
    _db(t).restart(t.member.name, timeout=timeout)
    return {"ready_after_s": round(time.monotonic() - start, 2)}


INJECTORS: dict[str, Injector] = {
    "pod-delete": Injector(
        "pod-delete", "the member's pod deleted with grace 0 (a crash, no drain); its StatefulSet makes a new one",
        inject=_delete,
        effect=_gone,
        recover=_recreated,
    ),
}


def injectors() -> dict[str, Injector]:
    """The stack's fault kinds by name (:attr:`~harness.stacks.base.Stack.injectors`)."""
    return INJECTORS
