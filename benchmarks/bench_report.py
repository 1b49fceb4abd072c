"""The reports' costs: every report of a synthetic run of 50 clouds x 12 phases with survive samples.

The run is the report tests' synthetic one (tests/report/synthetic.py: the record, each cloud's
survive/<cloud>/samples.json of --samples seconds and faults.json, artifacts), built first and not
timed. Then, in this process: reading and folding the record, and rendering the dashboard
(index.html and a page per cloud), cold (templates compiled on first use) and warm (the median of
--repeat runs). The other exporters (JUnit, RefStack, the history line and page) are timed
each on its own. Targets (issue 13):
rendering every report under 1 s, index.html under 1 MB.

usage: python benchmarks/bench_report.py [--clouds 50] [--phases 12] [--samples 300] [--repeat 5] [--keep DIR]
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "report")]

from synthetic import PHASES, build_run  # noqa: E402

from harness.record import read_events  # noqa: E402
from harness.report.dashboard import render_dashboard  # noqa: E402
from harness.report.junit import write_junit  # noqa: E402
from harness.report.model import summarize  # noqa: E402
from harness.report.refstack import write_refstack  # noqa: E402
from harness.report.trends import HISTORY_FILE, append_history, history_entry  # noqa: E402
from harness.report.trends_html import render_history  # noqa: E402

TARGET_S, TARGET_BYTES = 1.0, 1_000_000


def _trends(run: Path) -> Any:
    """The run's history line and history.html, as export_all writes them at run end."""
    entry = history_entry(summarize(read_events(run / "events.jsonl")))
    append_history(run.parent / HISTORY_FILE, entry)
    return render_history(run.parent)


# the other exporters, each timed on its own (export_all runs them one after the other)
EXPORTERS: dict[str, Callable[[Path], Any]] = {"junit": write_junit, "refstack": write_refstack, "trends": _trends}


def phases(count: int) -> list[str]:
    """The real pipeline's phases, padded with ``extra-N`` before teardown to reach ``count``."""
    base = list(PHASES)
    extra = [f"extra-{i}" for i in range(1, max(0, count - len(base)) + 1)]
    return (base[:-1] + extra + base[-1:])[:count] if count < len(base) else base[:-1] + extra + base[-1:]


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clouds", type=int, default=50)
    parser.add_argument("--phases", type=int, default=12)
    parser.add_argument("--samples", type=int, default=300, help="survive samples (seconds) per cloud")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="build the run here and keep it (default: a temporary dir)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        base = args.keep or Path(tmp)
        clouds = [f"cloud{i:02d}" for i in range(1, args.clouds + 1)]
        fail = {clouds[1]: ("servers", "quota exceeded: instances")} if len(clouds) > 1 else {}
        build_s, run = timed(lambda: build_run(base / "20261118T000000Z-bench", clouds=clouds,
                                               phases=phases(args.phases), samples_s=args.samples,
                                               stack="hosts-patroni", fail=fail))
        events = read_events(run / "events.jsonl")
        fold_s, summary = timed(lambda: summarize(events))
        cold_s, index = timed(lambda: render_dashboard(run))
        warm = [timed(lambda: render_dashboard(run))[0] for _ in range(args.repeat)]
        others = []
        for name, entry in EXPORTERS.items():
            try:
                others.append((name, timed(lambda e=entry: e(run))[0], ""))  # type: ignore[misc]
            except Exception as exc:  # an exporter's own bug is reported, not a crash of the benchmark
                others.append((name, None, f"failed: {type(exc).__name__}: {exc}"))
        size = index.stat().st_size
        zipped = len(gzip.compress(index.read_bytes()))
        pages = sorted((run / "clouds").glob("*.html"))
        pages_size = sum(p.stat().st_size for p in pages)
        every = cold_s + sum(t for _, t, _ in others if t is not None)

        print(f"synthetic run: {len(summary.clouds)} clouds x {len(summary.phases)} phases, {len(events)} events, "
              f"{args.samples} survive samples per cloud; built in {build_s:.2f} s ({run})")
        print(f"{'figure':<42}{'measured':>14}{'target':>12}{'ratio':>8}")
        rows: list[tuple[str, str, str, str]] = [
            ("read + fold the record", f"{fold_s * 1000:.0f} ms", "", ""),
            ("dashboard, cold (index + cloud pages)", f"{cold_s * 1000:.0f} ms", f"{TARGET_S * 1000:.0f} ms",
             f"{cold_s / TARGET_S:.2f}"),
            (f"dashboard, warm (median of {args.repeat})", f"{statistics.median(warm) * 1000:.0f} ms", "", ""),
        ]
        for name, seconds, why in others:
            rows.append((f"{name} exporter", f"{seconds * 1000:.0f} ms" if seconds is not None else "-", "", why))
        rows += [
            ("every report, cold (sum)", f"{every * 1000:.0f} ms", f"{TARGET_S * 1000:.0f} ms",
             f"{every / TARGET_S:.2f}"),
            ("index.html size", f"{size / 1000:.0f} KB", f"{TARGET_BYTES / 1000:.0f} KB", f"{size / TARGET_BYTES:.2f}"),
            ("index.html gzipped", f"{zipped / 1000:.0f} KB", "", ""),
            (f"cloud pages ({len(pages)})", f"{pages_size / 1000:.0f} KB", "", ""),
        ]
        for figure, measured, target, ratio in rows:
            print(f"{figure:<42}{measured:>14}{target:>12}{ratio:>8}" if len(ratio) <= 8 else
                  f"{figure:<42}{measured:>14}{target:>12}  {ratio}")
        ok = every < TARGET_S and size < TARGET_BYTES
        print("within targets" if ok else "OVER TARGET")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
