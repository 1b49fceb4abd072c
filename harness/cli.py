"""The ``interop`` command: check clouds, run the challenge, re-render reports, drive the lab.

    interop clouds                 authenticate to every cloud in clouds.yaml, in parallel
    interop clouds --discover      propose image/flavor/floating_ip per cloud, as challenge YAML
    interop run [-- PYTEST ARGS]   the challenge over the challenge file's clouds (pytest + xdist)
    interop cleanup --run-id ID | --prefix P [--dry-run]   delete what a crashed run left
    interop report RUN             re-render a run's reports from its record
    interop check RUN|HISTORY      re-run the survivability checkers on a stored history
    interop lab up|down|status|env the local lab: a real OpenStack on this machine

Exit codes: 0 all clouds passed, 1 some cloud failed, 2 bad input (one line says which).
(``interop check``: 0 every check passed, 1 some check failed or was aborted.)
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from . import __version__, fastexit
from .errors import ConfigError, HarnessError
from .stacks import DEFAULT_STACK, known_stacks

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
MAX_WORKERS = 16


def _scenarios_dir() -> Path:
    here = Path.cwd() / "scenarios"
    if here.is_dir():
        return here
    return Path(__file__).resolve().parent.parent / "scenarios"


# ---- interop clouds ------------------------------------------------------------------------


def _check_one(config: object, cloud: str) -> dict[str, object]:
    from .clouds import CloudsConfig, check_identity

    assert isinstance(config, CloudsConfig)
    conn = None
    try:
        conn = config.connect(cloud, phase="identity")
        result = check_identity(conn, cloud)
        return {"cloud": cloud, "ok": True, "latency": result.auth_seconds + result.catalog_seconds,
                "services": len(result.services), "cpid": result.cpid, "reason": ""}
    except HarnessError as exc:
        return {"cloud": cloud, "ok": False, "latency": None, "services": 0, "cpid": "", "reason": exc.message}
    finally:
        if conn is not None:
            conn.close()


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def cmd_clouds(args: argparse.Namespace) -> int:
    from .clouds import CloudsConfig

    config = CloudsConfig.load(args.clouds_yaml)
    names = config.names()
    if args.clouds:
        names = [n.strip() for n in args.clouds.split(",") if n.strip()]
        for n in names:
            config.require(n)
    if args.discover:
        return _discover(config, names, args.stack)
    print(f"checking {len(names)} clouds from {config.path}", flush=True)
    with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, max(1, len(names)))) as pool:
        results = list(pool.map(lambda n: _check_one(config, n), names))
    rows = [["CLOUD", "STATUS", "LATENCY", "SERVICES", "CPID", "REASON"]]
    for r in results:
        latency = f"{r['latency'] * 1000:.0f} ms" if r["latency"] is not None else "-"  # type: ignore[operator]
        rows.append([str(r["cloud"]), "ok" if r["ok"] else "FAILED", latency, str(r["services"]),
                     str(r["cpid"]), str(r["reason"])])
    print(_table(rows))
    failed = [r["cloud"] for r in results if not r["ok"]]
    if failed:
        print(f"{len(failed)} of {len(results)} clouds failed: {', '.join(map(str, failed))}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _propose_one(config: object, cloud: str, stack: str) -> dict[str, object]:
    from .clouds import CloudsConfig
    from .provision.context import Context
    from .provision.discovery import propose
    from .provision.naming import Names
    from .stacks import load_stack

    assert isinstance(config, CloudsConfig)
    conn = None
    try:
        conn = config.connect(cloud, phase="discover")
        return {"cloud": cloud, **propose(Context(conn=conn, cloud=cloud, names=Names("discover", cloud),
                                                  phase="discover"), load_stack(stack))}
    except HarnessError as exc:
        return {"cloud": cloud, "error": exc.message}
    finally:
        if conn is not None:
            conn.close()


def discovery_yaml(stack: str, proposals: list[dict[str, object]]) -> str:
    """The proposals as a challenge file, each choice explained in a comment."""
    import yaml

    def scalar(value: object) -> str:
        return str(yaml.safe_dump(value, default_flow_style=True)).strip().removesuffix("...").strip()

    lines = ["# proposed by `interop clouds --discover`: review, then use as the challenge file",
             f"stack: {stack}", "clouds:"]
    for item in proposals:
        if "error" in item:
            lines.append(f"  # {item['cloud']}: not reachable: {item['error']}")
            continue
        lines.append(f"  {scalar(item['cloud'])}:")
        settings, notes = item["settings"], item["notes"]
        assert isinstance(settings, dict) and isinstance(notes, dict)
        for key, value in settings.items():
            note = " ".join(str(notes.get(key, "")).split())
            lines.append(f"    {key}: {scalar(value)}" + (f"  # {note}" if note else ""))
    return "\n".join(lines) + "\n"


def _discover(config: object, names: list[str], stack: str) -> int:
    with ThreadPoolExecutor(max_workers=min(MAX_WORKERS, max(1, len(names)))) as pool:
        proposals = list(pool.map(lambda n: _propose_one(config, n, stack), names))
    print(discovery_yaml(stack, proposals), end="")
    failed = [p["cloud"] for p in proposals if "error" in p]
    if failed:
        print(f"{len(failed)} of {len(proposals)} clouds could not be asked: {', '.join(map(str, failed))}",
              file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


# ---- interop run ---------------------------------------------------------------------------


def default_workers(clouds: int, cpus: int | None = None) -> int:
    """A worker per core, at most one per cloud: each worker runs its clouds side by side in
    threads (harness.lanes), and a worker costs about a second of CPU to start."""
    return max(1, min(MAX_WORKERS, clouds, cpus or os.cpu_count() or 1))


def pytest_args(args: argparse.Namespace, clouds: Sequence[str], run_id: str) -> list[str]:
    """pytest's command line for the run (``interop run`` calls pytest in its own process)."""
    reports = Path(args.reports_dir)
    workers = default_workers(len(clouds)) if args.workers is None else args.workers
    cmd = [str(args.scenarios or _scenarios_dir()),
           "--challenge", str(args.challenge_path), "--run-id", run_id, "--reports-dir", str(reports),
           "--junitxml", str(reports / run_id / "junit.xml"), "-q",
           # allure-pytest's results; the plugin gives them the record's times at session end
           # (never --clean-alluredir: each xdist worker would wipe the others' results)
           "--alluredir", str(reports / run_id / "allure-results"),
           # a test's time is its phase's, not the session's set-up too (agrees with junit-record.xml)
           "-o", "junit_duration_report=call",
           # A scenario run is not a unit-test session: no cache, no assertion rewriting (phases
           # fail with the harness's own errors), no garbage-collection pass at exit hunting
           # unraisable exceptions, no requests-mock fixture. Each costs every xdist worker
           # start-up time (benchmarks/bench_fanout.py).
           "-p", "no:cacheprovider", "-p", "no:unraisableexception", "-p", "no:requests_mock", "--assert=plain"]
    if args.clouds:
        cmd += ["--clouds", args.clouds]
    if getattr(args, "dry_run", False):
        cmd.append("--dry-run")
    if getattr(args, "keep", False):
        cmd.append("--keep")
    if workers > 0:
        # no restarts: a crashed worker's clouds cannot be taken up halfway (their lanes died)
        cmd += ["-n", str(workers), "--dist", "loadgroup", "--max-worker-restart", "0"]
    return cmd + list(args.pytest_args)


def _run_pytest(pytest_argv: list[str]) -> int:
    """pytest in this process: the challenge and clouds.yaml are parsed already, and a second
    interpreter would import pytest, pydantic and openstacksdk all over again.

    Ctrl-C reaches pytest and its workers: each tears its clouds down (the cloud fixture's
    finalizer, with further SIGINTs held off), and the controller waits for them (plugin).
    """
    import pytest

    return int(pytest.main(pytest_argv))


def cmd_run(args: argparse.Namespace) -> int:
    from .challenge import challenge_path, load_challenge
    from .clouds import CloudsConfig
    from .record import new_run_id

    # Validate everything before a single cloud is touched: one clear line per problem.
    args.challenge_path = challenge_path(args.challenge)
    config = CloudsConfig.load(args.clouds_yaml)
    challenge = load_challenge(args.challenge_path, known_clouds=config.names())
    clouds = challenge.select(args.clouds)
    run_id = args.run_id or new_run_id()
    os.environ["OS_CLIENT_CONFIG_FILE"] = str(config.path)  # the workers read the same file
    if fastexit.wanted():
        os.environ[fastexit.WORKERS_ENV] = "1"
    pytest_argv = pytest_args(args, clouds, run_id)
    print(f"interop: {len(clouds)} clouds ({', '.join(clouds)}), stack {challenge.stack}, run {run_id}", flush=True)
    rc = _run_pytest(pytest_argv)
    report = Path(args.reports_dir) / run_id / "index.html"
    if report.exists():
        print(f"interop: report at {report}")
    if rc in (0, 1):
        return rc
    return EXIT_USAGE if rc in (3, 4) else EXIT_FAILED


# ---- interop report ------------------------------------------------------------------------


def resolve_run(reports_dir: Path, run: str) -> Path:
    candidate = Path(run)
    if candidate.is_dir():
        return candidate
    path = reports_dir / run
    if not path.is_dir():
        raise ConfigError(f"no run {run!r} under {reports_dir}")
    return path.resolve()


def cmd_report(args: argparse.Namespace) -> int:
    from .record import read_events
    from .report.summary import render_summary

    reports = Path(args.reports_dir)
    if args.compare:
        return compare_report(reports, args.compare[0], args.compare[1], args)
    run = resolve_run(reports, args.run)
    if not read_events(run / "events.jsonl"):
        raise ConfigError(f"{run}: no events.jsonl record to render from")
    print(render_summary(run))
    from .report.exporters import export_all

    done = export_all(run, reports_dir=run.parent, history_last=args.history_last)
    for path in done.paths:
        print(path)
    for message in done.messages:
        print(f"interop: {message}")
    if args.allure_html:
        from .report.allure_html import render_allure

        print(f"interop: allure report at {render_allure(run)}")
    return EXIT_OK


def compare_report(reports: Path, run_a: str, run_b: str, args: argparse.Namespace) -> int:
    from .report.exporters import compare_runs
    from .report.files import write_atomic
    from .report.trends import Noise
    from .report.trends_html import comparison_html

    comparison = compare_runs(reports, run_a, run_b, Noise(args.noise_rel, args.noise_abs))
    print(comparison.text(), end="")
    if args.html:
        print(f"interop: comparison at {write_atomic(Path(args.html), comparison_html(comparison))}")
    return EXIT_OK


# ---- interop check -------------------------------------------------------------------------


def history_paths(reports_dir: Path, target: str) -> list[Path]:
    """A history file given directly, else a run's (id or directory): ``RUN/survive/history.jsonl``,
    or one per cloud's turn, ``RUN/survive/<cloud>/history.jsonl``."""
    from .survive.history import HISTORY_FILE

    if Path(target).is_file():
        return [Path(target)]
    run = resolve_run(reports_dir, target)
    whole = run / "survive" / HISTORY_FILE
    paths = [whole] if whole.is_file() else sorted((run / "survive").glob(f"*/{HISTORY_FILE}"))
    if not paths:
        raise ConfigError(f"{run}: no survive/{HISTORY_FILE} or survive/<cloud>/{HISTORY_FILE} to check "
                          "(the run had no survive phase)")
    return paths


def cmd_check(args: argparse.Namespace) -> int:
    from .challenge import Survival
    from .survive.checks import Thresholds
    from .survive.faults import FAULTS_FILE, load_faults

    histories = history_paths(Path(args.reports_dir), args.target)
    if args.faults and len(histories) > 1:
        raise ConfigError(f"--faults: the run has {len(histories)} histories, each with its faults.json beside it")
    # the challenge's survival: defaults, so `interop check` judges as the phase does
    thresholds = Thresholds.of(Survival(), max_lost_writes=args.max_lost_writes,
                               max_unavailable_s=args.max_unavailable_s,
                               min_throughput_ratio=args.min_throughput_ratio,
                               recover_fraction=args.recover_fraction, max_recovery_s=args.max_recovery_s,
                               bank_total=args.bank_total)
    bad: list[str] = []
    total = 0
    for history in histories:
        faults_path = Path(args.faults) if args.faults else history.parent / FAULTS_FILE
        faults = load_faults(faults_path) if args.faults or faults_path.is_file() else None
        verdicts = _check_one_history(history, faults, faults_path, thresholds, samples=args.samples)
        total += len(verdicts)
        where = f" ({history.parent.name})" if len(histories) > 1 else ""
        if args.elle:
            from .survive.elle import export_elle

            out = Path(args.elle) / history.parent.name if len(histories) > 1 else Path(args.elle)
            counts = export_elle(history, out)
            print(f"interop: elle-cli histories in {out}: " + ", ".join(f"{m}.json {n} ops" for m, n in counts.items()))
        bad += [f"{check} {outcome}{where}" for check, outcome, passed in verdicts if not passed]
    if bad:
        print(f"{len(bad)} of {total} checks did not pass: {', '.join(bad)}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _check_one_history(history: Path, faults: Any, faults_path: Path, thresholds: Any, *,
                       samples: bool) -> list[tuple[str, str, bool]]:
    """Print one history's verdicts; each as (check and scope, outcome, passed)."""
    from .survive.checks import check_history

    report = check_history(history, faults, thresholds)
    print(f"interop: {report.operations} operations in {history}"
          + (f", faults from {faults_path}" if faults is not None else ", no faults file"), flush=True)
    rows = [["CHECK", "CLOUD", "OUTCOME", "VALUE", "REASON"]]
    rows += [[s.verdict.check, s.cloud or "-", s.verdict.outcome, s.verdict.figure(), s.verdict.reason]
             for s in report.verdicts]
    rows += [[check, "-", "skipped", "", why] for check, why in report.skipped]
    print(_table(rows))
    if samples:
        rows = [["SECOND", "OK", "FAIL", "INFO", "P50", "P99", "MAX"]]
        rows += [[str(x.second), str(x.ok), str(x.fail), str(x.info),
                  *("-" if v is None else f"{v * 1000:.1f} ms" for v in (x.p50_s, x.p99_s, x.max_s))]
                 for x in report.samples]
        print(_table(rows))
    return [(f"{s.verdict.check}{f' ({s.cloud})' if s.cloud else ''}", s.verdict.outcome, s.verdict.passed)
            for s in report.verdicts]


# ---- interop cleanup -----------------------------------------------------------------------


def cmd_cleanup(args: argparse.Namespace) -> int:
    from .clouds import CloudsConfig
    from .provision.cleanup import cleanup_prefix, cleanup_run
    from .provision.naming import check_sweep_prefix

    if args.prefix is not None:
        check_sweep_prefix(args.prefix)  # before touching anything
    config = CloudsConfig.load(args.clouds_yaml)
    clouds = [n.strip() for n in args.clouds.split(",") if n.strip()] if args.clouds else None
    if args.run_id:
        run = resolve_run(Path(args.reports_dir), args.run_id)
        what = f"run {run.name} (ledger {run / 'resources.json'})"
        results = cleanup_run(run, config, clouds=clouds, dry_run=args.dry_run, timeout=args.timeout)
    else:
        what = f"prefix {args.prefix!r} (no ledger: found by name)"
        results = cleanup_prefix(args.prefix, config, clouds=clouds, dry_run=args.dry_run, timeout=args.timeout)
    verb = "would clean" if args.dry_run else "cleaning"
    print(f"interop: {verb} {what} on {len(results)} clouds", flush=True)
    rows = [["CLOUD", "RESULT", "DETAILS"]]
    unclean = []
    for cloud, result in sorted(results.items()):
        if args.dry_run:
            rows.append([cloud, f"{len(result.planned)} to remove", ""])
            rows += [["", "", f"{i.action} {i}"] for i in result.planned]
        else:
            counts = ", ".join(f"{n} {k}" for k, n in sorted(result.counts().items())) or "nothing found"
            status = "clean" if result.clean else "NOT CLEAN"
            rows.append([cloud, status, f"{counts} in {result.seconds:.1f}s"])
            rows += [["", "", f"left: {i}"] for i in result.left]
        rows += [["", "", f"error: {e}"] for e in result.errors]
        if not result.clean:
            unclean.append(cloud)
    print(_table(rows))
    if unclean:
        print(f"{len(unclean)} of {len(results)} clouds not clean: {', '.join(unclean)}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


# ---- interop lab ---------------------------------------------------------------------------


def _stack_image_files() -> list[Path]:
    """The files whose ``image:`` the lab pre-installs for its servers: every registered stack's."""
    from .stacks import known_stacks, load_stack

    return [f for f in (load_stack(name).image_file for name in known_stacks()) if f is not None]


def cmd_lab(args: argparse.Namespace) -> int:
    import interop_lab as lab

    state = Path(args.state_dir) if args.state_dir else lab.default_state_dir()
    if args.lab_command == "up":
        # it prints its own progress and how to use it
        lab.lab_up(state, clouds=args.lab_clouds, image_files=_stack_image_files())
        return EXIT_OK
    if args.lab_command == "down":
        lab.lab_down(state, purge=args.purge)
        return EXIT_OK
    if args.lab_command == "status":
        status = lab.lab_status(state)
        rows = [["SERVICE", "STATE", "PID", "RSS", "ENDPOINT"]]
        for svc in status.services:
            rows.append([svc.name, "running" if svc.running else "stopped", str(svc.pid or "-"),
                         f"{svc.rss_mib:.0f} MiB" if svc.running else "-", svc.url or ""])
        print(f"lab in {status.state_dir}: {'up' if status.up else 'DOWN'}, "
              f"clouds: {', '.join(status.clouds) or 'none'}, RSS {status.rss_mib:.0f} MiB")
        print(_table(rows))
        return EXIT_OK if status.up else EXIT_FAILED
    print(lab.lab_env(state))
    return EXIT_OK


# ---- parser --------------------------------------------------------------------------------


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, not {text}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {text}")
    return value


def _ratio(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="interop",
        description="Run one real workload across many OpenStack clouds at once, timed per cloud "
                    "and per phase, and report it (HTML, JUnit, record).",
        epilog="Quick start on one machine: interop lab up; eval \"$(interop lab env)\"; interop run",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"interop-harness {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def clouds_yaml(p: argparse.ArgumentParser) -> None:
        p.add_argument("--clouds-yaml", metavar="FILE", default=None,
                       help="clouds.yaml to use (default: openstacksdk's search: $OS_CLIENT_CONFIG_FILE, "
                            "./clouds.yaml, ~/.config/openstack/clouds.yaml, /etc/openstack/clouds.yaml)")

    p = sub.add_parser("clouds", help="check every cloud: authenticate, read the catalog, show latency and cpid",
                       description="Authenticate to every cloud in clouds.yaml in parallel, read its service "
                                   "catalog and print one row per cloud: status, latency, number of services, "
                                   "the cpid RefStack would use, and the reason when it failed. Exit 1 if any failed.")
    clouds_yaml(p)
    p.add_argument("--clouds", metavar="A,B", help="only these clouds")
    p.add_argument("--discover", action="store_true",
                   help="instead: propose image, flavor and floating_ip per cloud, printed as challenge-file YAML")
    p.add_argument("--stack", default=DEFAULT_STACK, choices=known_stacks(),
                   help=f"the stack whose needs --discover matches (default {DEFAULT_STACK})")
    p.set_defaults(func=cmd_clouds)

    p = sub.add_parser("run", help="run the challenge over the clouds of the challenge file",
                       description="Run the challenge: pytest over the scenarios with pytest-xdist. The "
                                   "clouds are dealt to the workers; each worker runs its clouds in "
                                   "parallel, each cloud's phases in order; progress is printed per cloud "
                                   "and phase as it happens. Ctrl-C tears every cloud down first (twice: "
                                   "stop at once, then `interop cleanup --run-id`). Writes "
                                   "reports/<run-id>/ (events.jsonl, index.html, junit.xml) and points "
                                   "reports/latest at it. Arguments after `--` go to pytest. "
                                   f"The challenge file's `stack:` is one of: {', '.join(known_stacks())}.")
    p.add_argument("--challenge", metavar="FILE", default=None,
                   help="challenge file (default: $INTEROP_CHALLENGE, else ./challenge.yaml)")
    clouds_yaml(p)
    p.add_argument("--clouds", metavar="A,B", help="run only these clouds of the challenge file")
    p.add_argument("--run-id", default=None, help="run id (default: a new UTC timestamp id)")
    p.add_argument("--reports-dir", default=os.environ.get("INTEROP_REPORTS", "reports"), metavar="DIR",
                   help="where run directories go (default: ./reports)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help=f"xdist worker processes; each runs its clouds side by side "
                        f"(default: one per CPU core, at most one per cloud and {MAX_WORKERS}; 0 = no xdist)")
    p.add_argument("--scenarios", default=None, metavar="DIR", help="scenario directory (default: ./scenarios)")
    p.add_argument("--dry-run", action="store_true",
                   help="for a stack that cannot run here for real (k8s-cockroach without k3s and CockroachDB): "
                        "provision and prepare the servers for real, render every other artifact into the run "
                        "directory, tear down; the reports show those phases as rendered, not passed")
    p.add_argument("--keep", action="store_true",
                   help="skip teardown: leave the run's servers, networks and security groups on the clouds to "
                        "look at (the record says so); delete them later with `interop cleanup --run-id ID`")
    p.add_argument("pytest_args", nargs=argparse.REMAINDER, help="extra pytest arguments after --")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("report", help="re-render a run's reports from its record, or compare two runs",
                       description="Render a run's reports again from reports/<RUN>/events.jsonl: index.html and "
                                   "a page per cloud (clouds/), junit-record.xml, refstack/<cloud>.json, and its "
                                   "line in reports/history.jsonl with reports/history.html. With --compare, "
                                   "print per cloud and phase whether run B was faster or slower than run A, "
                                   "beyond a noise band of max(--noise-abs, --noise-rel x A's duration).")
    p.add_argument("run", nargs="?", default="latest", help="run id or directory (default: latest)")
    p.add_argument("--reports-dir", default=os.environ.get("INTEROP_REPORTS", "reports"), metavar="DIR")
    p.add_argument("--compare", nargs=2, metavar=("RUN_A", "RUN_B"), help="compare two runs' phase durations")
    p.add_argument("--noise-rel", type=float, default=0.15, metavar="F",
                   help="relative noise band for --compare (default 0.15: the lab's spread between identical runs)")
    p.add_argument("--noise-abs", type=float, default=1.0, metavar="S",
                   help="absolute noise floor in seconds for --compare (default 1.0)")
    p.add_argument("--html", metavar="FILE", help="with --compare: also write the comparison as a page")
    p.add_argument("--history-last", type=_positive_int, default=20, metavar="N",
                   help="runs charted in reports/history.html (default 20)")
    p.add_argument("--allure-html", action="store_true",
                   help="also render RUN/allure-results into one offline file, RUN/allure-report/index.html, "
                        "with Allure 3 (install the pinned version first: make allure)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("check", help="re-run the survivability checkers on a stored history",
                       description="Check a survive history again: RUN (a run id under --reports-dir, or a run "
                                   "directory) reads RUN/survive/history.jsonl, or each cloud's turn, "
                                   "RUN/survive/<cloud>/history.jsonl; or give a history.jsonl file. "
                                   "Fault windows come from faults.json beside it when present (or --faults). "
                                   "Prints one line per check (set, bank, unavailability, throughput-ratio, "
                                   "recovery-time, split-brain) with its value against its threshold. Thresholds "
                                   "default to the challenge file's survival: defaults. Exit 0 if every check "
                                   "passed, 1 if one failed or was aborted, 2 on bad input.")
    p.add_argument("target", metavar="RUN|HISTORY", nargs="?", default="latest",
                   help="run id, run directory or history.jsonl file (default: latest)")
    p.add_argument("--reports-dir", default=os.environ.get("INTEROP_REPORTS", "reports"), metavar="DIR")
    p.add_argument("--faults", metavar="FILE", help="faults.json to use (default: the one beside the history)")
    p.add_argument("--max-lost-writes", type=_count, metavar="N")
    p.add_argument("--max-unavailable-s", type=_positive, metavar="S")
    p.add_argument("--min-throughput-ratio", type=_ratio, metavar="R")
    p.add_argument("--max-recovery-s", type=_positive, metavar="S", help="(default: reported, not judged)")
    p.add_argument("--recover-fraction", type=_ratio, metavar="R",
                   help="throughput counted as recovered at this fraction of the baseline (default 0.8)")
    p.add_argument("--bank-total", type=int, metavar="N", help="the bank's total (default: the first read's sum)")
    p.add_argument("--samples", action="store_true", help="also print the per-second samples")
    p.add_argument("--elle", metavar="DIR", help="also export each history for Jepsen's elle-cli: DIR[/<cloud>]/"
                                                "set.json and bank.json, one JSON array per model")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("cleanup", help="delete what a crashed or killed run left behind",
                       description="Delete a run's resources: with --run-id from its ledger "
                                   "(reports/<run-id>/resources.json) plus a sweep by the run's name prefix; with "
                                   "--prefix by name alone, no state needed (e.g. the ledger is gone). Clouds in "
                                   "parallel, dependency order, verified. Exit 1 if anything is left.")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--run-id", metavar="ID", help="the run to clean up (its id or run directory)")
    which.add_argument("--prefix", metavar="P", help="sweep every cloud for names starting with P (interop-...)")
    p.add_argument("--dry-run", action="store_true", help="only list what would be deleted")
    p.add_argument("--clouds", metavar="A,B", help="only these clouds (default: the ledger's, or all in clouds.yaml)")
    p.add_argument("--timeout", type=float, default=600.0, metavar="S", help="per cloud (default 600)")
    p.add_argument("--reports-dir", default=os.environ.get("INTEROP_REPORTS", "reports"), metavar="DIR")
    clouds_yaml(p)
    p.set_defaults(func=cmd_cleanup)

    p = sub.add_parser("lab", help="a real OpenStack on this machine: up, down, status, env",
                       description="The local lab: Keystone, Placement, Glance, Neutron and Nova from PyPI, "
                                   "MariaDB and RabbitMQ from Debian, no systemd or Docker. `up` is idempotent "
                                   "and registers K clouds (one project and user each) in a generated "
                                   "clouds.yaml; `env` prints the exports to use them.")
    p.add_argument("--state-dir", default=None, metavar="DIR",
                   help="state, logs and venv of the lab (default: $INTEROP_LAB_DIR or /var/tmp/interop-lab)")
    lab_sub = p.add_subparsers(dest="lab_command", metavar="ACTION", required=True)
    up = lab_sub.add_parser("up", help="install if needed, start, register clouds (idempotent)")
    up.add_argument("--clouds", dest="lab_clouds", type=int, default=3, metavar="K",
                    help="number of lab clouds (projects) to register (default 3)")
    down = lab_sub.add_parser("down", help="stop every lab process")
    down.add_argument("--purge", action="store_true", help="also delete the state directory")
    lab_sub.add_parser("status", help="show each lab service and whether it runs")
    lab_sub.add_parser("env", help="print shell exports: eval \"$(interop lab env)\"")
    p.set_defaults(func=cmd_lab)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # progress must show as it happens also when stdout is a pipe or a CI log, not at exit
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(line_buffering=True)
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "pytest_args", None) and args.pytest_args[0] == "--":
        args.pytest_args = args.pytest_args[1:]
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"interop: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except HarnessError as exc:
        print(f"interop: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interop: interrupted", file=sys.stderr)
        return 130


def console_main() -> None:
    """The ``interop`` command: :func:`main`, then exit without the interpreter's teardown
    (harness.fastexit; ``INTEROP_SLOW_EXIT=1`` for the ordinary exit)."""
    rc = main()
    if not fastexit.wanted():
        sys.exit(rc)
    fastexit.exit_now(rc)


if __name__ == "__main__":
    console_main()
