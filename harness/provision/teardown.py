"""Leak-proof teardown: delete what the ledger lists in dependency order, sweep, verify.

Order (:data:`~harness.provision.ledger.KINDS`): floating IPs (released; preallocated ones only
disassociated), servers (and wait until they are gone: their ports go with them), extra ports,
router interfaces, routers (their gateway goes with them), subnets, networks, security groups,
keypair. A resource already gone counts as deleted; an error on one resource does not stop
the others. Then a sweep lists the cloud by the run's name prefix (six listings) and deletes
whatever is still there, e.g. a create retried after a lost answer. A name the ledger has
without an id (the run was killed between request and answer) makes the sweep run first too.
What the final listing still finds is ``left``, and a teardown with anything left fails.

>>> result = teardown(ctx, ledger.entries("lab1", live=True), prefix=names.prefix, timeout=300)  # doctest: +SKIP
>>> result.left                                                                                  # doctest: +SKIP
[]
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import CloudError, HarnessError, PhaseTimeout
from ..waiting import wait_for
from .context import Context
from .ledger import KINDS, Entry
from .retry import classify, growing_sleep


@dataclass
class Item:
    """One resource to delete (from the ledger, or found by prefix)."""

    kind: str
    name: str
    id: str | None
    owned: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        ident = f" ({self.id})" if self.id and self.id != self.name else ""
        return f"{self.kind} {self.name}{ident}"

    @property
    def action(self) -> str:
        return "disassociate" if self.kind == "floating-ip" and not self.owned else "delete"


@dataclass
class TeardownResult:
    cloud: str
    planned: list[Item] = field(default_factory=list)
    deleted: list[Item] = field(default_factory=list)
    left: list[Item] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)  # "kind:id" -> why; cleared if deleted later
    swept: int = 0  # found by name, not in the ledger
    seconds: float = 0.0
    dry_run: bool = False

    @property
    def errors(self) -> list[str]:
        return list(self.failures.values())

    @property
    def clean(self) -> bool:
        return not self.left and not self.errors

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for item in self.deleted:
            out[item.kind] = out.get(item.kind, 0) + 1
        return out

    def as_details(self) -> dict[str, Any]:
        details: dict[str, Any] = {"deleted": self.counts(), "swept": self.swept, "seconds": round(self.seconds, 3)}
        if self.dry_run:
            details["would"] = [f"{i.action} {i}" for i in self.planned]
        if self.left:
            details["left"] = [str(i) for i in self.left]
        if self.errors:
            details["errors"] = self.errors
        return details


BUSY_WAIT = 60.0  # seconds one resource may stay "in use" (HTTP 409) before teardown moves on


class _Busy(Exception):
    """The resource is still in use (HTTP 409): try again shortly."""


def _order(items: Iterable[Item]) -> list[Item]:
    return sorted(items, key=lambda i: KINDS.index(i.kind))


# ---- finding by prefix ------------------------------------------------------------------------


def find_by_prefix(ctx: Context, prefix: str) -> list[Item]:
    """Everything in this project whose name (a floating IP's description) starts with ``prefix``."""
    project = ctx.project_id()
    scope = {"project_id": project} if project else {}
    net = ctx.conn.network
    items: list[Item] = []
    for s in ctx.list(ctx.conn.compute.servers, details=False, name=f"^{prefix}", doing="listing servers"):
        if (s.name or "").startswith(prefix):
            items.append(Item("server", s.name, s.id))
    for f in ctx.list(net.ips, **scope, doing="listing floating IPs"):
        if (f.description or "").startswith(prefix):
            items.append(Item("floating-ip", f.description, f.id, extra={"address": f.floating_ip_address}))
    for r in ctx.list(net.routers, **scope, doing="listing routers"):
        if not (r.name or "").startswith(prefix):
            continue
        items.append(Item("router", r.name, r.id))
        for p in ctx.list(net.ports, device_id=r.id, doing=f"listing ports of router {r.name}"):
            if str(p.device_owner or "").startswith("network:router_interface"):
                items.append(Item("router-interface", f"{r.name}:{p.id}", p.id, extra={"router_id": r.id}))
    for n in ctx.list(net.networks, **scope, doing="listing networks"):
        if not (n.name or "").startswith(prefix):
            continue
        items.append(Item("network", n.name, n.id))
        for p in ctx.list(net.ports, network_id=n.id, doing=f"listing ports on {n.name}"):
            if not str(p.device_owner or "").startswith("network:"):  # network-owned ports go with it
                items.append(Item("port", p.name or p.id, p.id))
    for g in ctx.list(net.security_groups, **scope, doing="listing security groups"):
        if (g.name or "").startswith(prefix):
            items.append(Item("security-group", g.name, g.id))
    for k in ctx.list(ctx.conn.compute.keypairs, doing="listing keypairs"):
        if (k.name or "").startswith(prefix):
            items.append(Item("keypair", k.name, k.name))
    return _order(items)


# ---- deleting -----------------------------------------------------------------------------------


def _deleter(ctx: Context, item: Item) -> Callable[[], Any]:
    net, compute = ctx.conn.network, ctx.conn.compute
    if item.kind == "floating-ip":
        if item.owned:
            return lambda: net.delete_ip(item.id, ignore_missing=True)
        return lambda: net.update_ip(item.id, port_id=None)
    if item.kind == "server":
        return lambda: compute.delete_server(item.id, ignore_missing=True)
    if item.kind == "port":
        return lambda: net.delete_port(item.id, ignore_missing=True)
    if item.kind == "router-interface":
        router = item.extra.get("router_id")
        if item.extra.get("subnet_id") and not item.extra.get("port_id") and item.id == item.extra.get("subnet_id"):
            return lambda: net.remove_interface_from_router(router, subnet=item.extra["subnet_id"])
        return lambda: net.remove_interface_from_router(router, port=item.id)
    if item.kind == "router":
        return lambda: net.delete_router(item.id, ignore_missing=True)
    if item.kind == "subnet":
        return lambda: net.delete_subnet(item.id, ignore_missing=True)
    if item.kind == "network":
        return lambda: net.delete_network(item.id, ignore_missing=True)
    if item.kind == "security-group":
        return lambda: net.delete_security_group(item.id, ignore_missing=True)
    if item.kind == "keypair":
        return lambda: compute.delete_keypair(item.id or item.name, ignore_missing=True)
    raise ValueError(f"cannot delete a {item.kind}")


def _delete_one(ctx: Context, item: Item, deadline: float) -> None:
    """Delete (or disassociate) ``item``; gone already is fine; in use is retried, bounded.

    The bound is :data:`BUSY_WAIT` (or what is left until ``deadline``), so one resource stuck
    in use cannot eat the whole teardown: the others still get their turn, and the final
    sweep reports it.
    """
    fn = _deleter(ctx, item)

    def attempt() -> bool:
        try:
            ctx.call(fn, doing=f"{item.action} {item}")
        except HarnessError as exc:
            cause = exc.__cause__
            kind = classify(cause) if cause is not None else ""
            if kind == "not-found":
                return True
            if kind == "conflict":
                raise _Busy(exc.message) from exc
            raise
        return True

    wait_for(attempt, timeout=max(1.0, min(BUSY_WAIT, deadline - time.monotonic())), what=f"{item.action} {item}",
             interval=3.0, cloud=ctx.cloud, phase=ctx.phase, retry_on=(_Busy,), sleep=growing_sleep())


def _wait_servers_gone(ctx: Context, servers: list[Item], prefix: str, deadline: float) -> None:
    ids = {s.id for s in servers}

    def gone() -> bool:
        listed = ctx.list(ctx.conn.compute.servers, details=False, name=f"^{prefix}", doing="listing servers")
        still = [s for s in listed if s.id in ids]
        if still:
            raise _Busy(", ".join(f"{s.name} still there" for s in still))
        return True

    wait_for(gone, timeout=max(1.0, deadline - time.monotonic()), what=f"{len(ids)} servers to be deleted",
             interval=3.0, cloud=ctx.cloud, phase=ctx.phase, retry_on=(_Busy,), sleep=growing_sleep())


def delete_items(ctx: Context, items: list[Item], *, prefix: str, deadline: float,
                 result: TeardownResult) -> None:
    """Delete ``items`` in dependency order into ``result`` (deleted / errors); never stops early."""
    items = _order(items)
    networks = {i.id for i in items if i.kind == "network"}
    for kind in KINDS:
        batch = [i for i in items if i.kind == kind]
        if kind == "subnet":  # deleting the network deletes its subnets: one request saved per subnet
            for item in [i for i in batch if i.extra.get("network_id") in networks]:
                item.extra["with_network"] = True
            batch = [i for i in batch if not i.extra.get("with_network")]
        done = []
        for item in batch:
            try:
                _delete_one(ctx, item, deadline)
            except HarnessError as exc:
                result.failures[f"{item.kind}:{item.id}"] = f"{item.action} {item}: {exc.message}"
            else:
                done.append(item)
        if kind == "server" and done:
            try:
                _wait_servers_gone(ctx, done, prefix, deadline)
            except PhaseTimeout as exc:
                for item in done:
                    result.failures[f"{item.kind}:{item.id}"] = exc.message
                done = []
        if kind == "network":
            done += [i for i in items if i.kind == "subnet" and i.extra.get("with_network")
                     and i.extra.get("network_id") in {d.id for d in done}]
        for item in done:
            result.failures.pop(f"{item.kind}:{item.id}", None)
            result.deleted.append(item)
            ctx.deleted(item.kind, item.name)


def from_ledger(entries: Iterable[Entry]) -> list[Item]:
    """The ledger's live entries that have an id (the others are found by the sweep, by name)."""
    return [Item(e.kind, e.name, e.id, e.owned, dict(e.extra or {})) for e in entries if e.live and e.id]


def _merge(first: list[Item], more: list[Item]) -> list[Item]:
    seen = {(i.kind, i.id) for i in first}
    return first + [i for i in more if (i.kind, i.id) not in seen]


def teardown(ctx: Context, entries: Iterable[Entry], *, prefix: str, timeout: float,
             dry_run: bool = False) -> TeardownResult:
    """Delete ``entries`` (ledger) and whatever else carries ``prefix``; verify nothing is left.

    When the ledger is complete (every entry has its id) it alone says what to delete, and one
    sweep afterwards verifies. When it is not (a run killed between a create request and the
    ledger write, or no ledger at all), the sweep's findings join the ledger's before anything
    is deleted, so e.g. a server known only by name is gone before its network is deleted.
    """
    t0 = time.monotonic()
    deadline = t0 + timeout
    entries = list(entries)
    result = TeardownResult(cloud=ctx.cloud, dry_run=dry_run)
    items = from_ledger(entries)
    if dry_run or not items or any(e.live and not e.id for e in entries):
        merged = _merge(items, find_by_prefix(ctx, prefix))
        result.swept = len(merged) - len(items)
        items = _order(merged)
    if dry_run:
        result.planned = items
        result.seconds = time.monotonic() - t0
        return result
    delete_items(ctx, items, prefix=prefix, deadline=deadline, result=result)
    leftovers = find_by_prefix(ctx, prefix)
    if leftovers:
        result.swept += len(leftovers)
        delete_items(ctx, leftovers, prefix=prefix, deadline=deadline, result=result)
        result.left = find_by_prefix(ctx, prefix)
    # names the ledger has without an id were never created, or were just swept: either way gone
    for entry in entries:
        if entry.live and not entry.id and not any(i.name == entry.name for i in result.left):
            ctx.deleted(entry.kind, entry.name)
    result.seconds = time.monotonic() - t0
    return result


def raise_if_unclean(ctx: Context, result: TeardownResult) -> None:
    if result.clean:
        return
    parts = []
    if result.left:
        parts.append("left behind: " + ", ".join(str(i) for i in result.left))
    if result.errors:
        parts.append("errors: " + "; ".join(result.errors))
    raise CloudError("teardown incomplete, " + " | ".join(parts), cloud=ctx.cloud, phase=ctx.phase)
