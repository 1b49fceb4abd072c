"""The directory rendezvous, exercised by several worker processes at once."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import textwrap
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from harness.errors import RendezvousError
from harness.rendezvous import DirRendezvous, Gathering, Rendezvous

FORK = multiprocessing.get_context("fork")
CLOUDS = ["lab1", "lab2", "lab3", "lab4"]


def _worker(run: str, cloud: str, delay: float, action: str, timeout: float, queue: Any) -> None:
    """One cloud: after ``delay``, publish (and gather), withdraw, or do nothing."""
    rv = DirRendezvous(Path(run))
    time.sleep(delay)
    if action == "withdraw":
        rv.withdraw("join", cloud, "servers phase failed")
        return
    if action == "silent":
        return
    rv.publish("join", cloud, {"addr": f"10.0.0.{CLOUDS.index(cloud) + 1}"})
    start = time.monotonic()
    got = rv.gather("join", CLOUDS, timeout=timeout, me=cloud)
    queue.put((cloud, dataclasses.asdict(got), time.monotonic() - start))


def _run_clouds(tmp_path: Path, plan: Mapping[str, tuple[float, str]], timeout: float) -> dict[str, Any]:
    queue = FORK.Queue()
    procs = [
        FORK.Process(target=_worker, args=(str(tmp_path), cloud, delay, action, timeout, queue))
        for cloud, (delay, action) in plan.items()
    ]
    for p in procs:
        p.start()
    gatherers = [c for c, (_, action) in plan.items() if action == "publish"]
    results = {}
    for _ in gatherers:
        cloud, got, wall = queue.get(timeout=timeout + 10)
        results[cloud] = (Gathering(**got), wall)
    for p in procs:
        p.join(10)
        assert p.exitcode == 0
    return results


def test_four_processes_on_different_schedules_all_see_everyone(tmp_path: Path) -> None:
    plan = {c: (0.1 * i, "publish") for i, c in enumerate(CLOUDS)}
    results = _run_clouds(tmp_path, plan, timeout=10)
    for cloud, (got, wall) in results.items():
        assert got.present == {c: {"addr": f"10.0.0.{i + 1}"} for i, c in enumerate(CLOUDS)}
        assert got.missing == [] and got.withdrawn == {} and got.complete
        assert wall < 3, f"{cloud} waited {wall:.1f}s although everyone published within 0.3s"


def test_a_withdrawn_cloud_releases_the_others_at_once(tmp_path: Path) -> None:
    plan = {"lab1": (0, "publish"), "lab2": (0, "publish"), "lab3": (0.05, "publish"),
            "lab4": (0.3, "withdraw")}
    results = _run_clouds(tmp_path, plan, timeout=20)
    for cloud, (got, wall) in results.items():
        assert got.withdrawn == {"lab4": "servers phase failed"}
        assert sorted(got.present) == ["lab1", "lab2", "lab3"] and got.missing == []
        assert wall < 3, f"{cloud} waited {wall:.1f}s for a cloud that had withdrawn"


def test_a_silent_cloud_is_missing_at_the_deadline_and_nobody_waits_longer(tmp_path: Path) -> None:
    timeout = 1.0
    plan = {"lab1": (0, "publish"), "lab2": (0, "publish"), "lab3": (0, "publish"),
            "lab4": (0, "silent")}
    results = _run_clouds(tmp_path, plan, timeout=timeout)
    for got, wall in results.values():
        assert got.missing == ["lab4"] and got.withdrawn == {}
        assert sorted(got.present) == ["lab1", "lab2", "lab3"]
        assert timeout <= got.waited <= wall < timeout + 0.5


def test_gather_raises_when_me_has_not_published(tmp_path: Path) -> None:
    rv = DirRendezvous(tmp_path)
    rv.publish("join", "lab2", {"addr": "x"})
    start = time.monotonic()
    with pytest.raises(RendezvousError, match="lab1 gathers 'join' but has not published"):
        rv.gather("join", ["lab1", "lab2"], timeout=5, me="lab1")
    assert time.monotonic() - start < 1  # no point waiting for ourselves


def test_gather_raises_when_me_withdrew(tmp_path: Path) -> None:
    rv = DirRendezvous(tmp_path)
    rv.withdraw("join", "lab1", "no servers")
    with pytest.raises(RendezvousError, match="withdrew from it: no servers"):
        rv.gather("join", ["lab1"], timeout=5, me="lab1")


def test_gather_without_me_reports_late_clouds_instead_of_raising(tmp_path: Path) -> None:
    got = DirRendezvous(tmp_path).gather("join", ["lab1", "lab2"], timeout=0.2)
    assert got.present == {} and got.missing == ["lab1", "lab2"] and not got.complete
    assert 0.2 <= got.waited < 0.6


def test_a_corrupt_entry_raises_naming_the_file(tmp_path: Path) -> None:
    rv = DirRendezvous(tmp_path)
    rv.publish("join", "lab1", {"addr": "x"})
    bad = tmp_path / "rendezvous" / "join" / "lab2.json"
    bad.write_text('{"cloud": "lab2", "stat')
    with pytest.raises(RendezvousError, match=f"corrupt rendezvous entry {bad}"):
        rv.gather("join", ["lab1", "lab2"], timeout=5, me="lab1")


def test_an_entry_for_another_cloud_is_corrupt(tmp_path: Path) -> None:
    rv = DirRendezvous(tmp_path)
    rv.publish("join", "lab1", {"addr": "x"})
    (tmp_path / "rendezvous" / "join" / "lab1.json").rename(tmp_path / "rendezvous" / "join" / "lab2.json")
    with pytest.raises(RendezvousError, match="lab2.json: it names cloud 'lab1'"):
        rv.gather("join", ["lab2"], timeout=1)


def test_entries_are_written_atomically_as_documented(tmp_path: Path) -> None:
    rv = DirRendezvous(tmp_path)
    rv.publish("join", "lab1", {"addr": "10.0.0.1"})
    rv.withdraw("ready", "lab1", "boom")
    ready = json.loads((tmp_path / "rendezvous" / "join" / "lab1.json").read_text())
    assert ready["status"] == "ready" and ready["data"] == {"addr": "10.0.0.1"} and ready["cloud"] == "lab1"
    gone = json.loads((tmp_path / "rendezvous" / "ready" / "lab1.json").read_text())
    assert gone["status"] == "withdrawn" and gone["reason"] == "boom" and "ts" in gone
    assert [p.name for p in (tmp_path / "rendezvous" / "join").iterdir()] == ["lab1.json"]  # no tmp left


@pytest.mark.parametrize("bad", ["", "../x", "a/b", "a\\b", ".hidden"])
def test_names_that_could_escape_the_directory_are_refused(tmp_path: Path, bad: str) -> None:
    rv = DirRendezvous(tmp_path)
    with pytest.raises(ValueError, match="name"):
        rv.publish(bad, "lab1", {})
    with pytest.raises(ValueError, match="cloud name"):
        rv.publish("join", bad, {})
    with pytest.raises(ValueError, match="cloud name"):
        rv.gather("join", ["lab1", bad], timeout=1)


def test_dir_rendezvous_is_a_rendezvous(tmp_path: Path) -> None:
    assert isinstance(DirRendezvous(tmp_path), Rendezvous)
    with pytest.raises(TypeError):
        Rendezvous()  # type: ignore[abstract]


def test_three_xdist_workers_meet_through_the_run_directory(
    pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tmp_path / "run"
    pytester.makepyfile(
        textwrap.dedent(
            f"""
            import os
            import pytest
            from pathlib import Path
            from harness.rendezvous import DirRendezvous

            CLOUDS = ["c1", "c2", "c3"]

            @pytest.mark.parametrize("cloud", CLOUDS)
            def test_join(cloud):
                rv = DirRendezvous(Path({str(run)!r}))
                rv.publish("join", cloud, {{"worker": os.environ["PYTEST_XDIST_WORKER"]}})
                got = rv.gather("join", CLOUDS, timeout=30, me=cloud)
                assert sorted(got.present) == CLOUDS, got
                assert len({{d["worker"] for d in got.present.values()}}) == 3
            """
        )
    )
    # Only xdist: the inner run tests the rendezvous, not whatever plugins are installed.
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    result = pytester.runpytest("-p", "xdist", "-n", "3", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
