"""The run's timeline: every cloud's phases on one time axis, with the waits at the rendezvous.

Where a wait sits: a ``note`` event ``{"note": "rendezvous-wait", "cloud", "phase", "name",
"start", "end"}`` gives it exactly. Records without such notes hold only a wait's length, in the
phase's details (``peers_waited_s`` of floating-ips and deploy, ``waited_for_turn_s`` of survive);
it is then drawn from the phase's start and its tooltip says the position is not recorded.

>>> timeline_view(summary)["rows"][0]                                           # doctest: +SKIP
{'cloud': 'lab1', 'start': '+0.00 s', 'end': '+61.2 s', 'busy': '48.3 s', 'waited': '12.9 s'}
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from .model import RunSummary
from .svg import Bar, Lane, gantt
from .text import clock, seconds

WAIT_NOTE = "rendezvous-wait"


def _detail_waits(details: dict[str, Any]) -> list[tuple[str, float]]:
    """``(key, seconds)`` of every recorded wait length in a phase's details."""
    return [(k, float(v)) for k, v in details.items()
            if "waited" in k and k.endswith("_s") and isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0]


def waits(summary: RunSummary, cloud: str, t0: float) -> list[Bar]:
    """The cloud's rendezvous waits as bars on the axis that starts at ``t0``."""
    noted: set[str] = set()
    out = []
    for note in summary.notes:
        if note.get("note") != WAIT_NOTE or note.get("cloud") != cloud:
            continue
        start, end = note.get("start"), note.get("end")
        if isinstance(start, (int, float)) and isinstance(end, (int, float)):
            noted.add(str(note.get("phase")))
            where = note.get("name", "the rendezvous")
            out.append(Bar(start - t0, end - t0, "wait",
                           f"{cloud} {note.get('phase')}: waited {seconds(end - start)} at {where}"))
    for (c, phase), result in summary.results.items():
        if c != cloud or phase in noted:
            continue
        for key, length in _detail_waits(result.details or {}):
            end = result.start + min(length, result.duration if result.duration is not None else length)
            out.append(Bar(result.start - t0, end - t0, "wait",
                           f"{cloud} {phase}: waited {seconds(length)} at the rendezvous ({key}; "
                           "drawn from the phase's start: its position in the phase is not recorded)"))
    return out


def timeline_view(summary: RunSummary, order: list[str] | None = None) -> dict[str, Any]:
    """The Gantt (``svg``), its table (``rows``, one per cloud) and its axis (``t0``, ``span``)."""
    results = list(summary.results.values())
    if not results:
        return {"svg": Markup(""), "rows": [], "t0": None, "span": 0.0}
    t0 = min(r.start for r in results)
    last = max((r.end for r in results if r.end is not None), default=t0)
    if summary.ended is not None:
        last = max(last, summary.ended)
    span = max(last - t0, 1.0)
    rank = {p: i for i, p in enumerate(order or summary.phases)}
    lanes, rows = [], []
    for cloud in summary.clouds:
        mine = sorted((r for r in results if r.cloud == cloud), key=lambda r: (r.start, rank.get(r.phase, 99)))
        bars = []
        for r in mine:
            end = r.end if r.end is not None else last  # unfinished: drawn to the end of what we know
            took = "no end recorded" if r.end is None else f"in {seconds(r.duration)}"
            bars.append(Bar(r.start - t0, end - t0, r.outcome, f"{cloud} {r.phase}: {r.outcome} {took}"))
        overlays = waits(summary, cloud, t0)
        lanes.append(Lane(cloud, tuple(bars), tuple(overlays)))
        if mine:
            first = min(r.start for r in mine)
            end_of = max((r.end for r in mine if r.end is not None), default=first)
            rows.append({"cloud": cloud, "start": f"+{seconds(first - t0)}", "end": f"+{seconds(end_of - t0)}",
                         "busy": seconds(sum(r.duration or 0.0 for r in mine)),
                         "waited": seconds(sum(b.end - b.start for b in overlays)) if overlays else "-"})
    desc = (f"{len(summary.clouds)} clouds, {len(rank)} phases, from {clock(t0)} over {seconds(span)}. "
            "Each row is a cloud, each bar a phase coloured by its outcome (a cross follows a failed one); "
            "hatched: waiting at the rendezvous for the other clouds. The table below has the same times.")
    svg = gantt(lanes, span=span, ident="timeline-chart", title="Timeline of every cloud's phases", desc=desc)
    return {"svg": svg, "rows": rows, "t0": t0, "span": span}
