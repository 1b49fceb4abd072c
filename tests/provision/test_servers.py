from typing import Any

import pytest

from harness.errors import CloudError, PhaseTimeout
from harness.provision.servers import boot_servers

ARGS = dict(count=2, image_id="img", flavor_id="fl", network_id="net", security_group_id="sg", key_name="key")


def _created(request: Any, context: Any) -> dict[str, Any]:
    name = request.json()["server"]["name"]
    return {"server": {"id": "id-" + name[-1], "name": name}}


def _server(ctx: Any, i: int, status: str, **extra: Any) -> dict[str, Any]:
    return {"id": f"id-{i}", "name": ctx.names.of("server", i), "status": status,
            "addresses": {"n": [{"addr": f"10.201.0.{10 + i}", "version": 4, "OS-EXT-IPS:type": "fixed"}]}, **extra}


def _listing(ctx: Any) -> str:
    return f"/servers/detail?name=%5E{ctx.names.of('server')}"


def test_boots_concurrently_records_ids_then_waits_with_one_listing_per_poll(fake_cloud: Any, ctx: Any) -> None:
    ledger_at_first_poll = []

    def poll(request: Any, context: Any) -> dict[str, Any]:
        if not ledger_at_first_poll:
            ledger_at_first_poll.extend((e.id, e.state) for e in ctx.ledger.entries("lab1"))
            return {"servers": [_server(ctx, 0, "BUILD"), _server(ctx, 1, "BUILD")]}
        return {"servers": [_server(ctx, 0, "ACTIVE"), _server(ctx, 1, "ACTIVE")]}

    fake_cloud.on("POST", "nova", "/servers", json=_created)
    fake_cloud.on("GET", "nova", _listing(ctx), json=poll)
    infos = boot_servers(ctx, **ARGS, timeout=30)
    assert [(s.name, s.status, s.fixed_ips) for s in infos] == [
        (ctx.names.of("server", 0), "ACTIVE", ["10.201.0.10"]), (ctx.names.of("server", 1), "ACTIVE", ["10.201.0.11"])]
    assert sorted(ledger_at_first_poll) == [("id-0", "created"), ("id-1", "created")]
    assert fake_cloud.calls().count("POST nova/servers") == 2
    assert fake_cloud.calls()[2:] == [f"GET nova{_listing(ctx)}"] * 2
    body = fake_cloud.bodies("POST", "/servers")[0]["server"]
    assert body["networks"] == [{"uuid": "net"}] and body["security_groups"] == [{"name": "sg"}]
    assert body["key_name"] == "key" and body["metadata"]["interop_run"] == ctx.names.run_id


def test_error_server_is_deleted_and_its_fault_reported(fake_cloud: Any, ctx: Any) -> None:
    fake_cloud.on("POST", "nova", "/servers", json=_created)
    fake_cloud.on("GET", "nova", _listing(ctx), {"servers": [
        _server(ctx, 0, "ACTIVE"),
        _server(ctx, 1, "ERROR", fault={"code": 500, "message": "No valid host was found. There are not enough hosts"}),
    ]})
    fake_cloud.on("DELETE", "nova", "/servers/id-1", status_code=204)
    with pytest.raises(CloudError, match=r"server-1 went ERROR: No valid host was found.*\(deleted\)"):
        boot_servers(ctx, **ARGS, timeout=30)
    assert "DELETE nova/servers/id-1" in fake_cloud.calls()
    assert "DELETE nova/servers/id-0" not in fake_cloud.calls()  # the healthy one waits for teardown


def test_boot_timeout_is_its_own_outcome_and_names_each_server(fake_cloud: Any, ctx: Any) -> None:
    fake_cloud.on("POST", "nova", "/servers", json=_created)
    fake_cloud.on("GET", "nova", _listing(ctx), {"servers": [_server(ctx, 0, "ACTIVE"), _server(ctx, 1, "BUILD")]})
    with pytest.raises(PhaseTimeout, match=r"waiting for 2 servers to become ACTIVE \(NotYet: .*server-1 BUILD\)"):
        boot_servers(ctx, **ARGS, timeout=0.2)


def test_quota_on_create_fails_at_once_with_quota_reason(fake_cloud: Any, ctx: Any) -> None:
    answers = [{"json": {"server": {"id": "id-0", "name": "x"}}, "status_code": 202},
               {"json": {"forbidden": {"code": 403, "message": "Quota exceeded for instances: Requested 1, but "
                                                              "already used 1 of 1 instances"}}, "status_code": 403}]
    fake_cloud.on("POST", "nova", "/servers", *answers)
    with pytest.raises(CloudError) as err:
        boot_servers(ctx, **ARGS, timeout=30)
    assert "quota exceeded while creating server" in err.value.message
    assert fake_cloud.calls().count("POST nova/servers") == 2  # not retried
    assert not any(c.startswith("GET") for c in fake_cloud.calls())
    states = sorted(e.state for e in ctx.ledger.entries("lab1"))
    assert states == ["created", "requested"]  # teardown deletes the one that was made
