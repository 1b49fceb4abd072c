"""The lab's network agent: routers, floating IPs, security groups and port status for real.

Run by the LAB venv's python (neutron, keystoneauth and pymysql live there) with ``interop_lab``
on ``PYTHONPATH``; it replaces the heartbeat-only :mod:`.fake_agent` in the data-plane mode::

    python -m interop_lab.agent HOST --state-dir <lab>/dataplane \
        --config-file neutron.conf --config-file ml2_conf.ini

What it does, every ``--interval`` seconds (0.5):

1. **Heartbeat** as an Open vSwitch agent on HOST (nova's ``host``), from its own thread, so
   ML2's ``openvswitch`` mechanism driver binds server ports there.
2. **Notice changes cheaply**: one read-only query on Neutron's ``standardattributes`` table
   (per resource type: row count, max id, sum of revision numbers; every port, network,
   subnet, router, floating IP, security group and rule has a row whose revision moves on
   every update). Only the lists whose fingerprint moved are read from the Neutron API (at
   most once a second), and all of them at least every ``--resync`` seconds. Polling the API
   itself cost neutron-api 15% of a core in the probe; during boot storms mostly ports change.
3. **Converge** the data plane (:mod:`.dataplane`) to the last snapshot, every cycle (so a VM
   that nova-compute plugs between two reads is served without another read):
   a namespace per Neutron router with DNAT/SNAT for its floating IPs (:class:`RouterHost`),
   and in each server's namespace the nft table of its ports' security groups (:func:`apply_sg`).
   Desired state comes from :mod:`.translate` (pure, tested with recorded JSON).
4. **Report** over the agent RPC, as the OVS and L3 agents do: a server port goes ACTIVE
   (``update_device_list``) once its security groups AND its floating IPs are in place, which
   is what releases Nova's wait for ``network-vif-plugged``; ports whose VM is gone go DOWN;
   floating IPs are ACTIVE once NATed and DOWN otherwise (``update_floatingip_statuses``).

Every command the data plane runs is bounded; an error in one router or VM is logged (once
per distinct message) and retried on the next cycle without stopping the others.
"""

from __future__ import annotations

import argparse
import configparser
import importlib
import logging
import signal
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from harness.errors import LabError
from interop_lab import translate
from interop_lab.dataplane import fabric, names, system
from interop_lab.dataplane.firewall import PortFirewall, apply_sg, render_sg
from interop_lab.dataplane.router import ExternalNet, RouterHost, RouterSpec
from interop_lab.dataplane.state import Ledger

LOG = logging.getLogger("interop-lab-agent")
HEARTBEAT_SECONDS = 20.0  # neutron's agent_down_time is 75 s
REPORT_AGAIN_SECONDS = 5.0  # a status report Neutron has not reflected yet is sent again after this
HTTP_TIMEOUT = 10.0
AGENT_ID = "interop-lab-agent"


# --------------------------------------------------------------------------- interfaces
class Snapshotter(Protocol):
    def snapshot(self, lists: Collection[str] | None = None) -> dict[str, Any]: ...


class Reporter(Protocol):
    def devices(self, up: Sequence[str], down: Sequence[str]) -> dict[str, Any]: ...

    def floatingips(self, router_id: str, statuses: Mapping[str, str]) -> None: ...


class Routers(Protocol):
    def apply(self, spec: RouterSpec) -> float: ...

    def delete(self, router_id: str) -> None: ...

    def ensure_external(self) -> None: ...


@dataclass
class Applied:
    """What the agent has put in place (its cache; the kernel and the ledger are the truth)."""

    routers: dict[str, RouterSpec] = field(default_factory=dict)
    firewalls: dict[str, tuple[tuple[int, int], str]] = field(default_factory=dict)  # netns -> (inode, table)
    wired: set[str] = field(default_factory=set)  # ports whose VM enforces their rules now
    fips: dict[str, str] = field(default_factory=dict)  # fip id -> router NATing it now


class Agent:
    """One converge-and-report cycle at a time; every collaborator is injectable for tests."""

    def __init__(self, host: str, state_dir: Path, neutron: Snapshotter, report: Reporter | None, *,
                 fingerprint: Callable[[], object] | None = None, resync: float = 10.0,
                 min_read_gap: float = 1.0,
                 routers: Callable[[ExternalNet], Routers] | None = None,
                 apply_firewall: Callable[[str, Sequence[PortFirewall]], object] = apply_sg,
                 link_exists: Callable[[str], bool] = system.link_exists,
                 netns_id: Callable[[str], tuple[int, int] | None] = system.netns_id,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.host = host
        self.state_dir = Path(state_dir)
        self.ledger = Ledger(self.state_dir)
        self.neutron = neutron
        self.report = report
        self.fingerprint = fingerprint
        self.resync = resync
        self.min_read_gap = min_read_gap
        self.make_routers = routers or (lambda ext: RouterHost(self.state_dir, ext))
        self.apply_firewall = apply_firewall
        self.link_exists = link_exists
        self.netns_id = netns_id
        self.clock = clock
        self.snap: dict[str, Any] | None = None
        self.snap_fp: object = None
        self.snap_at = 0.0
        self.full_at = 0.0
        self.router_host: Routers | None = None
        self.external: ExternalNet | None = None
        self.applied = Applied()
        self.reported: dict[str, tuple[str, float]] = {}  # port id -> ("up"|"down", when)
        self.fip_reported: dict[str, str] = {}
        self._logged: set[str] = set()
        self.stats = {"cycles": 0, "reads": 0, "changes": 0, "errors": 0}

    # ---- the cycle ------------------------------------------------------------------------
    def cycle(self) -> None:
        self.stats["cycles"] += 1
        snap = self._read()
        external = translate.external_network(snap)
        routers = self._router_host(external)
        desired = translate.router_specs(snap, external)
        for key, why in sorted(desired.errors.items()):
            self._once(f"{key}: {why}", logging.WARNING)
        data = self.ledger.read()
        self._sync_routers(routers, desired, set(data["routers"]))
        locations = translate.port_locations(data["vms"])
        self._sync_firewalls(snap, locations)
        self._sync_ports(snap, locations, desired)
        self._sync_fips(snap)

    def invalidate(self) -> None:
        """Forget the snapshot (after an error): the next cycle reads Neutron again."""
        self.snap = None

    def _read(self) -> dict[str, Any]:
        fp = self.fingerprint() if self.fingerprint else None
        now = self.clock()
        since = now - self.snap_at
        changed = fp is None or fp != self.snap_fp
        # a busy lab changes something every cycle: read at most every min_read_gap seconds, so
        # the agent's share of neutron-api stays bounded (the first change is seen at once)
        if self.snap is None or now - self.full_at >= self.resync:
            self.snap, self.snap_fp, self.snap_at = self.neutron.snapshot(), fp, now
            self.full_at = now
            self.stats["reads"] += 1
            self.collect_bridges()
        elif changed and since >= self.min_read_gap:
            lists = changed_lists(self.snap_fp, fp)
            self.snap, self.snap_fp, self.snap_at = self.neutron.snapshot(lists), fp, now
            self.stats["reads"] += 1
            self.collect_bridges()
        return self.snap

    def collect_bridges(self) -> list[str]:
        """Delete tenant bridges nothing is plugged into any more (whoever left them behind).

        Safe against a VM or router leg being plugged at the same time: both create the bridge
        and plug into it inside one ledger transaction, and this runs inside one too.
        """
        if not self.ledger.path.exists():
            return []
        released = []
        with self.ledger.transaction() as data:
            for name, kind in sorted(data["bridges"].items()):
                if kind == "tenant" and fabric.release_bridge(data, name):
                    released.append(name)
        if released:
            LOG.info("deleted unused bridge(s) %s", ", ".join(released))
        return released

    def _router_host(self, external: tuple[str, ExternalNet] | None) -> Routers:
        ext = external[1] if external else None
        if self.router_host is None or (ext is not None and ext != self.external):
            # None -> a network is the lab's bootstrap creating `public` after the agent started
            if self.router_host is not None and self.external is not None:
                self._once(f"the external network changed from {self.external} to {ext}: restart the agent "
                           "after `interop lab down`", logging.ERROR)
                return self.router_host
            self.router_host = self.make_routers(ext or ExternalNet())
            self.external = ext
            if ext is not None:
                self.router_host.ensure_external()
                LOG.info("external network %s: the root namespace holds %s on %s", ext.cidr, ext.gateway, ext.bridge)
        elif self.external is not None and not self.link_exists(self.external.bridge):
            self.router_host.ensure_external()  # deleted behind our back: the harness side must exist
            LOG.warning("external bridge %s was missing: recreated", self.external.bridge)
        return self.router_host

    def _sync_routers(self, routers: Routers, desired: translate.Desired, recorded: set[str]) -> None:
        for rid, spec in sorted(desired.routers.items()):
            if self.applied.routers.get(rid) == spec and self.netns_id(names.router_netns(rid)) is not None:
                continue
            try:
                took = routers.apply(spec)
            except (LabError, ValueError) as exc:
                self.applied.routers.pop(rid, None)
                self._error(f"router {rid}: {exc}")
                continue
            self.applied.routers[rid] = spec
            self.stats["changes"] += 1
            LOG.info("router %s: %d interface(s), gateway %s, floating IPs %s (%.0f ms)", rid[:8],
                     len(spec.interfaces), spec.gateway.ip if spec.gateway else "-",
                     ", ".join(f"{f.floating_ip}->{f.fixed_ip}" for f in spec.floating_ips) or "-", took * 1000)
        for rid in sorted((recorded | set(self.applied.routers)) - set(desired.routers)):
            try:
                routers.delete(rid)
            except LabError as exc:
                self._error(f"router {rid} delete: {exc}")
                continue
            self.applied.routers.pop(rid, None)
            self.stats["changes"] += 1
            LOG.info("router %s: deleted", rid[:8])
        self.applied.fips = {fip: rid for fip, rid in desired.fip_router.items()
                             if self.applied.routers.get(rid) == desired.routers.get(rid)}

    def _sync_firewalls(self, snap: Mapping[str, Any], locations: Mapping[str, translate.PortLocation]) -> None:
        wired: set[str] = set()
        seen: set[str] = set()
        for vm, ports in sorted(translate.port_firewalls(snap, locations).items()):
            where = [locations[p.port_id] for p in ports]
            netns = where[0].netns
            # a tap exists only once the VM is plugged, which is after its drop-all table is in:
            # applying earlier would be overwritten by it
            if not all(self.link_exists(w.tap) for w in where):
                continue
            inode = self.netns_id(netns)
            if inode is None:
                continue
            seen.add(netns)
            table = render_sg(ports)
            if self.applied.firewalls.get(netns) != (inode, table):
                started = self.clock()
                try:
                    self.apply_firewall(netns, ports)
                except (LabError, ValueError) as exc:
                    self.applied.firewalls.pop(netns, None)
                    if self.netns_id(netns) is not None:  # else: the VM went away meanwhile
                        # a VM being stopped kills every process in its namespace, our nft too
                        self._error(f"security groups of VM {vm} (retried next cycle): {exc}")
                    continue
                self.applied.firewalls[netns] = (inode, table)
                self.stats["changes"] += 1
                LOG.info("VM %s: security groups of %d port(s) applied, %d rule(s) (%.0f ms)", vm[:8], len(ports),
                         sum(len(p.rules) for p in ports), (self.clock() - started) * 1000)
            wired.update(p.port_id for p in ports)
        for netns in set(self.applied.firewalls) - seen:
            del self.applied.firewalls[netns]
        self.applied.wired = wired

    def _sync_ports(self, snap: Mapping[str, Any], locations: Mapping[str, Any], desired: translate.Desired) -> None:
        bound = translate.bound_compute_ports(snap, self.host)
        fips_of = translate.port_fips(snap)
        now = self.clock()

        def fresh(port_id: str, kind: str) -> bool:
            last = self.reported.get(port_id)
            return last is not None and last[0] == kind and now - last[1] < REPORT_AGAIN_SECONDS

        up, down = [], []
        for port_id, port in sorted(bound.items()):
            if port_id in self.applied.wired:
                # ACTIVE only once its floating IPs are NATed too: then ACTIVE means reachable
                pending = {f for f in fips_of.get(port_id, ()) if f in desired.fip_router} - set(self.applied.fips)
                if port.get("status") != translate.ACTIVE and not pending and not fresh(port_id, "up"):
                    up.append(port_id)
            elif port_id not in locations and port.get("status") == translate.ACTIVE and not fresh(port_id, "down"):
                down.append(port_id)
        self.reported = {p: r for p, r in self.reported.items() if p in bound}
        if not (up or down) or self.report is None:
            return
        try:
            result = self.report.devices(up, down)
        except Exception as exc:  # RPC timeouts and the like: the next cycle reports again
            self._error(f"update_device_list: {exc!r}")
            return
        failed = set(result.get("failed_devices_up") or ()) | set(result.get("failed_devices_down") or ())
        for port_id in up:
            if port_id not in failed:
                self.reported[port_id] = ("up", now)
        for port_id in down:
            if port_id not in failed:
                self.reported[port_id] = ("down", now)
        LOG.info("reported ports up %s down %s%s", [p[:8] for p in up], [p[:8] for p in down],
                 f" (failed: {sorted(p[:8] for p in failed)})" if failed else "")

    def _sync_fips(self, snap: Mapping[str, Any]) -> None:
        known = {f["id"] for f in snap.get("floatingips", [])}
        self.fip_reported = {k: v for k, v in self.fip_reported.items() if k in known}
        if self.report is None:
            return
        for router_id, statuses in sorted(translate.fip_statuses(snap, self.applied.fips, self.fip_reported).items()):
            try:
                self.report.floatingips(router_id, statuses)
            except Exception as exc:
                self._error(f"update_floatingip_statuses: {exc!r}")
                continue
            self.fip_reported.update(statuses)
            LOG.info("reported floating IP status %s", {k[:8]: v for k, v in statuses.items()})

    # ---- logging --------------------------------------------------------------------------
    def _error(self, message: str) -> None:
        self.stats["errors"] += 1
        self._once(message, logging.ERROR)

    def _once(self, message: str, level: int) -> None:
        if message not in self._logged:
            self._logged.add(message)
            LOG.log(level, "%s", message)
        if len(self._logged) > 1000:
            self._logged.clear()


# --------------------------------------------------------------------------- Neutron access
# standardattributes.resource_type -> the API list it shows up in
LISTS_OF_TYPE = {"ports": "ports", "securitygroups": "security_groups", "securitygrouprules": "security_groups",
                 "floatingips": "floatingips", "routers": "routers", "subnets": "subnets", "networks": "networks"}
ALL_LISTS = ("ports", "security_groups", "floatingips", "routers", "subnets", "networks")


def changed_lists(old: object, new: object) -> set[str] | None:
    """The API lists to read again between two fingerprints; None: all of them."""
    if not isinstance(old, Mapping) or not isinstance(new, Mapping):
        return None
    types = {t for t in set(old) | set(new) if old.get(t) != new.get(t)}
    return {LISTS_OF_TYPE[t] for t in types if t in LISTS_OF_TYPE}


def read_ini(files: Iterable[str]) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.read(list(files))
    return parser


class NeutronApi:
    """Reads the Neutron API as the neutron service user (admin), with field selection."""

    def __init__(self, conf: configparser.ConfigParser) -> None:
        v3 = importlib.import_module("keystoneauth1.identity.v3")
        session = importlib.import_module("keystoneauth1.session")
        auth = conf["keystone_authtoken"]
        self.session = session.Session(auth=v3.Password(
            auth_url=auth["auth_url"], username=auth["username"], password=auth["password"],
            project_name=auth["project_name"], user_domain_name=auth.get("user_domain_name", "Default"),
            project_domain_name=auth.get("project_domain_name", "Default")), timeout=HTTP_TIMEOUT)
        self.endpoint = {"service_type": "network", "interface": "public",
                         "region_name": auth.get("region_name", "RegionOne")}
        self.last: dict[str, list[dict[str, Any]]] = {}

    def _list(self, resource: str, fields: Sequence[str]) -> list[dict[str, Any]]:
        key = resource.replace("-", "_")
        response = self.session.get(f"/v2.0/{resource}", endpoint_filter=self.endpoint,
                                    params={"fields": list(fields)})
        return list(response.json()[key])

    def snapshot(self, lists: Collection[str] | None = None) -> dict[str, Any]:
        """The lists the agent works from; only ``lists`` are read again (None: all)."""
        wanted = set(ALL_LISTS if lists is None or not self.last else lists)
        sources = {"ports": ("ports", translate.PORT_FIELDS),
                   "security_groups": ("security-groups", translate.SG_FIELDS),
                   "floatingips": ("floatingips", translate.FIP_FIELDS),
                   "routers": ("routers", translate.ROUTER_FIELDS),
                   "subnets": ("subnets", translate.SUBNET_FIELDS),
                   "networks": ("networks", translate.NETWORK_FIELDS)}
        snap = dict(self.last)
        for name in ALL_LISTS:
            if name in wanted:
                snap[name] = self._list(*sources[name])
        # a port on a subnet or network not seen yet: those lists are stale, read them too
        known_subnets = {s["id"] for s in snap["subnets"]}
        known_networks = {n["id"] for n in snap["networks"]}
        used_subnets = {f["subnet_id"] for p in snap["ports"] for f in p.get("fixed_ips") or []}
        used_networks = {p["network_id"] for p in snap["ports"]}
        if not used_subnets <= known_subnets or not used_networks <= known_networks:
            snap["subnets"] = self._list(*sources["subnets"])
            snap["networks"] = self._list(*sources["networks"])
        self.last = snap
        return snap


class DbFingerprint:
    """One read-only query telling whether anything in Neutron changed (see the module doc)."""

    QUERY = ("SELECT resource_type, COUNT(*), COALESCE(MAX(id), 0), COALESCE(SUM(revision_number), 0) "
             "FROM standardattributes GROUP BY resource_type")

    def __init__(self, connection_url: str) -> None:
        url = urllib.parse.urlsplit(connection_url)
        self.args = {"host": url.hostname, "port": url.port or 3306, "user": urllib.parse.unquote(url.username or ""),
                     "password": urllib.parse.unquote(url.password or ""), "database": url.path.lstrip("/"),
                     "autocommit": True, "connect_timeout": 5, "read_timeout": 5, "write_timeout": 5}
        self.pymysql = importlib.import_module("pymysql")
        self.db: Any = None

    def __call__(self) -> dict[str, tuple[int, ...]] | None:
        try:
            if self.db is None:
                self.db = self.pymysql.connect(**self.args)
            with self.db.cursor() as cursor:
                cursor.execute(self.QUERY)
                return {row[0]: tuple(int(v) for v in row[1:]) for row in cursor.fetchall()}
        except self.pymysql.Error as exc:
            if self.db is not None:
                LOG.warning("change detection query failed (%r): reading the API every cycle meanwhile", exc)
            self.db = None
            return None  # unknown: read the API


class AgentRpc:
    """The agent->server RPC calls of the OVS and L3 agents (oslo.messaging over RabbitMQ)."""

    def __init__(self, host: str, config_files: Sequence[str]) -> None:
        agent_rpc = importlib.import_module("neutron.agent.rpc")
        common_config = importlib.import_module("neutron.common.config")
        agent_conf = importlib.import_module("neutron.conf.agent.common")
        context = importlib.import_module("neutron_lib.context")
        topics = importlib.import_module("neutron_lib.agent.topics")
        lib_rpc = importlib.import_module("neutron_lib.rpc")
        messaging = importlib.import_module("oslo_messaging")
        cfg = importlib.import_module("oslo_config.cfg")
        common_config.register_common_config_options()
        agent_conf.register_agent_state_opts_helper(cfg.CONF)
        common_config.init([arg for f in config_files for arg in ("--config-file", f)])
        # report_interval bounds the heartbeat call: one sent before neutron-rpc-server declared
        # its queue is dropped, and the default 30 s would delay registration by that much
        cfg.CONF.set_override("report_interval", 5, "AGENT")
        self.host = host
        self.ctx = context.get_admin_context_without_session()
        self.state_rpc = agent_rpc.PluginReportStateAPI(topics.REPORTS)
        self.plugin = agent_rpc.PluginApi(topics.PLUGIN)
        self.l3 = lib_rpc.get_client(messaging.Target(topic=topics.L3PLUGIN, version="1.1"))
        self.topic = importlib.import_module("neutron_lib.constants").L2_AGENT_TOPIC
        self.agent_type = importlib.import_module("neutron_lib.constants").AGENT_TYPE_OVS

    def heartbeat(self, state: dict[str, Any]) -> None:
        self.state_rpc.report_state(self.ctx, dict(state), use_call=True)

    def devices(self, up: Sequence[str], down: Sequence[str]) -> dict[str, Any]:
        return dict(self.plugin.update_device_list(self.ctx, list(up), list(down), AGENT_ID, self.host))

    def floatingips(self, router_id: str, statuses: Mapping[str, str]) -> None:
        self.l3.prepare(version="1.1", timeout=10).call(self.ctx, "update_floatingip_statuses",
                                                        router_id=router_id, fip_statuses=dict(statuses))


def heartbeat_loop(rpc: AgentRpc, host: str, agent: Agent, stop: threading.Event) -> None:
    from interop_lab.fake_agent import agent_state

    state = agent_state(host, rpc.topic, rpc.agent_type)
    registered = False
    while not stop.is_set():
        state["configurations"]["devices"] = len(agent.applied.wired)  # type: ignore[index]
        try:
            rpc.heartbeat(state)
        except Exception as exc:  # neutron-rpc-server not up yet, RabbitMQ restarting, ...
            LOG.warning("report_state failed, retrying: %r", exc)
            stop.wait(2)
            continue
        if not registered:
            registered = True
            state.pop("start_flag", None)
            LOG.info("registered as the Open vSwitch agent of host %s", host)
        stop.wait(HEARTBEAT_SECONDS)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m interop_lab.agent", description=__doc__.split("\n")[0])
    parser.add_argument("host", help="nova's `host` (ports bound there are served)")
    parser.add_argument("--state-dir", required=True, type=Path, help="the data plane's state directory")
    parser.add_argument("--config-file", action="append", required=True, dest="config_files")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between cycles")
    parser.add_argument("--resync", type=float, default=10.0, help="read the Neutron API at least this often")
    args = parser.parse_args(list(argv))
    logging.basicConfig(stream=sys.stdout, level=logging.INFO,
                        format="%(asctime)s.%(msecs)03d %(levelname)s %(name)s %(message)s", datefmt="%H:%M:%S")
    for noisy in ("oslo_messaging", "oslo.messaging", "amqp", "keystoneauth", "urllib3", "stevedore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    conf = read_ini(args.config_files)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    rpc = AgentRpc(args.host, args.config_files)
    agent = Agent(args.host, args.state_dir, NeutronApi(conf), rpc, resync=args.resync,
                  fingerprint=DbFingerprint(conf["database"]["connection"]))
    beat = threading.Thread(target=heartbeat_loop, args=(rpc, args.host, agent, stop), name="heartbeat", daemon=True)
    beat.start()
    LOG.info("lab agent for host %s: data plane in %s, cycle %.1fs, API read on change and every %.0fs",
             args.host, args.state_dir, args.interval, args.resync)
    last_stats = time.monotonic()
    while not stop.is_set():
        started = time.monotonic()
        try:
            agent.cycle()
        except Exception as exc:  # keep serving: the next cycle reads Neutron again and retries
            agent.stats["errors"] += 1
            agent.invalidate()
            LOG.error("cycle failed: %r", exc)
        if started - last_stats > 600:
            LOG.info("stats: %s", agent.stats)
            last_stats = started
        stop.wait(max(0.05, args.interval - (time.monotonic() - started)))
    LOG.info("stopping (stats: %s)", agent.stats)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
