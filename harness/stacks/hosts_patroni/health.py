"""Readiness of a Patroni cluster, judged from its members' ``GET /cluster`` answers.

Pure functions of recorded JSON, so they are tested on real answers:

>>> health = readiness({"db1": view, "db2": view}, expected=["db1", "db2"], sync_standbys=1)  # doctest: +SKIP
>>> health.ok, health.leader, health.reasons                                                # doctest: +SKIP
(True, 'db1', [])

Ready means: every expected member's REST API answers and all of them name the same single
leader (a member just back from a partition can serve a stale view); the leader is running;
every other expected member is streaming on the leader's timeline; at least ``sync_standbys``
synchronous standbys; and, when the members span several clouds, one synchronous standby
outside the leader's cloud (so losing that whole cloud leaves an up-to-date standby).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..base import Health, Member

LEADER_ROLES = ("leader", "master", "primary")
SYNC_ROLES = ("sync_standby", "quorum_standby")


class NotReady(Exception):
    """Raised by a wait's check with the reasons; :func:`~harness.waiting.wait_for` quotes the
    last one when it times out."""


def parse_members(view: Mapping[str, Any]) -> list[Member]:
    """The members of one ``/cluster`` answer; the cloud comes from the member's ``cloud`` tag."""
    members = []
    for m in view.get("members") or []:
        if not isinstance(m, Mapping) or not m.get("name"):
            continue
        lag = m.get("lag")
        timeline = m.get("timeline")
        members.append(Member(
            name=str(m["name"]), cloud=str((m.get("tags") or {}).get("cloud", "")), host=str(m.get("host", "")),
            role=str(m.get("role", "")), state=str(m.get("state", "")),
            timeline=timeline if isinstance(timeline, int) else None,
            lag_bytes=lag if isinstance(lag, int) and not isinstance(lag, bool) else None))
    return members


def _leaders(members: Sequence[Member]) -> list[Member]:
    return [m for m in members if m.role in LEADER_ROLES]


def not_streaming(members: Sequence[Member], names: Sequence[str]) -> list[str]:
    """Why some of ``names`` are neither the running leader nor streaming on its timeline."""
    leaders = _leaders(members)
    if len(leaders) != 1:
        return [f"{len(leaders)} leaders" + (f" ({', '.join(m.name for m in leaders)})" if leaders else "")]
    leader = leaders[0]
    by_name = {m.name: m for m in members}
    reasons = []
    for name in names:
        m = by_name.get(name)
        if m is None:
            reasons.append(f"{name} is not a member yet")
        elif m.name == leader.name:
            if m.state != "running":
                reasons.append(f"leader {name} is {m.state or 'in no state'}")
        elif m.state != "streaming":
            reasons.append(f"{name} is {m.state or 'in no state'}, not streaming")
        elif leader.timeline is not None and m.timeline != leader.timeline:
            reasons.append(f"{name} streams on timeline {m.timeline}, the leader is on {leader.timeline}")
    return reasons


def readiness(views: Mapping[str, Mapping[str, Any] | None], expected: Sequence[str], sync_standbys: int) -> Health:
    """The verdict over ``expected`` members; ``views`` maps member -> its /cluster (None: no answer)."""
    answered = {name: v for name, v in views.items() if v is not None}
    reasons = [f"{name}'s REST API did not answer" for name in expected if views.get(name) is None]
    if not answered:
        return Health(ok=False, reasons=reasons or ["no member answered"])
    opinions = {name: tuple(sorted(m.name for m in _leaders(parse_members(v)))) for name, v in answered.items()}
    if len(set(opinions.values())) > 1:
        told = "; ".join(f"{n} says {', '.join(o) or 'none'}" for n, o in sorted(opinions.items()))
        reasons.append(f"members disagree on the leader ({told})")
    # judge on the leader's own view when it answered, else on any
    first = next(iter(answered.values()))
    leader_names = _leaders(parse_members(first))
    view = answered.get(leader_names[0].name, first) if len(leader_names) == 1 else first
    members = parse_members(view)
    reasons += not_streaming(members, expected)
    leaders = _leaders(members)
    leader = leaders[0] if len(leaders) == 1 else None
    sync = sorted(m.name for m in members if m.role in SYNC_ROLES)
    if len(sync) < sync_standbys:
        reasons.append(f"{len(sync)} synchronous standbys ({', '.join(sync) or 'none'}), {sync_standbys} wanted")
    by_name = {m.name: m for m in members}
    clouds = {by_name[n].cloud for n in expected if n in by_name}
    if leader is not None and sync_standbys > 0 and len(clouds) > 1 and sync:
        if not any(by_name[s].cloud != leader.cloud for s in sync):
            reasons.append(f"no synchronous standby outside the leader's cloud {leader.cloud}")
    return Health(ok=not reasons, reasons=reasons, leader=leader.name if leader else None,
                  timeline=leader.timeline if leader else None, sync_standbys=sync, members=members)
