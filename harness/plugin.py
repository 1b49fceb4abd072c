"""pytest plugin (entry point ``pytest11: interop``): clouds as parameters, phases as tests.

Thin on purpose: options in one group, a per-cloud fixture that calls the library, and
progress lines in the controller process. Each scenario test takes the ``cloud_run``
fixture and runs one phase; it is parametrized by cloud (``test_identity[lab1]``), and the
cloud's tests share an ``xdist_group`` so ``--dist loadgroup`` keeps them on one worker, in
order. The fixture is session-scoped per cloud parameter, so its teardown runs when the
worker is done with that cloud, after failures and on Ctrl-C alike.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .challenge import Challenge, challenge_path, load_challenge
from .clouds import CloudsConfig
from .errors import ConfigError, HarnessError
from .phases import CloudRun, SkipCloud

RUN_ID_KEY = "interop_run_id"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("interop", "OpenStack interop challenge")
    group.addoption("--challenge", default=None, metavar="FILE",
                    help="challenge file (default: $INTEROP_CHALLENGE, else ./challenge.yaml)")
    group.addoption("--clouds", default=None, metavar="A,B",
                    help="run only these clouds of the challenge file (comma-separated)")
    group.addoption("--run-id", default=None, help="run id (default: a new UTC timestamp id)")
    group.addoption("--reports-dir", default=os.environ.get("INTEROP_REPORTS", "reports"), metavar="DIR",
                    help="where run directories go (default: ./reports or $INTEROP_REPORTS)")


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    from .record import new_run_id

    if _is_worker(config):
        run_id = config.workerinput[RUN_ID_KEY]  # type: ignore[attr-defined]
    else:
        run_id = config.getoption("run_id") or new_run_id()
    config.stash[_RUN_ID] = run_id
    if not _is_worker(config):
        if config.getoption("clouds"):
            # fail before any worker starts: one line on stderr, pytest's usage-error exit code
            try:
                selected_clouds(config, _challenge(config))
            except HarnessError as exc:
                raise pytest.UsageError(str(exc)) from None
        config.pluginmanager.register(Progress(config), "interop-progress")


def pytest_configure_node(node: Any) -> None:
    """xdist controller hook: every worker writes into the controller's run."""
    node.workerinput[RUN_ID_KEY] = node.config.stash[_RUN_ID]


_RUN_ID = pytest.StashKey[str]()
_CHALLENGE = pytest.StashKey[Challenge]()


def run_dir_of(config: pytest.Config) -> Any:
    """This session's RunDir (not created): the reports dir option and the controller's run id."""
    from .record import RunDir

    return RunDir(Path(config.getoption("reports_dir")), config.stash[_RUN_ID])


def selected_clouds(config: pytest.Config, challenge: Challenge) -> list[str]:
    return selected_clouds_from(config.getoption("clouds"), challenge)


def selected_clouds_from(wanted: str | None, challenge: Challenge) -> list[str]:
    """The challenge's clouds, or the ``--clouds a,b`` subset of them (unknown names are an error)."""
    names = challenge.cloud_names()
    if not wanted:
        return names
    picked = [n.strip() for n in wanted.split(",") if n.strip()]
    unknown = [n for n in picked if n not in names]
    if unknown:
        raise ConfigError(f"--clouds: {', '.join(unknown)} not in the challenge file (has: {', '.join(names)})")
    return picked


def _challenge(config: pytest.Config) -> Challenge:
    if _CHALLENGE not in config.stash:
        config.stash[_CHALLENGE] = load_challenge(challenge_path(config.getoption("challenge")))
    return config.stash[_CHALLENGE]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "cloud_name" not in metafunc.fixturenames:
        return
    try:
        clouds = selected_clouds(metafunc.config, _challenge(metafunc.config))
    except HarnessError as exc:
        raise pytest.UsageError(str(exc)) from None
    params = [pytest.param(name, id=name, marks=pytest.mark.xdist_group(name)) for name in sorted(clouds)]
    metafunc.parametrize("cloud_name", params)


@pytest.fixture(scope="session")
def interop_challenge(pytestconfig: pytest.Config) -> Challenge:
    return _challenge(pytestconfig)


@pytest.fixture(scope="session")
def interop_clouds() -> CloudsConfig:
    return CloudsConfig.load()


@pytest.fixture(scope="session")
def interop_run_dir(pytestconfig: pytest.Config) -> Path:
    return start_run(pytestconfig).path


def start_run(config: pytest.Config) -> Any:
    """Create the run directory and write its run-start event exactly once, whoever comes first.

    Workers start phases before the controller hears of them, so each process that touches the
    run tries; an O_EXCL marker file makes only the first one write the event.
    """
    from .record import append_event

    run = run_dir_of(config).create()
    try:
        os.close(os.open(run.path / ".run-started", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    except FileExistsError:
        return run
    challenge = _challenge(config)
    append_event(run.events_path, {
        "type": "run-start", "ts": time.time(), "run_id": run.run_id, "stack": challenge.stack,
        "clouds": selected_clouds(config, challenge),
        "challenge": str(challenge_path(config.getoption("challenge"))),
    })
    return run


class CloudRuns:
    """This worker's CloudRun per cloud, created on first use, all closed at session end.

    Function-scoped parametrization keeps collection order (session-scoped parameters would
    let pytest reorder a cloud's phases); the registry gives each cloud one state object.
    """

    def __init__(self, challenge: Challenge, clouds: CloudsConfig, run_dir: Path) -> None:
        self.challenge, self.clouds, self.run_dir = challenge, clouds, run_dir
        self.runs: dict[str, CloudRun] = {}

    def get(self, cloud: str) -> CloudRun:
        if cloud not in self.runs:
            self.runs[cloud] = CloudRun(cloud=cloud, challenge=self.challenge, clouds=self.clouds, run_dir=self.run_dir)
        return self.runs[cloud]

    def close_all(self) -> None:
        for run in self.runs.values():
            run.close()


@pytest.fixture(scope="session")
def interop_cloud_runs(interop_challenge: Challenge, interop_clouds: CloudsConfig,
                       interop_run_dir: Path) -> Iterator[CloudRuns]:
    runs = CloudRuns(interop_challenge, interop_clouds, interop_run_dir)
    try:
        yield runs
    finally:
        runs.close_all()


@pytest.fixture
def cloud_run(cloud_name: str, interop_cloud_runs: CloudRuns) -> CloudRun:
    """The state of the cloud this test runs for, shared by its phases on this worker."""
    return interop_cloud_runs.get(cloud_name)


def run_phase(run: CloudRun, phase: str) -> dict[str, Any]:
    """What a scenario test calls: the phase, with an earlier failure turned into a skip."""
    try:
        return run.run_phase(phase)
    except SkipCloud as exc:
        pytest.skip(str(exc))


# ---- progress and the run's start/end, in the controller (or the only) process --------------


def pytest_itemcollected(item: pytest.Item) -> None:
    """Tag the challenge's tests with cloud and phase; reports carry the tags to the controller."""
    callspec = getattr(item, "callspec", None)
    if callspec is None or "cloud_name" not in callspec.params:
        return
    func = getattr(item, "originalname", item.name)
    item.user_properties.append(("interop_cloud", callspec.params["cloud_name"]))
    item.user_properties.append(("interop_phase", func.removeprefix("test_").replace("_", "-")))


def _cloud_phase(report: pytest.TestReport) -> tuple[str, str] | None:
    props = dict(report.user_properties)
    if "interop_cloud" not in props:
        return None
    return str(props["interop_cloud"]), str(props["interop_phase"])


def _reason(report: pytest.TestReport) -> str:
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        first = str(crash.message).splitlines()[0]
        return re.sub(r"^harness\.errors\.\w+: ", "", first)[:300]
    return str(report.longrepr).splitlines()[-1][:300] if report.longrepr else ""


class Progress:
    """Prints one line per cloud and phase as reports arrive, and opens/closes the run record.

    Registered only in the controller: under xdist the workers' reports are relayed to it, so
    progress is visible while the run goes, whichever worker runs which cloud.
    """

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.started = False

    def say(self, line: str) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(line)
        else:
            print(line, file=sys.stderr, flush=True)

    def _start_run(self) -> None:
        if self.started:
            return
        self.started = True
        run = start_run(self.config)
        self.say(f"interop: run {run.run_id} -> {run.path}")

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        where = _cloud_phase(report)
        if where is None:
            return
        cloud, phase = where
        if report.when == "setup":
            self._start_run()
            if report.passed:
                self.say(f"[{cloud}] {phase} ... started")
            elif report.skipped:
                self.say(f"[{cloud}] {phase} skipped: {_reason(report)}")
            else:
                self.say(f"[{cloud}] {phase} ERROR in setup: {_reason(report)}")
        elif report.when == "call":
            if report.skipped:
                self.say(f"[{cloud}] {phase} skipped: {_reason(report)}")
                return
            outcome = "passed" if report.passed else "FAILED"
            tail = "" if report.passed else f": {_reason(report)}"
            self.say(f"[{cloud}] {phase} {outcome} in {report.duration:.2f}s{tail}")

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        from .record import append_event

        if not self.started:
            return
        run = run_dir_of(self.config)
        append_event(run.events_path, {"type": "run-end", "ts": time.time(), "run_id": run.run_id,
                                       "exitstatus": int(exitstatus)})
        try:
            from .report.summary import render_summary

            self.say(f"interop: report {render_summary(run.path)}")
        except Exception as exc:  # a broken report must not hide the run's own outcome
            self.say(f"interop: could not render the report: {type(exc).__name__}: {exc}")


# ---- xdist: one worker per cloud, and time to tear down on Ctrl-C ---------------------------


def cloud_scope(nodeid: str) -> str:
    """The scheduling unit of a test: ``...::test_servers[lab1]`` -> ``lab1``.

    The ``@group`` suffix xdist adds for ``xdist_group`` wins when present; otherwise the
    parameter id, which for scenario tests is the cloud name (they are parametrized by cloud only).
    """
    if nodeid.rfind("@") > nodeid.rfind("]"):
        return nodeid.rsplit("@", 1)[-1]
    if nodeid.endswith("]") and "[" in nodeid:
        return nodeid[nodeid.rindex("[") + 1:-1]
    return nodeid


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadgroup`` that really keeps a cloud's phases on one worker, in order.

    pytest-xdist 3.8 implements loadgroup by rewriting ``item._nodeid``, which pytest 9 no
    longer reads, so its groups are silently ignored and a cloud's phases would land on
    different workers, each with its own CloudRun. xdist's public scheduler hook does it right.
    """
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class CloudScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return cloud_scope(nodeid)

    _let_workers_tear_down()
    return CloudScheduling(config, log)


def _let_workers_tear_down() -> None:
    """First Ctrl-C: the workers tear their clouds down while the controller keeps listening.

    SIGINT reaches the controller and every worker. Each worker stops and tears its clouds down
    in CloudRun.close (shielded from further interrupts). But an interrupted controller would
    at once tell the workers to exit, and execnet gives a worker 15 s before os._exit(): too
    short to delete servers on a real cloud. So the controller lets the first Ctrl-C pass and
    waits up to the teardown grace; a second Ctrl-C stops it at once.
    """
    from xdist.workermanage import NodeManager

    from .cli import TEARDOWN_GRACE

    NodeManager.EXIT_TIMEOUT = max(NodeManager.EXIT_TIMEOUT, TEARDOWN_GRACE)
    if threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGINT)

    def first_ctrl_c(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGINT, previous)  # the next one interrupts for real
        sys.stderr.write("\ninterop: interrupted: the workers are tearing their clouds down "
                         "(Ctrl-C again to stop at once; then: interop cleanup --run-id)\n")

    signal.signal(signal.SIGINT, first_ctrl_c)
