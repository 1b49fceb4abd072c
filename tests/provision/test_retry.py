from typing import Any

import pytest
from keystoneauth1 import exceptions as ks

from harness.errors import AuthError, CloudError, UnreachableError
from harness.provision.retry import RetryPolicy, call, classify, growing_sleep


def test_transient_5xx_is_retried_with_backoff_then_succeeds(fake_cloud: Any) -> None:
    fake_cloud.on("GET", "neutron", "/networks", {"status_code": 503, "json": {}}, {"status_code": 502, "json": {}},
                  {"networks": [{"id": "n1", "name": "a"}]})
    slept: list[float] = []
    policy = RetryPolicy(sleep=slept.append)
    nets = call(lambda: list(fake_cloud.conn.network.networks()), doing="listing", cloud="c", phase="p", policy=policy)
    assert [n.id for n in nets] == ["n1"]
    assert slept == [0.5, 1.0] and len(policy.retries) == 2
    assert fake_cloud.calls() == ["GET neutron/networks"] * 3


def test_retries_are_bounded(fake_cloud: Any) -> None:
    fake_cloud.on("GET", "neutron", "/networks", status_code=500, json={"NeutronError": {"message": "boom"}})
    with pytest.raises(CloudError, match="HTTP 500.*boom"):
        call(lambda: list(fake_cloud.conn.network.networks()), doing="listing networks", cloud="c", phase="p",
             policy=RetryPolicy(attempts=3, sleep=lambda s: None))
    assert len(fake_cloud.calls()) == 3


def test_nova_quota_is_not_retried_and_says_quota(fake_cloud: Any) -> None:
    fake_cloud.on("POST", "nova", "/servers", status_code=403, json={"forbidden": {
        "code": 403, "message": "Quota exceeded for instances: Requested 1, but already used 1 of 1 instances"}})
    with pytest.raises(CloudError) as err:
        call(fake_cloud.conn.compute.create_server, name="s", image_id="i", flavor_id="f", networks=[],
             doing="creating server s", cloud="lab2", phase="servers")
    assert "quota" in err.value.message and "1 of 1 instances" in err.value.message
    assert (err.value.cloud, err.value.phase) == ("lab2", "servers")
    assert fake_cloud.calls() == ["POST nova/servers"]


def test_neutron_overquota_409_says_quota(fake_cloud: Any) -> None:
    fake_cloud.on("POST", "neutron", "/floatingips", status_code=409, json={"NeutronError": {
        "type": "OverQuota", "message": "Quota exceeded for resources: ['floatingip'].", "detail": ""}})
    with pytest.raises(CloudError, match="quota exceeded while creating a floating IP"):
        call(fake_cloud.conn.network.create_ip, floating_network_id="x", doing="creating a floating IP",
             cloud="c", phase="floating-ips")
    assert len(fake_cloud.calls()) == 1


def test_auth_expiry_maps_to_auth_error(fake_cloud: Any) -> None:
    fake_cloud.on("GET", "neutron", "/networks", status_code=401, json={"error": {"message": "expired"}})
    with pytest.raises(AuthError, match="401"):
        call(lambda: list(fake_cloud.conn.network.networks()), doing="listing", cloud="c", phase="p")
    assert len(fake_cloud.calls()) == 1


def test_connection_failures_retried_then_unreachable() -> None:
    attempts = []

    def refuse() -> None:
        attempts.append(1)
        raise ks.ConnectFailure("connection refused")

    with pytest.raises(UnreachableError, match="unreachable while listing"):
        call(refuse, doing="listing", cloud="c", phase="p", policy=RetryPolicy(sleep=lambda s: None))
    assert len(attempts) == 4


def test_classify() -> None:
    assert classify(ks.ConnectTimeout()) == "transient"
    assert classify(ValueError("x")) == "other"


def test_growing_sleep_grows_and_respects_the_cap() -> None:
    slept: list[float] = []
    sleep = growing_sleep(0.5, 2.0, sleep=slept.append)
    for most in (5, 5, 5, 1.5):
        sleep(most)
    assert slept == [0.5, 1.0, 2.0, 1.5]
