"""Parts of the record every page shows the same way: the stack's own table and the security
groups with their audit. Only named fields of phase details are read, never the whole dict (a
phase may keep things there that are not for a report).
"""

from __future__ import annotations

from typing import Any

from ..stacks import REGISTRY, load_stack
from .model import RunSummary
from .text import as_text


def security_groups(summary: RunSummary, cloud: str) -> dict[str, Any] | None:
    """The cloud's security-group rules and audit, as the phases recorded them (None: none)."""
    result = summary.result(cloud, "security-groups")
    if result is None or not result.details:
        return None
    details = result.details
    peers = summary.result(cloud, "floating-ips")
    peer_details = peers.details if peers is not None and peers.details else {}
    rules = details.get("rules")
    return {
        "cloud": cloud,
        "outcome": result.outcome,
        "name": str(details.get("name") or ""),
        "harness": as_text(details.get("harness")) if details.get("harness") else "",
        "harness_from": str(details.get("harness_from") or ""),
        "rules": [str(r) for r in rules] if isinstance(rules, list) else [],
        "audit": str(details.get("audit", "")),
        # the rules to the other clouds' nodes are added by floating-ips, once their addresses are known
        "peer_rules": as_text(peer_details.get("peer_rules")) if "peer_rules" in peer_details else "",
        "peers": as_text(peer_details.get("peers")) if "peers" in peer_details else "",
    }


def stack_table(summary: RunSummary, clouds: list[str] | None = None) -> tuple[str, list[str], list[dict[str, Any]]]:
    """The run's stack's own table: (title, columns, rows), rows as ``{cloud, cells}``.

    The stack builds each cloud's row from that cloud's phase details; a run whose stack is
    not registered here (a record from elsewhere) has no such table.
    """
    name = summary.info.get("stack")
    if not isinstance(name, str) or name not in REGISTRY:
        return "", [], []
    stack = load_stack(name)
    if stack.report_rows is None:
        return "", [], []
    rows, columns = [], {}
    for cloud in clouds if clouds is not None else summary.clouds:
        details = {phase: (result.details or {}) for (c, phase), result in summary.results.items() if c == cloud}
        cells = stack.report_rows(details)
        if cells:
            columns.update(dict.fromkeys(cells))
            rows.append({"cloud": cloud, "cells": {k: [as_text(line) for line in v] for k, v in cells.items()}})
    return stack.report_title or stack.name, list(columns), rows
