"""A small Kubernetes client for one cluster per cloud: apply, list, watch until ready, exec.

>>> kube = Kube.from_kubeconfig(run_dir / "kubeconfig", cloud="lab1", phase="deploy")  # doctest: +SKIP
>>> kube.apply(manifests)                                                              # doctest: +SKIP
>>> kube.wait_for("StatefulSet", "crdb", "crdb-lab1-1", statefulset_ready, timeout=300,
...               what="StatefulSet crdb/crdb-lab1-1 to be ready")                    # doctest: +SKIP
>>> kube.exec("crdb", "crdb-lab1-1-0", ["/cockroach/cockroach", "version"]).exit_code  # doctest: +SKIP
0

Why it looks like this (see ``../shared/research/anchors-k8s-crdb.md`` §5):

- one ``ApiClient`` per cluster from that cluster's kubeconfig
  (``config.new_client_from_config``, ``persist_config=False``): the global
  ``load_kube_config`` would make every cloud of a worker talk to the last cluster loaded;
- every request goes through the ApiClient's own serializer and transport
  (``param_serialize`` / ``call_api``), with paths built from ``apiVersion`` and ``kind``
  (:data:`KINDS`), so apply, list and watch are one code path for every kind we deploy;
- server-side apply: ``PATCH`` with ``application/apply-patch+yaml`` (JSON is YAML), a field
  manager and ``force``. A 409 names the object, our field manager and the fields' owners;
- readiness by watch: list once (for a resourceVersion), then watch from it with a server-side
  ``timeoutSeconds`` and a client read timeout, both inside the caller's deadline; a 410 Gone
  (as an HTTP error or as an ``ERROR`` event carrying a Status) means relist;
- exec through ``kubernetes.stream.stream`` on an ApiClient of its own, made per call:
  ``stream`` swaps ``call_api`` on the client it is given, so a REST call on the same client at
  the same time would go over the websocket (kubernetes-client/python#928).

Every failure is a :class:`~harness.errors.CloudError` (an unreachable API server an
:class:`~harness.errors.UnreachableError`), every wait ends in
:class:`~harness.errors.PhaseTimeout` naming what it waited for; all carry cloud and phase.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from ...errors import CloudError, ConfigError, PhaseTimeout, UnreachableError
from ...waiting import wait_for

FIELD_MANAGER = "interop-harness"
APPLY_CONTENT_TYPE = "application/apply-patch+yaml"
REQUEST_TIMEOUT = 30.0  # seconds for one ordinary request (connect and read)
WATCH_CHUNK = 60  # seconds a single watch request may last (timeoutSeconds), below the caller's deadline
GONE = 410

# (apiVersion, kind) -> (plural, namespaced): the kinds this stack deploys. A table, not
# discovery: discovery is extra round trips on every new client, and an unknown kind here is a
# mistake in our own manifests, best reported before anything is sent.
KINDS: dict[tuple[str, str], tuple[str, bool]] = {
    ("v1", "Namespace"): ("namespaces", False),
    ("v1", "Node"): ("nodes", False),  # read only: configure counts the cloud's nodes through the kubeconfig
    ("v1", "Secret"): ("secrets", True),
    ("v1", "ConfigMap"): ("configmaps", True),
    ("v1", "Service"): ("services", True),
    ("v1", "ServiceAccount"): ("serviceaccounts", True),
    ("v1", "Pod"): ("pods", True),
    ("apps/v1", "StatefulSet"): ("statefulsets", True),
    ("batch/v1", "Job"): ("jobs", True),
    ("policy/v1", "PodDisruptionBudget"): ("poddisruptionbudgets", True),
}
_BY_KIND = {kind: api_version for api_version, kind in KINDS}


def resource_path(api_version: str, kind: str, namespace: str | None = None, name: str | None = None) -> str:
    """The REST path of a kind's collection, or of one object when ``name`` is given.

    >>> resource_path("apps/v1", "StatefulSet", "crdb", "crdb-1")
    '/apis/apps/v1/namespaces/crdb/statefulsets/crdb-1'
    >>> resource_path("v1", "Namespace", name="crdb")
    '/api/v1/namespaces/crdb'
    """
    known = KINDS.get((api_version, kind))
    if known is None:
        raise ConfigError(f"kind {api_version}/{kind} is not one this client knows "
                          f"(known: {', '.join(sorted(f'{v}/{k}' for v, k in KINDS))})")
    plural, namespaced = known
    base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    if namespaced:
        if not namespace:
            raise ConfigError(f"{kind} {name or ''} needs a namespace".replace("  ", " "))
        base += f"/namespaces/{namespace}"
    return f"{base}/{plural}" + (f"/{name}" if name else "")


def _ident(obj: Mapping[str, Any]) -> tuple[str, str, str | None, str]:
    meta = obj.get("metadata") or {}
    api_version, kind, name = obj.get("apiVersion"), obj.get("kind"), meta.get("name")
    if not isinstance(api_version, str) or not isinstance(kind, str) or not isinstance(name, str) or not name:
        raise ConfigError(f"manifest without apiVersion, kind or metadata.name: {str(obj)[:120]}")
    return api_version, kind, meta.get("namespace"), name


def describe(kind: str, namespace: str | None, name: str) -> str:
    return f"{kind} {namespace}/{name}" if namespace else f"{kind} {name}"


# ---- readiness predicates over objects as the API returns them (dicts); None = absent

def statefulset_ready(obj: Mapping[str, Any] | None) -> bool:
    """kubectl's rollout rule: the controller saw this generation, and every replica is updated and ready."""
    if obj is None:
        return False
    meta, spec, status = obj.get("metadata") or {}, obj.get("spec") or {}, obj.get("status") or {}
    want = spec.get("replicas", 1)
    return (status.get("observedGeneration", 0) >= meta.get("generation", 1)
            and status.get("readyReplicas", 0) == want and status.get("updatedReplicas", 0) == want)


def pod_ready(obj: Mapping[str, Any] | None) -> bool:
    """Running, with its Ready condition true (for cockroach: ``/health?ready=1`` answers)."""
    if obj is None or (obj.get("metadata") or {}).get("deletionTimestamp"):
        return False
    status = obj.get("status") or {}
    conditions = status.get("conditions") or []
    return status.get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def job_complete(obj: Mapping[str, Any] | None) -> bool:
    """The Job's Complete condition is true; a Failed condition is an error, not a wait."""
    if obj is None:
        return False
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Failed" and c.get("status") == "True":
            raise CloudError(f"Job {obj['metadata'].get('name')} failed: {c.get('reason')}: {c.get('message')}")
        if c.get("type") == "Complete" and c.get("status") == "True":
            return True
    return False


def summary(obj: Mapping[str, Any] | None) -> str:
    """What a timeout message quotes about the object last seen."""
    if obj is None:
        return "not present"
    status = obj.get("status") or {}
    kind = obj.get("kind")
    if kind == "StatefulSet":
        return (f"ready {status.get('readyReplicas', 0)}/{(obj.get('spec') or {}).get('replicas', 1)}, "
                f"updated {status.get('updatedReplicas', 0)}, observedGeneration "
                f"{status.get('observedGeneration', 0)}/{(obj.get('metadata') or {}).get('generation', 1)}")
    conditions = ", ".join(f"{c.get('type')}={c.get('status')}" for c in status.get("conditions") or [])
    return f"phase {status.get('phase', '?')}" + (f", {conditions}" if conditions else "")


class _NotYet(Exception):
    """One watch round ended without the object being ready; the message says how it looked."""


@dataclass(frozen=True)
class ExecResult:
    """What a command run in a pod printed and how it ended; ``exit_code`` None when the API
    reported a failure that carried no exit code (the command could not start, the stream broke)."""

    stdout: str
    stderr: str
    exit_code: int | None
    status: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def output(self, limit: int = 400) -> str:
        text = (self.stderr.strip() + "\n" + self.stdout.strip()).strip() or str(self.status.get("message", ""))
        return text[-limit:]


def exit_status(text: str | None) -> tuple[int | None, dict[str, Any]]:
    """The exit code from the exec error channel's Status (``{"status": "Success"}``, or
    ``Failure`` with reason ``NonZeroExitCode`` and a cause ``ExitCode`` whose message is the
    code). No Status at all: the stream ended without one (None)."""
    if not text or not text.strip():
        return None, {}
    try:
        status = json.loads(text)
    except ValueError:
        return None, {"message": text.strip()}
    if not isinstance(status, dict):
        return None, {"message": str(status)}
    if status.get("status") == "Success":
        return 0, status
    for cause in (status.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode":
            try:
                return int(cause.get("message")), status
            except (TypeError, ValueError):
                break
    return None, status


StreamFn = Callable[..., Any]


def _default_stream(*args: Any, **kwargs: Any) -> Any:
    from kubernetes.stream import stream  # imported on use: it pulls in websocket-client

    return stream(*args, **kwargs)


class Kube:
    """One Kubernetes cluster (one cloud's k3s), through its own ApiClient."""

    def __init__(self, api: k8s.ApiClient, *, cloud: str | None = None, phase: str | None = None,
                 field_manager: str = FIELD_MANAGER, request_timeout: float = REQUEST_TIMEOUT,
                 stream_fn: StreamFn = _default_stream) -> None:
        self.api = api
        self.cloud, self.phase = cloud, phase
        self.field_manager = field_manager
        self.request_timeout = request_timeout
        self.stream_fn = stream_fn  # the exec seam: tests hand in a fake speaking the channel protocol

    @classmethod
    def from_kubeconfig(cls, path: Path | str, *, context: str | None = None, cloud: str | None = None,
                        phase: str | None = None, **kwargs: Any) -> Kube:
        """A client for the cluster of ``path`` (never the process-wide configuration)."""
        from kubernetes import config

        try:
            api = config.new_client_from_config(config_file=str(path), context=context, persist_config=False)
        except (config.ConfigException, OSError, ValueError) as exc:
            raise ConfigError(f"kubeconfig {path}: {exc}", cloud=cloud, phase=phase) from exc
        return cls(api, cloud=cloud, phase=phase, **kwargs)

    def close(self) -> None:
        self.api.close()

    def _error(self, message: str) -> CloudError:
        return CloudError(message, cloud=self.cloud, phase=self.phase)

    # ---- the one request path
    def _request(self, method: str, path: str, *, query: list[tuple[str, Any]] | None = None,
                 body: Any = None, content_type: str | None = None, timeout: Any = None,
                 stream: bool = False) -> Any:
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        request = self.api.param_serialize(method=method, resource_path=path, query_params=query or [],
                                           header_params=headers, body=body, auth_settings=["BearerToken"])
        try:
            response = self.api.call_api(*request, _request_timeout=timeout or (5.0, self.request_timeout))
        except urllib3.exceptions.HTTPError as exc:
            raise UnreachableError(f"Kubernetes API {self.api.configuration.host}: {method} {path}: {exc}",
                                   cloud=self.cloud, phase=self.phase) from exc
        if stream and 200 <= response.status <= 299:
            return response
        response.read()
        if not 200 <= response.status <= 299:
            raise ApiException(http_resp=response)
        return json.loads(response.data or b"null")

    # ---- apply, get, list, delete
    def apply(self, manifests: Iterable[Mapping[str, Any]], *, force: bool = True) -> list[dict[str, Any]]:
        """Server-side apply of each manifest in order; the objects as the server stored them.

        ``force`` takes over fields another manager owns (what a controller of its own objects
        does); without it such fields are a 409, raised as a CloudError naming them.
        """
        applied = []
        for obj in manifests:
            api_version, kind, namespace, name = _ident(obj)
            path = resource_path(api_version, kind, namespace, name)
            query = [("fieldManager", self.field_manager), ("force", force)]
            try:
                applied.append(self._request("PATCH", path, query=query, body=dict(obj),
                                             content_type=APPLY_CONTENT_TYPE))
            except ApiException as exc:
                what = describe(kind, namespace, name)
                if exc.status == 409:
                    raise self._error(f"server-side apply of {what} as field manager {self.field_manager!r} "
                                      f"conflicts: {_status_text(exc)}") from None
                raise self._error(f"server-side apply of {what} failed: HTTP {exc.status} "
                                  f"{_status_text(exc)}") from None
        return applied

    def get(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        """The object, or None when the server says 404."""
        try:
            obj: dict[str, Any] = self._request("GET", resource_path(_BY_KIND.get(kind, "?"), kind, namespace, name))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise self._error(f"get {describe(kind, namespace, name)}: HTTP {exc.status} {_status_text(exc)}") from None
        return obj

    def list_objects(self, kind: str, namespace: str | None = None, *, label_selector: str | None = None,
             field_selector: str | None = None) -> tuple[list[dict[str, Any]], str]:
        """The items (each with its ``kind``) and the list's resourceVersion (to watch from)."""
        query: list[tuple[str, Any]] = []
        if label_selector:
            query.append(("labelSelector", label_selector))
        if field_selector:
            query.append(("fieldSelector", field_selector))
        api_version = _BY_KIND.get(kind, "?")
        try:
            body = self._request("GET", resource_path(api_version, kind, namespace), query=query)
        except ApiException as exc:
            raise self._error(f"list {kind} in {namespace or 'the cluster'}: HTTP {exc.status} "
                              f"{_status_text(exc)}") from None
        items = [dict(item, kind=kind, apiVersion=api_version) for item in body.get("items") or []]
        return items, str((body.get("metadata") or {}).get("resourceVersion", ""))

    def delete(self, kind: str, namespace: str | None, name: str, *, grace_period_seconds: int | None = None) -> bool:
        """Delete the object; False if it was not there. Grace 0 is a crash, as the node sees it."""
        query: list[tuple[str, Any]] = []
        if grace_period_seconds is not None:
            query.append(("gracePeriodSeconds", grace_period_seconds))
        try:
            self._request("DELETE", resource_path(_BY_KIND.get(kind, "?"), kind, namespace, name), query=query)
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise self._error(f"delete {describe(kind, namespace, name)}: HTTP {exc.status} "
                              f"{_status_text(exc)}") from None
        return True

    # ---- watch
    def _watch(self, kind: str, namespace: str | None, name: str, resource_version: str,
               seconds: int, read_timeout: float) -> Iterator[tuple[str, dict[str, Any]]]:
        """Events of one watch request (newline-delimited JSON), until the server ends it."""
        query = [("fieldSelector", f"metadata.name={name}"), ("watch", True), ("allowWatchBookmarks", True),
                 ("resourceVersion", resource_version), ("timeoutSeconds", seconds)]
        response = self._request("GET", resource_path(_BY_KIND.get(kind, "?"), kind, namespace), query=query,
                                 timeout=(5.0, read_timeout), stream=True)
        buffer = b""
        try:
            for chunk in response.response.stream(amt=None, decode_content=False):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.strip():
                        event = json.loads(line)
                        yield str(event.get("type")), event.get("object") or {}
        finally:
            response.response.release_conn()

    def wait_for(self, kind: str, namespace: str | None, name: str,
                 ready: Callable[[dict[str, Any] | None], bool], *, timeout: float, what: str,
                 clock: Callable[[], float] = time.monotonic) -> dict[str, Any] | None:
        """Watch the object until ``ready(obj)`` (obj None while it does not exist); return it.

        List first (its resourceVersion starts the watch), then watch in requests of at most
        :data:`WATCH_CHUNK` seconds, each with a client read timeout inside the deadline. A 410
        Gone, as HTTP status or as an ERROR event, means our resourceVersion is too old: list
        again. PhaseTimeout names ``what`` and how the object looked last.
        """
        deadline = clock() + timeout
        state: dict[str, Any] = {"rv": None, "last": None}

        def round_() -> dict[str, Any] | bool | None:
            left = deadline - clock()
            if state["rv"] is None:
                items, state["rv"] = self.list_objects(kind, namespace, field_selector=f"metadata.name={name}")
                state["last"] = items[0] if items else None
                if ready(state["last"]):
                    return state["last"] or True
            seconds = max(1, min(WATCH_CHUNK, int(left)))
            try:
                for kind_of_event, obj in self._watch(kind, namespace, name, state["rv"], seconds,
                                                      read_timeout=max(0.5, min(left, seconds + 5.0))):
                    if kind_of_event == "ERROR":
                        if obj.get("code") == GONE:  # the watch's window moved past our version
                            state["rv"] = None
                            raise _NotYet(f"watch expired (410 {obj.get('reason', 'Gone')}), relisting")
                        raise self._error(f"watch of {describe(kind, namespace, name)} failed: "
                                          f"{obj.get('code')} {obj.get('reason')}: {obj.get('message')}")
                    version = (obj.get("metadata") or {}).get("resourceVersion")
                    if version:
                        state["rv"] = str(version)
                    if kind_of_event == "BOOKMARK":
                        continue
                    state["last"] = None if kind_of_event == "DELETED" else dict(obj, kind=kind)
                    if ready(state["last"]):
                        return state["last"] or True
                    if clock() >= deadline:
                        break
            except ApiException as exc:
                if exc.status == GONE:
                    state["rv"] = None
                    raise _NotYet("watch expired (410 Gone), relisting") from None
                raise self._error(f"watch of {describe(kind, namespace, name)}: HTTP {exc.status} "
                                  f"{_status_text(exc)}") from None
            except (urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.ProtocolError) as exc:
                raise _NotYet(f"watch request ended: {type(exc).__name__}") from None
            raise _NotYet(summary(state["last"]))

        try:
            _, found = wait_for(round_, timeout=timeout, what=what, interval=0.2, clock=clock,
                                retry_on=(_NotYet, UnreachableError), cloud=self.cloud, phase=self.phase)
        except PhaseTimeout as exc:
            raise PhaseTimeout(f"{exc.message}; last seen: {summary(state['last'])}", cloud=self.cloud,
                               phase=self.phase) from None
        return found if isinstance(found, dict) else None

    # ---- exec
    def exec(self, namespace: str, pod: str, command: list[str], *, container: str | None = None,
             timeout: float = 60.0) -> ExecResult:
        """Run ``command`` in the pod; its output and exit code (not an error when non-zero)."""
        import websocket
        from kubernetes.stream import ws_client

        if websocket.getdefaulttimeout() is None:
            # the client opens exec's websocket with no timeout of its own: without a default an
            # unreachable API server blocks connect for the kernel's ~2 minutes
            websocket.setdefaulttimeout(self.request_timeout)
        own = k8s.ApiClient(self.api.configuration)  # stream() patches the client it is given
        where = f"{namespace}/{pod}"
        try:
            kwargs: dict[str, Any] = {"command": command, "stderr": True, "stdin": False, "stdout": True,
                                      "tty": False, "_preload_content": False, "_request_timeout": timeout}
            if container:
                kwargs["container"] = container
            try:
                ws = self.stream_fn(k8s.CoreV1Api(own).connect_get_namespaced_pod_exec, pod, namespace, **kwargs)
            except ApiException as exc:
                raise self._error(f"exec in pod {where}: {exc.reason or exc.status}") from None
            try:
                ws.run_forever(timeout=timeout)
                if ws.is_open():
                    raise PhaseTimeout(f"timed out after {timeout:.0f}s waiting for {' '.join(command)!r} "
                                       f"in pod {where}", cloud=self.cloud, phase=self.phase)
                stdout, stderr = ws.read_stdout(timeout=0) or "", ws.read_stderr(timeout=0) or ""
                code, status = exit_status(ws.read_channel(ws_client.ERROR_CHANNEL, timeout=0))
            finally:
                ws.close()
        finally:
            own.close()
        return ExecResult(stdout, stderr, code, status)


def _status_text(exc: ApiException) -> str:
    """The message of the Status an API error carries (its causes too), else the raw reason."""
    try:
        status = json.loads(exc.body or "")
    except ValueError:
        return str(exc.reason or exc.body or "")
    if not isinstance(status, dict):
        return str(exc.reason or "")
    text = str(status.get("message") or status.get("reason") or exc.reason or "")
    causes = [c for c in (status.get("details") or {}).get("causes") or [] if isinstance(c, dict)]
    fields = [f"{c.get('field')}: {c.get('message')}" for c in causes if c.get("field")]
    return text + (f" (fields: {'; '.join(fields)})" if fields and not all(f in text for f in fields) else "")
