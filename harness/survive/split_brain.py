"""The split-brain check of a cloud cut off and healed: one leader, one timeline, no cut-side acks.

Given the cut (:class:`~harness.survive.faults.FaultWindow`, its ``cloud`` the side cut off),
the members as observed after the heal, and the history:

- in no single observation moment (members observed at the same ``time``) two leaders;
- each member's latest observation: exactly one leader, and one timeline among the members
  that report one (a member not yet back reports none);
- no ok write acknowledged by a node of the cut cloud during the cut. Only writes invoked after
  the cut began and acknowledged before its heal count: a write invoked earlier may have
  committed before the link went down.

Leader roles are ``leader`` (Patroni), ``primary`` and ``master``; a ``standby_leader`` leads
a standby cluster and is not a primary. A cluster with no single leader and no timelines
(CockroachDB: every node takes writes, ranges have their own leaseholders) is judged on the
cut-side writes alone, and the verdict says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from .faults import FaultWindow, Observation
from .history import NS, WRITES, Op, Pair, pair_ops
from .verdict import CAP, Verdict, plural

CHECK = "split-brain"
LEADER_ROLES = frozenset(("leader", "primary", "master"))


class CutWritesFold:
    """Fed every operation once; keeps the writes acknowledged from a cut cloud during its cut."""

    def __init__(self, cuts: Sequence[FaultWindow]) -> None:
        self.cuts = [c for c in cuts if c.cloud is not None]
        self.found: dict[str, list[dict[str, Any]]] = {c.name: [] for c in self.cuts}
        self.counts: dict[str, int] = {c.name: 0 for c in self.cuts}

    def feed(self, pair: Pair) -> None:
        if pair.type != "ok" or pair.f not in WRITES or pair.cloud is None or pair.end is None:
            return
        for cut in self.cuts:  # a handful of cuts per run
            if pair.cloud == cut.cloud and pair.start >= cut.start and pair.end <= cut.healed:
                self.counts[cut.name] += 1
                if len(self.found[cut.name]) < CAP:
                    self.found[cut.name].append({"index": pair.index, "f": pair.f, "value": pair.value,
                                                 "node": pair.node, "start_s": round(pair.start / NS, 3),
                                                 "end_s": round(pair.end / NS, 3)})

    def verdict(self, cut: FaultWindow, observations: Iterable[Observation], until: int | None = None) -> Verdict:
        return judge(cut, observations, self.found.get(cut.name, []), self.counts.get(cut.name, 0), until=until)


def judge(cut: FaultWindow, observations: Iterable[Observation], writes: list[dict[str, Any]], write_count: int,
          *, until: int | None = None) -> Verdict:
    """The verdict from the observations at or after the heal (and before ``until``) and the cut-side writes."""
    seen = sorted(o for o in observations if o.time >= cut.healed and (until is None or o.time < until))
    latest: dict[str, Observation] = {}
    moments: dict[int, list[str]] = {}
    for o in seen:
        latest[o.member] = o
        if o.role in LEADER_ROLES:
            moments.setdefault(o.time, []).append(o.member)
    dual: list[dict[str, Any]] = [{"time_s": round(t / NS, 3), "leaders": sorted(set(m))}
                                  for t, m in moments.items() if len(set(m)) > 1]
    leaders = sorted(m for m, o in latest.items() if o.role in LEADER_ROLES)
    timelines = sorted({o.timeline for o in latest.values() if o.timeline is not None})
    details: dict[str, Any] = {
        "cut": cut.name, "cloud": cut.cloud, "observations": len(seen), "leaders": leaders, "timelines": timelines,
        "members": {m: {"role": o.role, "timeline": o.timeline} for m, o in sorted(latest.items())[:CAP]},
        "dual_leader_moments": {"count": len(dual), "first": dual[:CAP]},
        "cut_side_writes": {"count": write_count, "first": writes[:CAP]},
    }
    # no member of it ever reports a leader or a timeline: a consensus-per-range database
    leaderless = bool(seen) and not any(o.role in LEADER_ROLES or o.timeline is not None for o in seen)
    details["leaderless"] = leaderless
    problems = []
    if write_count:
        first = writes[0]
        problems.append(f"{plural(write_count, 'write')} acknowledged by {cut.cloud} while cut off "
                        f"(first: op {first['index']} on {first['node']})")
    if dual:
        problems.append(f"two leaders at {dual[0]['time_s']:g} s: {', '.join(dual[0]['leaders'])}")
    judged = bool(seen) and not leaderless
    if judged and len(leaders) != 1:
        problems.append(f"{len(leaders)} leaders after the heal" + (f": {', '.join(leaders)}" if leaders else ""))
    if judged and len(timelines) != 1:
        problems.append(f"{len(timelines)} timelines after the heal" + (f": {timelines}" if timelines else ""))
    violations = write_count + len(dual) + (judged and len(leaders) != 1) + (judged and len(timelines) != 1)
    if problems:
        return Verdict(CHECK, "failed", violations, "violations", 0, details, f"{cut.name}: " + "; ".join(problems))
    if not seen:
        return Verdict(CHECK, "aborted", None, "violations", 0, details,
                       f"{cut.name}: no observation of the cluster after the heal (no write acknowledged "
                       f"by {cut.cloud} during the cut)")
    if leaderless:
        roles = ", ".join(sorted({o.role for o in latest.values()}))
        return Verdict(CHECK, "passed", 0, "violations", 0, details,
                       f"{cut.name}: no write acknowledged by {cut.cloud} during the cut; the cluster has no single "
                       f"leader or timeline to compare (members: {roles})")
    return Verdict(CHECK, "passed", 0, "violations", 0, details,
                   f"{cut.name}: one leader ({leaders[0]}), one timeline ({timelines[0]}) after the heal; "
                   f"no write acknowledged by {cut.cloud} during the cut")


def check_split_brain(ops: Iterable[Op], observations: Iterable[Observation], cut: FaultWindow) -> Verdict:
    """The split-brain verdict of one cut over a history and the observations after its heal."""
    writes = CutWritesFold([cut])
    for pair in pair_ops(ops):
        writes.feed(pair)
    return writes.verdict(cut, observations)
