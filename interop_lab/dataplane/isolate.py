"""Fault injection: cut a whole lab cloud (the routers of one project) off the other clouds.

All traffic between clouds crosses the external network, so a cut is one nft table
(``ip lab_cut``) in each of the cloud's router namespaces that drops every packet entering or
leaving the gateway leg whose remote address is not allowed (the cloud's own router and
floating IPs, and by default the harness = the external network's gateway). Established
connections stall as in a real partition; nothing inside the cloud changes.

Bounded twice: the gateway leg is an element of a set with a kernel timeout, so a cut heals
by itself after ``seconds`` even if the harness dies; and every cut is recorded in the ledger
so :func:`heal_all` (called by ``interop lab down``) removes whatever is left.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.errors import LabError

from . import names, system
from .router import RouterSpec
from .state import Ledger

CUT_TABLE = "lab_cut"
MAX_CUT_SECONDS = 3600.0


@dataclass(frozen=True)
class Cut:
    cloud: str
    routers: tuple[str, ...]
    until: float  # epoch seconds when the kernel heals it by itself


def render_cut(gateway_ifname: str, allow: Sequence[str], seconds: float) -> str:
    """Text of table ``ip lab_cut`` for one router (pure)."""
    names.check_ifname(gateway_ifname)
    if not 0 < seconds <= MAX_CUT_SECONDS:
        raise ValueError(f"a cut lasts 0-{MAX_CUT_SECONDS:.0f}s, not {seconds}")
    nets = sorted({ipaddress.ip_network(a, strict=False) for a in allow},
                  key=lambda n: (int(n.network_address), n.prefixlen))
    allow_lines = ["  set allow {", "    type ipv4_addr", "    flags interval"]
    if nets:
        allow_lines.append("    elements = { " + ", ".join(
            str(n.network_address) if n.num_addresses == 1 else str(n) for n in nets) + " }")
    allow_lines.append("  }")
    return "\n".join([
        f"table ip {CUT_TABLE} {{",
        "  set cut {", "    type ifname", "    flags timeout",
        f'    elements = {{ "{gateway_ifname}" timeout {max(1, int(seconds * 1000))}ms }}', "  }",
        *allow_lines,
        "  chain inbound {",
        "    type filter hook prerouting priority raw; policy accept;",
        "    iifname @cut ip saddr != @allow drop",
        "  }",
        "  chain outbound {",
        "    type filter hook postrouting priority 300; policy accept;",
        "    oifname @cut ip daddr != @allow drop",
        "  }",
        "}", ""])


def cut(
    state_dir: Path | str,
    cloud: str,
    router_ids: Sequence[str],
    *,
    seconds: float,
    allow: Sequence[str] = (),
    keep_harness: bool = True,
) -> Cut:
    """Cut the routers of ``cloud`` off everything but themselves (and the harness).

    ``allow``: extra addresses/CIDRs that stay reachable. Heals by itself after ``seconds``.
    """
    ledger = Ledger(state_dir)
    until = time.time() + seconds
    with ledger.transaction() as data:
        specs: list[RouterSpec] = []
        for rid in router_ids:
            rec = data["routers"].get(rid)
            if rec is None:
                raise LabError(f"cloud {cloud}: no router {rid} in this lab")
            spec = RouterSpec.from_dict(rec["spec"])
            if spec.gateway is None:
                raise LabError(f"cloud {cloud}: router {rid} has no gateway to cut")
            specs.append(spec)
        own = [s.gateway.ip for s in specs if s.gateway] + [f for s in specs for f in s.fip_map()]
        keep = list(allow) + own
        if keep_harness and data["external"]:
            keep.append(data["external"]["gateway"])
        data["cuts"][cloud] = {"routers": list(router_ids), "until": until}
        for spec in specs:
            assert spec.gateway is not None
            system.nft_replace_table(names.router_netns(spec.router_id), "ip", CUT_TABLE,
                                     render_cut(spec.gateway.ifname, keep, seconds))
    return Cut(cloud, tuple(router_ids), until)


def heal(state_dir: Path | str, cloud: str) -> bool:
    """Undo the cut of ``cloud``; False if there was none."""
    with Ledger(state_dir).transaction() as data:
        rec = data["cuts"].pop(cloud, None)
        if rec is None:
            return False
        for rid in rec["routers"]:
            ns = names.router_netns(rid)
            if system.netns_exists(ns):
                system.nft_delete_table(ns, "ip", CUT_TABLE)
        return True


def heal_all(state_dir: Path | str) -> list[str]:
    """Undo every recorded cut (``interop lab down``); returns the clouds healed."""
    clouds = sorted(Ledger(state_dir).read()["cuts"])
    for cloud in clouds:
        heal(state_dir, cloud)
    return clouds


def active_cuts(state_dir: Path | str) -> list[Cut]:
    now = time.time()
    return [Cut(c, tuple(r["routers"]), r["until"])
            for c, r in sorted(Ledger(state_dir).read()["cuts"].items()) if r["until"] > now]
