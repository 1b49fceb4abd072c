"""pytest plugin (entry point ``pytest11: interop``): clouds as parameters, phases as tests.

Thin on purpose: options in one group, a per-cloud fixture that calls the library, the run's
progress in the controller process (harness.progress), and at session end the run-end event
and the report. The scenario module asks :func:`phase_tests` for one test per phase of its
challenge's stack, each taking the ``cloud_run`` fixture and parametrized by cloud
(``test_identity[lab1]``). Under ``--dist loadgroup`` the clouds are dealt to the workers up
front (harness.scheduling) and each process runs its clouds side by side, a lane (thread) per
cloud running its phases in order (harness.lanes); the tests wait for their phases. The
session fixture stops the lanes and waits for their teardown, after failures and on Ctrl-C alike.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from . import tags
from .challenge import Challenge, challenge_path, load_challenge
from .clouds import CloudsConfig
from .engine import CloudRun
from .errors import HarnessError, SkipCloud
from .record import RENDERED
from .settings import TEARDOWN_GRACE

if TYPE_CHECKING:
    from .progress import Progress
    from .record import RunDir
    from .stacks.base import Pipeline

log = logging.getLogger(__name__)

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
    group.addoption("--dry-run", action="store_true", default=False,
                    help="provision and prepare for real, render what cannot run here (stacks that offer it)")
    group.addoption("--keep", action="store_true", default=False,
                    help="skip teardown: leave the run's resources for `interop cleanup --run-id` to delete")


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
    _CONFIGS.append(config)
    if not _is_worker(config):
        if config.getoption("clouds"):
            # fail before any worker starts: one line on stderr, pytest's usage-error exit code
            try:
                selected_clouds(config, _challenge(config))
            except HarnessError as exc:
                raise pytest.UsageError(str(exc)) from None
        if config.getoption("dry_run"):
            _check_dry_run(config)
        from .progress import Progress

        progress = Progress(config, run_dir_of(config), start=lambda: start_run(config))
        config.stash[_PROGRESS] = progress
        config.pluginmanager.register(progress, "interop-progress")


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """A worker of ``interop run`` ends here, without the interpreter's teardown (harness.fastexit).

    Its results went to the controller in pytest_sessionfinish, and the controller waits for
    every worker to exit. Only for the workers of ``interop run``, never in a plain pytest session.
    """
    from . import fastexit

    if config in _CONFIGS:
        _CONFIGS.remove(config)
    if _is_worker(config) and os.environ.get(fastexit.WORKERS_ENV):
        fastexit.exit_now(0)


def pytest_configure_node(node: Any) -> None:
    """xdist controller hook: every worker writes into the controller's run, and is dealt its clouds."""
    from .scheduling import ASSIGNED_KEY, deal

    node.workerinput[RUN_ID_KEY] = node.config.stash[_RUN_ID]
    if node.config.getvalue("dist") != "loadgroup":
        return
    try:
        clouds = selected_clouds(node.config, _challenge(node.config))
    except HarnessError:
        return  # the workers' collection reports the bad challenge file, once, clearly
    node.workerinput[ASSIGNED_KEY] = deal(clouds, node.workerinput["workerid"], node.workerinput["workercount"])


def _check_dry_run(config: pytest.Config) -> None:
    """--dry-run only for a stack whose phases honour it: another would run for real under that name."""
    from .stacks import load_stack

    try:
        stack = load_stack(_challenge(config).stack)
    except HarnessError as exc:
        raise pytest.UsageError(str(exc)) from None
    if not stack.dry_run:
        raise pytest.UsageError(f"--dry-run: stack {stack.name} has no dry run (its phases would run for real)")


_RUN_ID = pytest.StashKey[str]()
_CHALLENGE = pytest.StashKey[Challenge]()
_PIPELINE: pytest.StashKey[Pipeline] = pytest.StashKey()
_PROGRESS: pytest.StashKey[Progress] = pytest.StashKey()
# the sessions configured in this process, innermost last (pytester nests them)
_CONFIGS: list[pytest.Config] = []


def run_dir_of(config: pytest.Config) -> RunDir:
    """This session's RunDir (not created): the reports dir option and the controller's run id."""
    from .record import RunDir

    return RunDir(Path(config.getoption("reports_dir")), config.stash[_RUN_ID])


def selected_clouds(config: pytest.Config, challenge: Challenge) -> list[str]:
    return challenge.select(config.getoption("clouds"))


def _challenge(config: pytest.Config) -> Challenge:
    if _CHALLENGE not in config.stash:
        config.stash[_CHALLENGE] = load_challenge(challenge_path(config.getoption("challenge")))
    return config.stash[_CHALLENGE]


def pipeline_of(config: pytest.Config) -> Pipeline:
    """The phases every cloud of this session runs: provisioning's around the challenge's stack's."""
    if _PIPELINE not in config.stash:
        from .provision.pipeline import pipeline_for
        from .stacks import load_stack

        config.stash[_PIPELINE] = pipeline_for(load_stack(_challenge(config).stack))
    return config.stash[_PIPELINE]


def phase_tests(module: str) -> dict[str, Any]:
    """One test per phase of this session's pipeline, for the scenario module ``module``.

    Named ``test_<phase>`` (``test_security_groups``), in pipeline order; pytest parametrizes
    each by cloud. A challenge file that does not load gives the provisioning tests alone, and
    their parametrization reports the error.
    """
    if not _CONFIGS:
        raise RuntimeError("phase_tests() is for a scenario module collected by pytest with the interop plugin")
    try:
        names = pipeline_of(_CONFIGS[-1]).names()
    except HarnessError:
        names = ("identity",)
    tests: dict[str, Any] = {}
    for phase in names:
        test = _phase_test(phase)
        test.__module__ = module
        tests[test.__name__] = test
    return tests


def _phase_test(phase: str) -> Any:
    def test(cloud_run: CloudRun) -> None:
        run_phase(cloud_run, phase)

    test.__name__ = test.__qualname__ = tags.test_name(phase)
    test.__doc__ = f"The {phase} phase of one cloud."
    return test


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
def interop_pipeline(pytestconfig: pytest.Config) -> Pipeline:
    """Every cloud's phases, in order. A seam for tests: a conftest may override it."""
    return pipeline_of(pytestconfig)


@pytest.fixture(scope="session")
def interop_run_dir(pytestconfig: pytest.Config) -> Path:
    return start_run(pytestconfig).path


def start_run(config: pytest.Config) -> RunDir:
    """Create the run directory and write its run-start event exactly once, whoever comes first.

    Workers start phases before the controller hears of them, so each process that touches the
    run tries; an O_EXCL marker file makes only the first one write the event.
    """
    from .record import SCHEMA_VERSION

    run = run_dir_of(config).create()
    try:
        os.close(os.open(run.path / ".run-started", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    except FileExistsError:
        return run
    challenge = _challenge(config)
    path = challenge_path(config.getoption("challenge"))
    # the thresholds too, for reports read from the record alone
    flags: dict[str, bool] = {}
    if config.getoption("dry_run"):
        flags["dry_run"] = True  # reports say "rendered", not passed
    if config.getoption("keep"):
        flags["keep"] = True  # teardown skipped on purpose: the resources wait for `interop cleanup`
    run.append("run-start", schema=SCHEMA_VERSION, run_id=run.run_id, stack=challenge.stack,
               clouds=selected_clouds(config, challenge), challenge=str(path),
               name=challenge.name or path.stem, survival=challenge.survival.model_dump(), **flags)
    return run


class CloudRuns:
    """This worker's CloudRun per cloud, created on first use, all closed at session end.

    Function-scoped parametrization keeps collection order (session-scoped parameters would
    let pytest reorder a cloud's phases); the registry gives each cloud one state object.
    """

    def __init__(self, challenge: Challenge, clouds: CloudsConfig, run_dir: Path, pipeline: Pipeline,
                 dry_run: bool = False, keep: bool = False) -> None:
        self.challenge, self.clouds, self.run_dir, self.pipeline = challenge, clouds, run_dir, pipeline
        self.dry_run, self.keep = dry_run, keep
        self.runs: dict[str, CloudRun] = {}
        self.lanes: list[Any] = []

    def get(self, cloud: str) -> CloudRun:
        if cloud not in self.runs:
            self.runs[cloud] = CloudRun(cloud=cloud, challenge=self.challenge, clouds=self.clouds,
                                        run_dir=self.run_dir, pipeline=self.pipeline, dry_run=self.dry_run,
                                        keep=self.keep)
        return self.runs[cloud]

    def start_lanes(self, plan: dict[str, list[str]]) -> None:
        """Run each planned cloud's phases in a lane of its own, starting now."""
        from .lanes import start_lanes

        self.lanes = start_lanes((self.get(cloud), phases) for cloud, phases in plan.items())

    def close_all(self) -> None:
        from . import cancel
        from .lanes import stop_lanes

        if self.lanes:
            with cancel.sigint_held():  # the lanes are tearing down (harness.cancel)
                left = stop_lanes(self.lanes, timeout=TEARDOWN_GRACE)
            for cloud in left:
                log.warning("cloud %s: still tearing down at exit; run `interop cleanup --run-id`", cloud)
        for run in self.runs.values():
            if run.lane is None:
                run.close()


def lane_plan(config: pytest.Config, items: list[pytest.Item], pipeline: Pipeline) -> dict[str, list[str]]:
    """The phases, in order, of each cloud this process runs in lanes.

    Without xdist that is every cloud; in a worker, the clouds dealt to it. Under another
    ``--dist`` mode no one knows which worker gets a cloud's phases, so there are no lanes and
    each test runs its phase itself.
    """
    from .scheduling import ASSIGNED_KEY

    if _is_worker(config):
        mine = config.workerinput.get(ASSIGNED_KEY)  # type: ignore[attr-defined]
        if mine is None:
            return {}
        wanted: set[str] | None = set(mine)
    else:
        wanted = None
    phases = set(pipeline.names())
    plan: dict[str, list[str]] = {}
    for item in items:
        where = tags.cloud_phase(item)
        if where is None or where[1] not in phases or (wanted is not None and where[0] not in wanted):
            continue
        plan.setdefault(where[0], []).append(where[1])
    return plan


@pytest.fixture(scope="session")
def interop_cloud_runs(request: pytest.FixtureRequest, interop_challenge: Challenge, interop_clouds: CloudsConfig,
                       interop_run_dir: Path, interop_pipeline: Pipeline) -> Iterator[CloudRuns]:
    from . import cancel

    cancel.reset()
    runs = CloudRuns(interop_challenge, interop_clouds, interop_run_dir, interop_pipeline,
                     dry_run=bool(request.config.getoption("dry_run")), keep=bool(request.config.getoption("keep")))
    try:
        runs.start_lanes(lane_plan(request.config, request.session.items, interop_pipeline))
        yield runs
    finally:
        runs.close_all()


def pytest_keyboard_interrupt(excinfo: Any) -> None:
    """Ctrl-C reaches only the main thread: tell the lanes to stop at their next wait."""
    from . import cancel

    cancel.request()


@pytest.fixture
def cloud_run(cloud_name: str, interop_cloud_runs: CloudRuns) -> CloudRun:
    """The state of the cloud this test runs for, shared by its phases on this worker."""
    return interop_cloud_runs.get(cloud_name)


def run_phase(run: CloudRun, phase: str) -> dict[str, Any]:
    """What a scenario test calls: the phase's outcome, with an earlier failure turned into a skip.

    When the cloud runs in a lane the phase is already running there (or done): wait for it.
    """
    try:
        if run.lane is not None and phase in run.lane.phases:
            details = run.lane.outcome(phase)
        else:
            details = run.run_phase(phase)
    except SkipCloud as exc:
        pytest.skip(str(exc))
    why = details.get(RENDERED)
    if isinstance(why, str) and why:  # a dry run's rendering did not pass: pytest's JUnit agrees with the record's
        pytest.skip(f"rendered, not run: {why}")
    return details


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A lane's test waits for its phase; its report gets the phase's own run time instead."""
    report = yield
    run = getattr(item, "funcargs", {}).get("cloud_run")
    where = tags.cloud_phase(item)
    if call.when == "call" and isinstance(run, CloudRun) and run.lane is not None and where is not None:
        if where[1] in run.lane.durations:
            report.duration = run.lane.durations[where[1]]
    return report


# ---- tags, and the run's end --------------------------------------------------------------


def pytest_itemcollected(item: pytest.Item) -> None:
    """Tag the challenge's tests with cloud and phase; reports carry the tags to the controller."""
    tags.tag(item)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In the controller: the last progress lines, the run-end event, then the report."""
    config = session.config
    if _is_worker(config) or _PROGRESS not in config.stash:
        return
    progress = config.stash[_PROGRESS]
    progress.stop()
    if not progress.started:
        return
    run = run_dir_of(config)
    run.append("run-end", run_id=run.run_id, exitstatus=int(exitstatus))
    try:
        from .report.summary import render_summary

        progress.say(f"interop: report {render_summary(run.path)}")
    except Exception as exc:  # a broken report must not hide the run's own outcome
        progress.say(f"interop: could not render the report: {type(exc).__name__}: {exc}")
    try:  # apart: a broken exporter must not hide the dashboard either
        from .report.exporters import export_all

        for message in export_all(run.path, reports_dir=run.root).messages:
            progress.say(f"interop: {message}")
    except Exception as exc:
        progress.say(f"interop: could not export the reports: {type(exc).__name__}: {exc}")


# ---- Allure (allure-pytest, when --alluredir is given) -------------------------------------------
# Labels go on in the worker, as the test starts; times, steps and attachments come from the
# record once every worker is done (harness.report.allure_results says why). Own hook names
# (specname) keep this section apart from the hooks above.


def _alluredir(config: pytest.Config) -> str | None:
    if not config.pluginmanager.hasplugin("allure_listener"):
        return None
    return getattr(config.option, "allure_report_dir", None) or None


@pytest.hookimpl(tryfirst=True, specname="pytest_runtest_setup")
def pytest_runtest_setup_allure(item: pytest.Item) -> None:
    """Before the fixtures, so a test whose set-up fails still lands in its cloud's suite."""
    where = tags.cloud_phase(item)
    if where is None or _alluredir(item.config) is None:
        return
    import allure

    from .report.allure_results import suite_labels

    challenge = _challenge(item.config)
    run_id = item.config.stash[_RUN_ID]
    for name, value in suite_labels(name=challenge.name or challenge_path(item.config.getoption("challenge")).stem,
                                    run_id=run_id, stack=challenge.stack, cloud=where[0], phase=where[1]):
        allure.dynamic.label(name, value)


@pytest.hookimpl(trylast=True, specname="pytest_sessionfinish")
def pytest_sessionfinish_allure(session: pytest.Session, exitstatus: int) -> None:
    """In the controller, after every worker wrote its results: the record's story into them."""
    config = session.config
    results = _alluredir(config)
    if _is_worker(config) or results is None or not run_dir_of(config).events_path.is_file():
        return
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    say = reporter.write_line if reporter is not None else (lambda line: print(line, file=sys.stderr))
    try:
        from .report.allure_results import apply_record

        applied = apply_record(run_dir_of(config).path, Path(results))
        for message in applied.messages:
            say(f"interop: {message}")
    except Exception as exc:  # the run's outcome and its other reports stand without it
        say(f"interop: could not finish the allure results: {type(exc).__name__}: {exc}")


# ---- xdist: clouds dealt to workers, and time to tear down on Ctrl-C --------------------------


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadgroup`` as the challenge needs it: each worker gets its dealt clouds' tests.

    pytest-xdist 3.8 implements loadgroup by rewriting ``item._nodeid``, which pytest 9 no
    longer reads, so its groups are silently ignored and a cloud's phases would land on
    different workers. xdist's public scheduler hook does it right (harness.scheduling).
    """
    if config.getvalue("dist") != "loadgroup":
        return None
    from .scheduling import CloudScheduling

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

    NodeManager.EXIT_TIMEOUT = max(NodeManager.EXIT_TIMEOUT, TEARDOWN_GRACE)
    if threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGINT)

    def first_ctrl_c(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGINT, previous)  # the next one interrupts for real
        sys.stderr.write("\ninterop: interrupted: the workers are tearing their clouds down "
                         "(Ctrl-C again to stop at once; then: interop cleanup --run-id)\n")

    signal.signal(signal.SIGINT, first_ctrl_c)
