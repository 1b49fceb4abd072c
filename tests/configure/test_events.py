"""ansible-runner events -> timed plays, slowest tasks, failures (harness/configure/events.py).

The data files are events recorded from lab runs of playbooks/prepare.yml and deploy.yml
(artifacts/<cloud>/ansible-*/events.jsonl; gathered facts cut from configure-ok).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.configure.events import failure_message, parse_time, summarize

DATA = Path(__file__).with_name("data")


def recorded(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (DATA / f"{name}.jsonl").read_text().splitlines() if line.strip()]


def test_plays_are_timed_from_start_to_the_next_play() -> None:
    s = summarize(recorded("configure-ok"))
    assert [p.name for p in s.plays] == ["Check the hosts", "Install the stack's packages where missing",
                                        "Prepare PostgreSQL, Patroni and etcd"]
    assert [round(p.duration, 2) for p in s.plays] == [3.77, 5.15, 7.94]
    assert all(a.end == b.start for a, b in zip(s.plays, s.plays[1:], strict=False))
    assert not s.failures


def test_changes_and_stats_per_host() -> None:
    s = summarize(recorded("configure-ok"))
    assert s.changed == 6
    assert s.stats["db-c1-1-21cc"] == {"ok": 9, "changed": 3, "failures": 0, "dark": 0, "skipped": 3,
                                       "rescued": 0, "ignored": 0}
    assert "db-c1-2-21cc: Directories" in s.changed_tasks()


def test_slowest_tasks_take_the_slowest_host_of_each_task() -> None:
    slowest = summarize(recorded("configure-ok")).slowest(3)
    assert [t["task"] for t in slowest] == ["Directories", "Look up the stack's Debian packages", "Gathering Facts"]
    assert slowest[0] == {"task": "Directories", "play": "Prepare PostgreSQL, Patroni and etcd",
                          "host": "db-c1-1-21cc", "seconds": 4.76}
    assert slowest == sorted(slowest, key=lambda t: -t["seconds"])


def test_unreachable_hosts_are_failures_with_the_ssh_reason() -> None:
    s = summarize(recorded("configure-unreachable"))
    assert {f.host for f in s.failures} == {"db-c1-1-2943", "db-c1-2-2943"}
    f = s.failures[0]
    assert f.unreachable and f.task == "Gathering Facts"
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" in f.message and "@@@" not in f.message
    assert f.describe().startswith(f"host {f.host}: unreachable in task 'Gathering Facts': ")


def test_a_failed_task_names_host_task_and_why() -> None:
    s = summarize(recorded("deploy-failed"))
    assert [f.describe() for f in s.failures] == [
        "host db-c1-1-4762: failed in task 'Start etcd': Error executing command.; "
        "rc 2 from /usr/local/sbin/interop-svc etcd start"]
    assert [p.name for p in s.plays] == ["Check the secrets", "Etcd members"]


def test_ignored_errors_are_not_failures() -> None:
    events = [{"event": "runner_on_failed", "counter": 1, "created": "2026-11-25T00:00:00+00:00",
               "event_data": {"host": "h", "task": "t", "ignore_errors": True, "res": {"msg": "x"}}}]
    assert summarize(events).failures == []


@pytest.mark.parametrize(("res", "message"), [
    ({"msg": "MODULE FAILURE", "module_stderr": "Traceback\nValueError: x\n"}, "MODULE FAILURE; Traceback | ValueError: x"),
    ({"msg": "non-zero return code", "rc": 1, "stderr": "a\nb\nc\nd", "cmd": ["pg_dropcluster", "15"]},
     "b | c | d; rc 1 from pg_dropcluster 15"),
    ({"msg": "One or more items failed", "results": [{"failed": False}, {"failed": True, "item": "/etc/x",
                                                                          "msg": "chown failed"}]},
     "item '/etc/x': chown failed"),
    ({}, "no message"),
], ids=["module", "command", "loop", "empty"])
def test_failure_message(res: dict[str, Any], message: str) -> None:
    assert failure_message(res) == message


def test_parse_time() -> None:
    assert parse_time("2026-11-25T00:00:01+00:00") == parse_time("2026-11-25T00:00:01") == 1795564801.0
    assert parse_time("soon") is None and parse_time(None) is None
