"""The Kubernetes client wrapper at the HTTP seam: a scripted API server on 127.0.0.1.

Bodies come from the client's own models (``sanitize_for_serialization``); watch answers are
the documented newline-delimited events, errors the documented ``Status``. Exec runs the real
``kubernetes.stream.stream`` against a websocket on the same loopback server speaking
``v4.channel.k8s.io``, and, for the error cases, against a fake of the WSClient interface.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from k8s_apiserver import ApiServer, FakeWS, Reply, exit_frame, serving, to_json
from kubernetes import client as k8s

from harness.errors import CloudError, ConfigError, PhaseTimeout, UnreachableError
from harness.stacks.k8s_cockroach import kube as kube_mod
from harness.stacks.k8s_cockroach.kube import (
    APPLY_CONTENT_TYPE,
    ExecResult,
    Kube,
    exit_status,
    pod_ready,
    resource_path,
    statefulset_ready,
)

pytestmark = pytest.mark.k8s

NS = "crdb"
STS_PATH = "/apis/apps/v1/namespaces/crdb/statefulsets"


@pytest.fixture
def api() -> Iterator[ApiServer]:
    yield from serving()


@pytest.fixture
def kube(api: ApiServer, tmp_path: Path) -> Iterator[Kube]:
    k = Kube.from_kubeconfig(api.kubeconfig(tmp_path / "kubeconfig"), cloud="lab1", phase="deploy")
    yield k
    k.close()


def sts(name: str = "crdb-lab1-1", *, ready: int = 0, generation: int = 1, observed: int = 1,
        rv: str = "10") -> dict[str, Any]:
    return to_json(k8s.V1StatefulSet(
        api_version="apps/v1", kind="StatefulSet",
        metadata=k8s.V1ObjectMeta(name=name, namespace=NS, generation=generation, resource_version=rv),
        spec=k8s.V1StatefulSetSpec(replicas=1, service_name="crdb", selector=k8s.V1LabelSelector(match_labels={"app": name}),
                                   template=k8s.V1PodTemplateSpec()),
        status=k8s.V1StatefulSetStatus(replicas=1, ready_replicas=ready, updated_replicas=1,
                                       observed_generation=observed)))


def sts_list(*items: dict[str, Any], rv: str = "100") -> dict[str, Any]:
    body = to_json(k8s.V1StatefulSetList(metadata=k8s.V1ListMeta(resource_version=rv), items=[]))
    body["items"] = list(items)
    return body


def status(code: int, reason: str, message: str, causes: list[k8s.V1StatusCause] | None = None) -> dict[str, Any]:
    return to_json(k8s.V1Status(api_version="v1", kind="Status", status="Failure", code=code, reason=reason,
                                message=message, metadata=k8s.V1ListMeta(),
                                details=k8s.V1StatusDetails(causes=causes) if causes else None))


# ---- kubeconfig and clients

def test_one_client_per_cluster_and_the_global_configuration_untouched(api: ApiServer, tmp_path: Path) -> None:
    default_host = k8s.Configuration.get_default_copy().host
    other = ApiServer().start()
    try:
        a = Kube.from_kubeconfig(api.kubeconfig(tmp_path / "a", token="token-a"), cloud="a")
        b = Kube.from_kubeconfig(other.kubeconfig(tmp_path / "b", token="token-b"), cloud="b")
        api.on("GET", "/api/v1/namespaces/crdb", Reply(200, to_json(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name="crdb")))))
        other.on("GET", "/api/v1/namespaces/crdb", Reply(404, status(404, "NotFound", 'namespaces "crdb" not found')))
        assert a.get("Namespace", None, "crdb") is not None
        assert b.get("Namespace", None, "crdb") is None
        assert api.requests[0].headers["authorization"] == "Bearer token-a"
        assert other.requests[0].headers["authorization"] == "Bearer token-b"
        assert k8s.Configuration.get_default_copy().host == default_host  # no global loader ran
    finally:
        other.stop()


def test_a_broken_kubeconfig_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "kc").write_text("clusters: []\n")
    with pytest.raises(ConfigError, match="kubeconfig"):
        Kube.from_kubeconfig(tmp_path / "kc", cloud="lab1")


# ---- apply

def test_apply_is_a_server_side_apply_patch_per_object(api: ApiServer, kube: Kube) -> None:
    namespace = to_json(k8s.V1Namespace(api_version="v1", kind="Namespace", metadata=k8s.V1ObjectMeta(name=NS)))
    secret = to_json(k8s.V1Secret(api_version="v1", kind="Secret", metadata=k8s.V1ObjectMeta(name="certs", namespace=NS),
                                  data={"ca.crt": "Q0E="}))
    statefulset = sts()
    api.on("PATCH", "/api/v1/namespaces/crdb", lambda r: Reply(200, r.body))
    api.on("PATCH", "/api/v1/namespaces/crdb/secrets/certs", lambda r: Reply(201, r.body))
    api.on("PATCH", f"{STS_PATH}/crdb-lab1-1", lambda r: Reply(200, r.body))
    stored = kube.apply([namespace, secret, statefulset])
    assert [o["kind"] for o in stored] == ["Namespace", "Secret", "StatefulSet"]
    assert [(r.method, r.path) for r in api.requests] == [
        ("PATCH", "/api/v1/namespaces/crdb"), ("PATCH", "/api/v1/namespaces/crdb/secrets/certs"),
        ("PATCH", f"{STS_PATH}/crdb-lab1-1")]
    for request in api.requests:
        assert request.headers["content-type"] == APPLY_CONTENT_TYPE
        assert request.query == {"fieldManager": ["interop-harness"], "force": ["true"]}
    assert api.requests[2].body == statefulset


def test_apply_paths_for_every_kind_we_deploy() -> None:
    assert resource_path("v1", "Service", NS, "crdb") == "/api/v1/namespaces/crdb/services/crdb"
    assert resource_path("v1", "Pod", NS, "p") == "/api/v1/namespaces/crdb/pods/p"
    assert resource_path("batch/v1", "Job", NS, "init") == "/apis/batch/v1/namespaces/crdb/jobs/init"
    with pytest.raises(ConfigError, match="needs a namespace"):
        resource_path("v1", "Secret", None, "s")
    with pytest.raises(ConfigError, match="not one this client knows"):
        resource_path("example.com/v1", "Widget", NS, "w")


def test_a_409_conflict_names_the_object_the_field_manager_and_the_fields(api: ApiServer, kube: Kube) -> None:
    message = 'Apply failed with 1 conflict: conflict with "kubectl-edit" using apps/v1: .spec.replicas'
    api.on("PATCH", f"{STS_PATH}/crdb-lab1-1", Reply(409, status(409, "Conflict", message, [
        k8s.V1StatusCause(reason="FieldManagerConflict", message='conflict with "kubectl-edit" using apps/v1',
                          field=".spec.replicas")])))
    with pytest.raises(CloudError) as err:
        kube.apply([sts()], force=False)
    text = str(err.value)
    assert text.startswith("cloud lab1, phase deploy: server-side apply of StatefulSet crdb/crdb-lab1-1 "
                           "as field manager 'interop-harness' conflicts:")
    assert '"kubectl-edit"' in text and ".spec.replicas" in text
    assert api.requests[0].query["force"] == ["false"]


def test_an_unreachable_api_server_is_an_unreachable_error(tmp_path: Path) -> None:
    dead = ApiServer().start()
    path = dead.kubeconfig(tmp_path / "kc")
    dead.stop()  # nothing listens on that port any more
    k = Kube.from_kubeconfig(path, cloud="lab2", phase="deploy")
    k.api.configuration.retries = 0
    k.api.rest_client = k8s.rest.RESTClientObject(k.api.configuration)
    with pytest.raises(UnreachableError, match="cloud lab2, phase deploy: Kubernetes API http://127.0.0.1"):
        k.list_objects("StatefulSet", NS)


# ---- list and watch

def test_list_gives_items_with_their_kind_and_the_resource_version(api: ApiServer, kube: Kube) -> None:
    api.on("GET", STS_PATH, Reply(200, sts_list(sts("a"), sts("b"), rv="123")))
    items, rv = kube.list_objects("StatefulSet", NS, label_selector="app=crdb")
    assert [i["metadata"]["name"] for i in items] == ["a", "b"] and rv == "123"
    assert all(i["kind"] == "StatefulSet" for i in items)
    assert api.requests[0].query == {"labelSelector": ["app=crdb"]}


def test_watch_reaches_ready(api: ApiServer, kube: Kube) -> None:
    def answer(request: Any) -> Reply:
        if "watch" not in request.query:
            return Reply(200, sts_list(sts(ready=0), rv="100"))
        return Reply(200, events=[(0.0, {"type": "MODIFIED", "object": sts(ready=0, rv="101")}),
                                  (0.05, {"type": "BOOKMARK", "object": {"kind": "StatefulSet", "apiVersion": "apps/v1",
                                                                         "metadata": {"resourceVersion": "102"}}}),
                                  (0.05, {"type": "MODIFIED", "object": sts(ready=1, rv="103")})])
    api.on("GET", STS_PATH, answer)
    obj = kube.wait_for("StatefulSet", NS, "crdb-lab1-1", statefulset_ready, timeout=10, what="crdb-lab1-1 ready")
    assert obj is not None and obj["status"]["readyReplicas"] == 1
    listed, watched = api.requests
    assert listed.query == {"fieldSelector": ["metadata.name=crdb-lab1-1"]}
    assert watched.query["watch"] == ["true"] and watched.query["resourceVersion"] == ["100"]
    assert watched.query["fieldSelector"] == ["metadata.name=crdb-lab1-1"]
    assert 1 <= int(watched.query["timeoutSeconds"][0]) <= 10


def test_a_410_error_event_relists_then_watches_from_the_new_version(api: ApiServer, kube: Kube) -> None:
    gone = status(410, "Expired", "too old resource version: 100 (250)")
    calls = {"list": 0}

    def answer(request: Any) -> Reply:
        if "watch" not in request.query:
            calls["list"] += 1
            return Reply(200, sts_list(sts(ready=0), rv="100" if calls["list"] == 1 else "250"))
        if request.query["resourceVersion"] == ["100"]:
            return Reply(200, events=[(0.0, {"type": "ERROR", "object": gone})])
        return Reply(200, events=[(0.0, {"type": "MODIFIED", "object": sts(ready=1, rv="251")})])
    api.on("GET", STS_PATH, answer)
    kube.wait_for("StatefulSet", NS, "crdb-lab1-1", statefulset_ready, timeout=10, what="crdb-lab1-1 ready")
    assert [(("watch" in r.query), r.query.get("resourceVersion")) for r in api.requests] == [
        (False, None), (True, ["100"]), (False, None), (True, ["250"])]


def test_a_410_http_answer_to_the_watch_relists_too(api: ApiServer, kube: Kube) -> None:
    gone = status(410, "Gone", "too old resource version")
    lists = iter(["100", "300"])

    def answer(request: Any) -> Reply:
        if "watch" not in request.query:
            return Reply(200, sts_list(sts(ready=0), rv=next(lists)))
        if request.query["resourceVersion"] == ["100"]:
            return Reply(410, gone)
        return Reply(200, events=[(0.0, {"type": "ADDED", "object": sts(ready=1, rv="301")})])
    api.on("GET", STS_PATH, answer)
    kube.wait_for("StatefulSet", NS, "crdb-lab1-1", statefulset_ready, timeout=10, what="crdb-lab1-1 ready")
    assert [r.query.get("resourceVersion") for r in api.requests] == [None, ["100"], None, ["300"]]


def test_a_watch_that_never_gets_ready_times_out_naming_what_and_how_it_looked(api: ApiServer, kube: Kube) -> None:
    def answer(request: Any) -> Reply:
        if "watch" not in request.query:
            return Reply(200, sts_list(sts(ready=0), rv="100"))
        # the server holds the watch open past the client's deadline and sends nothing
        return Reply(200, events=[(0.0, {"type": "MODIFIED", "object": sts(ready=0, rv="101")})], hold=5.0)
    api.on("GET", STS_PATH, answer)
    with pytest.raises(PhaseTimeout) as err:
        kube.wait_for("StatefulSet", NS, "crdb-lab1-1", statefulset_ready, timeout=1.5,
                      what="StatefulSet crdb/crdb-lab1-1 to be ready")
    text = str(err.value)
    assert text.startswith("cloud lab1, phase deploy: timed out after")
    assert "waiting for StatefulSet crdb/crdb-lab1-1 to be ready" in text
    assert "ready 0/1" in text


def test_a_deleted_event_counts_as_absent(api: ApiServer, kube: Kube) -> None:
    pod = to_json(k8s.V1Pod(api_version="v1", kind="Pod", metadata=k8s.V1ObjectMeta(name="p", namespace=NS, uid="u1",
                                                                                    resource_version="5")))
    listed = to_json(k8s.V1PodList(metadata=k8s.V1ListMeta(resource_version="5"), items=[]))
    listed["items"] = [pod]
    api.on("GET", "/api/v1/namespaces/crdb/pods", lambda r: Reply(200, listed) if "watch" not in r.query else
           Reply(200, events=[(0.0, {"type": "DELETED", "object": pod})]))
    assert kube.wait_for("Pod", NS, "p", lambda obj: obj is None, timeout=5, what="pod p gone") is None


def test_delete_with_grace_zero(api: ApiServer, kube: Kube) -> None:
    api.on("DELETE", "/api/v1/namespaces/crdb/pods/p", [Reply(200, status(200, "", "")),
                                                         Reply(404, status(404, "NotFound", 'pods "p" not found'))])
    assert kube.delete("Pod", NS, "p", grace_period_seconds=0) is True
    assert kube.delete("Pod", NS, "p", grace_period_seconds=0) is False
    assert api.requests[0].query == {"gracePeriodSeconds": ["0"]}


def test_readiness_predicates() -> None:
    assert not statefulset_ready(sts(ready=1, generation=3, observed=2))  # the controller has not seen it yet
    assert statefulset_ready(sts(ready=1, generation=3, observed=3))
    running = to_json(k8s.V1Pod(metadata=k8s.V1ObjectMeta(name="p"), status=k8s.V1PodStatus(
        phase="Running", conditions=[k8s.V1PodCondition(type="Ready", status="True")])))
    assert pod_ready(running) and not pod_ready(None)
    running["status"]["conditions"][0]["status"] = "False"
    assert not pod_ready(running)


# ---- exec

def test_exec_over_a_real_websocket(api: ApiServer, kube: Kube) -> None:
    api.on("GET", "/api/v1/namespaces/crdb/pods/crdb-lab1-1-0/exec",
           Reply(frames=[(1, b"Cluster successfully initialized\n"), (2, b"warning\n"), (3, exit_frame(0))]))
    before = kube.api.call_api
    result = kube.exec(NS, "crdb-lab1-1-0", ["/cockroach/cockroach", "init", "--host=10.0.0.1:26257"], timeout=10)
    assert result == ExecResult("Cluster successfully initialized\n", "warning\n", 0,
                                {"metadata": {}, "status": "Success"})
    request = api.requests[0]
    assert request.query["command"] == ["/cockroach/cockroach", "init", "--host=10.0.0.1:26257"]
    assert request.query["stdout"] == ["true"] and request.query["stdin"] == ["false"]
    assert request.headers["authorization"] == "Bearer secret-token"
    assert kube.api.call_api == before  # the cluster's own client was never patched


def test_exec_non_zero_exit(api: ApiServer, kube: Kube) -> None:
    api.on("GET", "/api/v1/namespaces/crdb/pods/p/exec",
           Reply(frames=[(2, b"ERROR: cluster has already been initialized\n"), (3, exit_frame(1))]))
    result = kube.exec(NS, "p", ["sh", "-c", "exit 1"], timeout=10)
    assert result.exit_code == 1 and not result.ok and "already been initialized" in result.output()


def test_exit_status_shapes() -> None:
    assert exit_status(exit_frame(0).decode())[0] == 0
    assert exit_status(exit_frame(137).decode())[0] == 137
    code, st = exit_status('{"status":"Failure","message":"exec: \\"nope\\": executable file not found",'
                           '"reason":"InternalError"}')
    assert code is None and "executable file not found" in st["message"]
    assert exit_status("") == (None, {})


def test_exec_that_does_not_end_times_out_and_closes(api: ApiServer, tmp_path: Path) -> None:
    ws = FakeWS({}, stays_open=True)
    k = Kube.from_kubeconfig(api.kubeconfig(tmp_path / "kc"), cloud="lab1", phase="survive",
                             stream_fn=lambda *a, **kw: ws)
    with pytest.raises(PhaseTimeout, match="cloud lab1, phase survive: timed out after 1s waiting for "
                                           "'sleep 100' in pod crdb/p"):
        k.exec(NS, "p", ["sleep", "100"], timeout=1)
    assert ws.closed


def test_exec_gets_its_own_api_client_each_call(api: ApiServer, tmp_path: Path) -> None:
    seen: list[Any] = []

    def fake(method: Any, *args: Any, **kwargs: Any) -> FakeWS:
        seen.append(method.__self__.api_client)
        return FakeWS({3: exit_frame(0).decode()})
    k = Kube.from_kubeconfig(api.kubeconfig(tmp_path / "kc"), stream_fn=fake)
    k.exec(NS, "p", ["true"])
    k.exec(NS, "p", ["true"])
    assert len({id(c) for c in seen}) == 2 and all(c is not k.api for c in seen)
    assert all(c.configuration is k.api.configuration for c in seen)


def test_module_imports_no_global_loader() -> None:
    source = Path(kube_mod.__file__).read_text()
    assert "load_kube_config(" not in source and "load_incluster_config" not in source
