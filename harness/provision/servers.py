"""N servers per cloud, booted concurrently, every one in the ledger before it is waited for.

The create requests go out from a few threads at once (Nova answers each at once with an id
and boots in the background, so the boots overlap); every id is in the ledger as soon as Nova
answers. Then one listing per poll (``GET /servers/detail?name=^<prefix>server-``) watches all
of them: a server that goes ERROR is deleted and its fault message is the phase's reason, and
a boot that outlasts the timeout is a :class:`~harness.errors.PhaseTimeout` naming each
server's status. Floating IPs are never taken from the project's free ones (``reuse_ips=False``
in shade's terms): :mod:`.floating_ips` creates and tracks its own.

>>> infos = boot_servers(ctx, count=2, image_id=img, flavor_id=fl, network_id=net,       # doctest: +SKIP
...                      security_group_id=sg, key_name=key, timeout=600)
>>> [(s.name, s.status) for s in infos]                                                  # doctest: +SKIP
[('interop-...-lab1-server-0', 'ACTIVE'), ('interop-...-lab1-server-1', 'ACTIVE')]
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import CloudError, HarnessError
from ..waiting import wait_for
from .context import Context
from .retry import growing_sleep

MAX_PARALLEL_CREATES = 8
POLL_CAP = 5.0


@dataclass
class ServerInfo:
    name: str
    id: str
    status: str = "BUILD"
    fixed_ips: list[str] = field(default_factory=list)
    fault: str | None = None

    def as_details(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, [])}


class NotYet(Exception):
    """Some servers are still building; the message says which and how."""


def fixed_ips(server: Any) -> list[str]:
    out = []
    for addrs in (getattr(server, "addresses", None) or {}).values():
        for addr in addrs:
            if addr.get("OS-EXT-IPS:type", "fixed") == "fixed" and addr.get("version", 4) == 4:
                out.append(str(addr["addr"]))
    return out


def fault_of(server: Any) -> str:
    fault = getattr(server, "fault", None) or {}
    message = fault.get("message") if isinstance(fault, dict) else str(fault)
    return str(message or "no fault message")


def boot_servers(ctx: Context, *, count: int, image_id: str, flavor_id: str, network_id: str,
                 security_group_id: str, key_name: str, timeout: float, user_data: str | None = None,
                 poll_cap: float = POLL_CAP) -> list[ServerInfo]:
    """Create ``count`` servers and wait until all are ACTIVE; ERROR -> deleted, fault reported."""
    names = [ctx.names.of("server", i) for i in range(count)]
    for name in names:
        ctx.intend("server", name)
    attrs: dict[str, Any] = {
        "image_id": image_id, "flavor_id": flavor_id, "networks": [{"uuid": network_id}],
        "security_groups": [{"name": security_group_id}], "key_name": key_name,
        "metadata": {"interop_run": ctx.names.run_id, "interop_cloud": ctx.cloud},
    }
    if user_data is not None:
        attrs["user_data"] = user_data

    def create(name: str) -> ServerInfo:
        server = ctx.call(ctx.conn.compute.create_server, name=name, **attrs, doing=f"creating server {name}")
        ctx.created("server", name, server.id)
        return ServerInfo(name=name, id=server.id)

    infos: list[ServerInfo] = []
    errors: list[HarnessError] = []
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_CREATES, count)) as pool:
        for future in [pool.submit(create, n) for n in names]:
            try:
                infos.append(future.result())
            except HarnessError as exc:
                errors.append(exc)
    if errors:
        # created ones are in the ledger: teardown removes them. Quota first: it is the reason.
        errors.sort(key=lambda e: "quota" not in e.message)
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise CloudError(f"{errors[0].message}{more}", cloud=ctx.cloud, phase=ctx.phase) from errors[0]
    return wait_active(ctx, infos, timeout=timeout, poll_cap=poll_cap)


def wait_active(ctx: Context, infos: list[ServerInfo], *, timeout: float,
                poll_cap: float = POLL_CAP) -> list[ServerInfo]:
    by_id = {s.id: s for s in infos}
    prefix = ctx.names.of("server")

    def check() -> list[ServerInfo]:
        seen = {s.id: s for s in ctx.list(ctx.conn.compute.servers, details=True, name=f"^{prefix}",
                                          doing="listing the run's servers")}
        failed = []
        for sid, info in by_id.items():
            server = seen.get(sid)
            if server is None:
                info.status = "MISSING"
                continue
            info.status = server.status
            info.fixed_ips = fixed_ips(server)
            if server.status == "ERROR":
                info.fault = fault_of(server)
                failed.append(info)
        if failed:
            for info in failed:  # the ledger keeps them until teardown sees them gone
                ctx.call(ctx.conn.compute.delete_server, info.id, ignore_missing=True,
                         doing=f"deleting failed server {info.name}")
            faults = "; ".join(f"{i.name} went ERROR: {i.fault}" for i in failed)
            raise CloudError(f"{faults} (deleted)", cloud=ctx.cloud, phase=ctx.phase)
        missing = [i for i in infos if i.status == "MISSING"]
        if missing:
            raise CloudError(f"{', '.join(i.name for i in missing)} vanished while booting",
                             cloud=ctx.cloud, phase=ctx.phase)
        waiting = [i for i in infos if i.status != "ACTIVE"]
        if waiting:
            raise NotYet(", ".join(f"{i.name} {i.status}" for i in waiting))
        return infos

    wait_for(check, timeout=timeout, what=f"{len(infos)} servers to become ACTIVE", interval=poll_cap,
             cloud=ctx.cloud, phase=ctx.phase, retry_on=(NotYet,), sleep=growing_sleep())
    return infos
