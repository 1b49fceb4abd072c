from typing import Any

import pytest

from harness.errors import CloudError
from harness.provision.discovery import external_network, propose, resolve_flavor, resolve_image
from harness.stacks import load_stack

PATRONI, COCKROACH = load_stack("hosts-patroni"), load_stack("k8s-cockroach")

IMAGES = {"images": [
    {"id": "i1", "name": "ubuntu-24.04", "status": "active", "created_at": "2026-01-01T00:00:00Z"},
    {"id": "i2", "name": "debian-12-old", "status": "active", "created_at": "2025-01-01T00:00:00Z"},
    {"id": "i3", "name": "debian-12", "status": "active", "created_at": "2026-02-01T00:00:00Z", "min_ram": 1024},
    {"id": "i4", "name": "debian-13-beta", "status": "queued", "created_at": "2026-03-01T00:00:00Z"},
    {"id": "i5", "name": "cirros", "status": "active", "os_distro": "cirros"},
]}
FLAVORS = {"flavors": [
    {"id": "f1", "name": "tiny", "ram": 256, "vcpus": 1, "disk": 1},
    {"id": "f2", "name": "small", "ram": 512, "vcpus": 1, "disk": 5},
    {"id": "f3", "name": "medium", "ram": 1024, "vcpus": 1, "disk": 10},
    {"id": "f4", "name": "large", "ram": 8192, "vcpus": 4, "disk": 40},
]}


def test_discovers_newest_image_of_the_preferred_os(fake_cloud: Any, ctx: Any) -> None:
    fake_cloud.on("GET", "glance", "/images", IMAGES)
    choice = resolve_image(ctx, None, PATRONI)
    assert (choice.name, choice.how, choice.min_ram_mb) == ("debian-12", "discovered", 1024)
    assert "debian" in choice.note


def test_configured_image_missing_lists_what_is_there(fake_cloud: Any, ctx: Any) -> None:
    fake_cloud.on("GET", "glance", "/images/debian-11", status_code=404)
    fake_cloud.on("GET", "glance", "/images?name=debian-11", {"images": []})
    fake_cloud.on("GET", "glance", "/images?os_hidden=False&name=debian-11", {"images": []})
    fake_cloud.on("GET", "glance", "/images", IMAGES)
    with pytest.raises(CloudError, match=r"image 'debian-11' not found on this cloud \(images here: cirros, debian-12"):
        resolve_image(ctx, "debian-11", PATRONI)


def test_smallest_flavor_meeting_stack_and_image_minimums(fake_cloud: Any, ctx: Any) -> None:
    fake_cloud.on("GET", "glance", "/images", IMAGES)
    fake_cloud.on("GET", "nova", "/flavors/detail", FLAVORS)
    image = resolve_image(ctx, None, PATRONI)
    assert resolve_flavor(ctx, None, PATRONI).name == "small"
    assert resolve_flavor(ctx, None, PATRONI, image).name == "medium"  # debian-12 wants 1024 MB
    assert resolve_flavor(ctx, None, COCKROACH).name == "large"


def test_no_flavor_big_enough_is_a_clear_error(fake_cloud: Any, ctx: Any) -> None:
    fake_cloud.on("GET", "nova", "/flavors/detail", {"flavors": FLAVORS["flavors"][:2]})
    with pytest.raises(CloudError, match="no flavor has at least 4096 MB RAM, 2 vCPU and 20 GB disk"):
        resolve_flavor(ctx, None, COCKROACH)


def test_external_network_prefers_public_and_checks_pool(fake_cloud: Any, ctx: Any) -> None:
    nets = {"networks": [{"id": "e2", "name": "ext-b", "router:external": True},
                         {"id": "e1", "name": "public", "router:external": True}]}
    fake_cloud.on("GET", "neutron", "/networks?router%3Aexternal=True", nets)
    chosen = external_network(ctx)
    assert (chosen.id, chosen.how) == ("e1", "discovered") and "first of 2" in chosen.note
    assert external_network(ctx, "ext-b").id == "e2"
    with pytest.raises(CloudError, match="floating IP pool 'nope' is not an external network here"):
        external_network(ctx, "nope")


def test_propose_reports_what_it_could_not_find(fake_cloud: Any, ctx: Any) -> None:
    fake_cloud.on("GET", "glance", "/images", {"images": [IMAGES["images"][4]]})
    fake_cloud.on("GET", "nova", "/flavors/detail", FLAVORS)
    fake_cloud.on("GET", "neutron", "/networks?router%3Aexternal=True", {"networks": []})
    proposal = propose(ctx, PATRONI)
    assert proposal["settings"] == {"image": None, "flavor": "small", "floating_ip": "none"}
    assert "no active image matches debian/ubuntu" in proposal["notes"]["image"]
