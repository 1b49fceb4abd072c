"""Survivability: the workload's history and the pure checkers that judge it.

    history.py       operations (Jepsen's invoke / ok / fail / info), the history.jsonl writer,
                     a streaming reader that checks every line, invokes paired with completions
    faults.py        fault windows, baseline and observations: the faults.json format
    verdict.py       Verdict: check, outcome (passed / failed / aborted), value, unit, threshold
    sets.py          set: acknowledged adds lost, unexpected values, unknown outcomes recovered
    bank.py          bank: every read sums to the total, no negative balance
    availability.py  longest write gap, throughput ratio, time to recover, per-second samples
    split_brain.py   after a cut heals: one leader, one timeline, no writes acknowledged while cut
    checks.py        every checker over one history in one pass (``interop check``, the phase)

Nothing here talks to a database, a cloud or the lab: checkers are pure functions over a
history, tested on histories written by hand (principle 7 of the style guide). Each has a
``check_*`` function over operations and a fold (``feed`` each pair, then ``verdict``) that
:mod:`.checks` drives in one streamed pass.
"""

from __future__ import annotations

from .availability import Sample, check_recovery, check_throughput, check_unavailability, samples
from .bank import check_bank
from .checks import Report, Scoped, Thresholds, check_history, check_pairs
from .faults import Faults, FaultWindow, Observation, Window, load_faults
from .history import HistoryWriter, Op, Pair, pair_ops, read_history, read_pairs
from .sets import check_set
from .split_brain import check_split_brain
from .verdict import Verdict

__all__ = [
    "FaultWindow", "Faults", "HistoryWriter", "Observation", "Op", "Pair", "Report", "Sample", "Scoped",
    "Thresholds", "Verdict", "Window", "check_bank", "check_history", "check_pairs", "check_recovery", "check_set",
    "check_split_brain", "check_throughput", "check_unavailability", "load_faults", "pair_ops", "read_history",
    "read_pairs", "samples",
]
