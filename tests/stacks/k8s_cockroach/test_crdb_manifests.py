"""Every rendered manifest is valid, strict, against Kubernetes >= 1.30 schemas, and starts
CockroachDB secure, advertising the right addresses with the one join list."""

from __future__ import annotations

import copy
import json
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate import utils as kv_utils
from packaging.version import Version

from harness.errors import HarnessError
from harness.stacks.k8s_cockroach import manifests, pins
from harness.stacks.k8s_cockroach.manifests import (
    init_command,
    init_node,
    manifests_for_cloud,
    objects_for_cloud,
    pod_name,
    render_all,
    start_args,
)
from harness.stacks.k8s_cockroach.pki import Pki, node_secret_name
from harness.stacks.k8s_cockroach.plan import CrdbNode, CrdbPlan

pytestmark = pytest.mark.k8s

# every schema kubernetes-validate ships from the oldest Kubernetes the stack supports on
# (all_versions lists each twice: the plain and the strict schema directories)
VERSIONS = sorted({v for v in kv_utils.all_versions() if Version(v) >= Version(pins.MIN_KUBERNETES)}, key=Version)


def flags(args: list[str]) -> dict[str, str]:
    """``--name=value`` arguments as a mapping; a flag given twice fails the test."""
    out: dict[str, str] = {}
    for arg in args[1:]:
        name, _, value = arg.partition("=")
        assert name not in out, f"{name} given twice"
        out[name] = value
    return out


def statefulsets(plan: CrdbPlan) -> dict[str, dict[str, Any]]:
    """Every cloud's StatefulSets, by the node name in their annotation."""
    out = {}
    for cloud in plan.clouds:
        for obj in manifests_for_cloud(plan, cloud):
            if obj["kind"] == "StatefulSet":
                out[obj["metadata"]["annotations"]["interop-harness/node"]] = obj
    return out


def container(sts: dict[str, Any]) -> dict[str, Any]:
    (only,) = sts["spec"]["template"]["spec"]["containers"]
    return only


def test_the_schemas_cover_1_30_and_need_no_network() -> None:
    assert VERSIONS[0] == "1.30.0" and len(VERSIONS) == len(set(VERSIONS)) >= 2
    # the bundled schema directories are what validate() reads; nothing is fetched
    assert kv_utils.latest_version() == VERSIONS[-1]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("cloud", ["lab1", "lab2", "lab3"])
def test_every_object_of_every_cloud_is_valid_strict(plan: CrdbPlan, pki: Pki, cloud: str, version: str) -> None:
    objects = objects_for_cloud(plan, pki, cloud)
    kinds = [o["kind"] for o in objects]
    assert kinds == ["Namespace", *["Secret"] * (len(plan.of_cloud(cloud)) + 1), "Service",
                     *["StatefulSet"] * len(plan.of_cloud(cloud))]
    for obj in objects:
        assert kubernetes_validate.validate(obj, version, strict=True) == version.rsplit(".", 1)[0]


@pytest.mark.parametrize("version", [VERSIONS[0], VERSIONS[-1]])
def test_the_rendered_files_are_what_was_validated(plan: CrdbPlan, pki: Pki, version: str) -> None:
    files = render_all(plan, pki)
    for cloud in plan.clouds:
        docs = list(yaml.safe_load_all(files[f"{cloud}/cockroach/manifests.yaml"]))
        assert docs == manifests_for_cloud(plan, cloud)
        for doc in docs:
            kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.parametrize(("path", "value"), [
    (("spec", "template", "spec", "hostNetwrk"), True),          # a misspelt field
    (("spec", "replicas"), "one"),                               # a wrong type
    (("spec", "template", "spec", "containers", 0, "resources", "limit"), {"cpu": "1"}),
])
def test_strict_validation_catches_a_broken_statefulset(plan: CrdbPlan, path: tuple[Any, ...], value: Any) -> None:
    broken = copy.deepcopy(statefulsets(plan)["ih-ab12-lab1-1"])
    target = broken
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSIONS[0], strict=True)


def test_no_insecure_anywhere(plan: CrdbPlan, pki: Pki) -> None:
    texts = list(render_all(plan, pki).values())
    texts += [json.dumps(o) for c in plan.clouds for o in objects_for_cloud(plan, pki, c)]
    texts.append(json.dumps(init_command(plan)))
    assert not [t for t in texts if "insecure" in t.lower()]
    for sts in statefulsets(plan).values():
        assert "--certs-dir" in flags(container(sts)["args"])


@pytest.mark.parametrize("name", ["ih-ab12-lab1-1", "ih-ab12-lab2-2", "ih-ab12-lab3-1"])
def test_a_node_advertises_its_public_address_and_its_private_one_to_its_cloud(plan: CrdbPlan, name: str) -> None:
    node = plan.node(name)
    args = container(statefulsets(plan)[name])["args"]
    assert args[0] == "start"
    f = flags(args)
    assert f["--advertise-addr"] == f"{node.public_ip}:26257"
    assert f["--locality-advertise-addr"] == f"cloud={node.cloud}@{node.private_ip}:26257"
    assert f["--locality"] == f"cloud={node.cloud},region={node.region},zone={node.zone}"
    assert f["--cluster-name"] == plan.cluster_name
    assert f["--listen-addr"] == ":26257"


def test_lab3_names_its_own_region_and_lab2_its_own_zone(plan: CrdbPlan) -> None:
    sts = statefulsets(plan)
    assert flags(container(sts["ih-ab12-lab3-1"])["args"])["--locality"] == "cloud=lab3,region=eu-west,zone=nova"
    assert flags(container(sts["ih-ab12-lab2-2"])["args"])["--locality"] == "cloud=lab2,region=lab2,zone=az-2"


def test_every_node_of_every_cloud_starts_with_the_same_join_list(plan: CrdbPlan) -> None:
    joins = {name: flags(container(s)["args"])["--join"] for name, s in statefulsets(plan).items()}
    assert sorted(joins) == sorted(n.name for n in plan.nodes)
    assert set(joins.values()) == {",".join(plan.join)}


def test_the_join_artifact_is_the_flag_and_names_its_clouds(plan: CrdbPlan, pki: Pki) -> None:
    files = render_all(plan, pki)
    joins = [json.loads(files[f"{c}/cockroach/join.json"]) for c in plan.clouds]
    assert all(j == joins[0] for j in joins)
    assert joins[0]["join"] == list(plan.join) and joins[0]["clouds"] == ["lab1", "lab2", "lab3"]


@pytest.mark.parametrize("name", ["ih-ab12-lab1-2", "ih-ab12-lab2-2"])
def test_a_pod_is_pinned_to_its_server_on_the_host_network(plan: CrdbPlan, name: str) -> None:
    node = plan.node(name)
    sts = statefulsets(plan)[name]
    spec = sts["spec"]["template"]["spec"]
    assert sts["spec"]["replicas"] == 1
    assert spec["nodeSelector"] == {"kubernetes.io/hostname": node.hostname}
    assert spec["hostNetwork"] is True and spec["dnsPolicy"] == "ClusterFirstWithHostNet"
    assert spec["terminationGracePeriodSeconds"] >= 60
    assert sts["metadata"]["name"] == node.k8s_name and pod_name(node) == f"{node.k8s_name}-0"
    selector = sts["spec"]["selector"]["matchLabels"]
    assert selector.items() <= sts["spec"]["template"]["metadata"]["labels"].items()
    assert selector["app.kubernetes.io/instance"] == node.k8s_name  # one pod, not every node's


def test_the_certs_secret_is_mounted_0400_where_certs_dir_points(plan: CrdbPlan) -> None:
    for name, sts in statefulsets(plan).items():
        node: CrdbNode = plan.node(name)
        spec = sts["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in spec["volumes"]}
        mounts = {m["name"]: m for m in container(sts)["volumeMounts"]}
        assert volumes["certs"]["secret"] == {"secretName": node_secret_name(node), "defaultMode": 0o400}
        assert mounts["certs"]["mountPath"] == flags(container(sts)["args"])["--certs-dir"]
        assert mounts["certs"]["readOnly"] is True
        assert flags(container(sts)["args"])["--store"] == f"path={mounts['data']['mountPath']}"
        assert volumes["data"]["hostPath"]["path"].endswith(plan.cluster_name)


def test_resources_are_requested_and_limited_and_the_image_is_pinned(plan: CrdbPlan) -> None:
    for sts in statefulsets(plan).values():
        c = container(sts)
        assert c["resources"]["requests"] == c["resources"]["limits"] == {"cpu": "1", "memory": "2Gi"}
        assert c["image"] == pins.COCKROACH_IMAGE == plan.image
        tag = c["image"].rsplit(":", 1)[1]
        assert tag.startswith("v") and tag != "latest" and tag.count(".") == 2
        assert c["readinessProbe"]["httpGet"]["scheme"] == "HTTPS"


def test_a_cloud_gets_only_its_own_nodes(plan: CrdbPlan, pki: Pki) -> None:
    objects = objects_for_cloud(plan, pki, "lab2")
    names = {o["metadata"]["name"] for o in objects if o["kind"] == "StatefulSet"}
    assert names == {n.k8s_name for n in plan.of_cloud("lab2")}
    secrets = {o["metadata"]["name"] for o in objects if o["kind"] == "Secret"}
    assert secrets == {node_secret_name(n) for n in plan.of_cloud("lab2")} | {"cockroachdb-client-root"}
    assert {o["metadata"].get("namespace", plan.namespace) for o in objects} == {plan.namespace}


def test_init_runs_once_on_the_first_join_node_secure_and_named(plan: CrdbPlan, pki: Pki) -> None:
    first = init_node(plan)
    assert first.advertise_addr == plan.join[0]
    command = init_command(plan)
    assert command[:2] == ["/cockroach/cockroach", "init"]
    f = flags(command[1:])
    assert f == {"--certs-dir": manifests.CERTS_DIR, "--host": "localhost:26257",
                 "--cluster-name": plan.cluster_name}
    infos = [json.loads(t) for p, t in render_all(plan, pki).items() if p.endswith("/init.json")]
    assert len(infos) == 3 and [i["runs_here"] for i in infos].count(True) == 1
    assert {i["pod"] for i in infos} == {pod_name(first)}


def test_render_all_gives_four_files_per_cloud_and_certificates_of_that_cloud(plan: CrdbPlan, pki: Pki) -> None:
    files = render_all(plan, pki)
    assert sorted(files) == sorted(f"{c}/cockroach/{f}" for c in plan.clouds
                                   for f in ("manifests.yaml", "join.json", "certificates.json", "init.json"))
    certs = json.loads(files["lab1/cockroach/certificates.json"])
    assert sorted(certs["nodes"]) == ["ih-ab12-lab1-1", "ih-ab12-lab1-2"]


def test_render_all_refuses_to_give_out_key_material(plan: CrdbPlan, pki: Pki,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    leaked = (pki.ca_dir / "ca.key").read_text()
    monkeypatch.setattr(manifests, "metadata", lambda *a, **k: {"oops": leaked})
    with pytest.raises(HarnessError, match="key material"):
        render_all(plan, pki)


def test_start_args_never_depend_on_another_node(plan: CrdbPlan) -> None:
    # the same node renders the same arguments whichever cloud renders them
    node = plan.node("ih-ab12-lab2-1")
    assert start_args(plan, node) == start_args(CrdbPlan.from_dict(plan.as_dict()), node)
