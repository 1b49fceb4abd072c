"""The workload's outcomes against a real PostgreSQL on loopback: ok, fail before COMMIT, and the
commit-cancel trap (a commit whose synchronous-replication wait was cancelled returns success
with a WARNING, and must be recorded as unknown, never as acknowledged).

PostgreSQL 15 comes with the lab host's packages (``make test`` installs them first); without
it these tests skip with the reason.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from harness.survive.checks import Thresholds, check_history
from harness.survive.history import HistoryWriter, read_history
from harness.survive.workload import Client, prepare
from harness.waiting import wait_for

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(*argv: str) -> None:
    subprocess.run(["runuser", "-u", "postgres", "--", *argv], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def pg() -> Iterator[str]:
    if not (PG_BIN / "initdb").exists() or shutil.which("runuser") is None or os.geteuid() != 0:
        pytest.skip(f"needs root and PostgreSQL 15 in {PG_BIN} (installed with the lab host's packages)")
    base = Path(tempfile.mkdtemp(prefix="interop-pg-"))
    base.chmod(0o755)
    shutil.chown(base, "postgres", "postgres")
    data, port = base / "data", _free_port()
    _as_postgres(str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres")
    _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(base / "log"), "-w", "-t", "30", "start",
                 "-o", f"-p {port} -k {base} -c listen_addresses=127.0.0.1")
    try:
        yield f"host=127.0.0.1 port={port} user=postgres dbname=postgres connect_timeout=5"
    finally:
        _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "-t", "30", "stop")
        shutil.rmtree(base, ignore_errors=True)


def _add(value: str) -> Callable[[Any], None]:
    def body(cur: Any) -> None:
        cur.execute("INSERT INTO interop_set (v) VALUES (%s)", (value,))

    return body


def _outcomes(path: Path) -> dict[str, str]:
    return {str(op.value): op.type for op in read_history(path) if op.type != "invoke"}


def test_ok_and_an_error_before_commit_is_a_fail(pg: str, tmp_path: Path) -> None:
    prepare(pg)
    with HistoryWriter(tmp_path / "h.jsonl") as history:
        client = Client(1, pg, lambda host: "pg-1", history, "lab1")
        assert client.run("add", "a-1", _add("a-1"))
        assert not client.run("add", "a-1", _add("a-1"))  # unique violation: it did not happen
        client.close()
    ops = [op for op in read_history(tmp_path / "h.jsonl") if op.type != "invoke"]
    assert [(op.value, op.type, op.node, op.cloud) for op in ops] == [("a-1", "ok", "pg-1", "lab1"),
                                                                      ("a-1", "fail", "pg-1", "lab1")]


@pytest.mark.parametrize(("how", "recorded"), [("pg_cancel_backend", "info"), ("pg_terminate_backend", "info")])
def test_a_commit_whose_synchronous_wait_was_cut_short_is_unknown(pg: str, tmp_path: Path, how: str,
                                                                   recorded: str) -> None:
    """Cancelled: COMMIT returns with the WARNING (committed locally); terminated: the connection
    breaks during COMMIT. Neither is an acknowledgement."""
    prepare(pg)
    value = f"sync-{how}"
    path = tmp_path / "h.jsonl"
    with psycopg.connect(pg, autocommit=True) as admin, HistoryWriter(path) as history:
        admin.execute("ALTER SYSTEM SET synchronous_standby_names = 'nobody'")  # every commit now waits
        admin.execute("SELECT pg_reload_conf()")
        try:
            client = Client(1, pg, lambda host: None, history, "lab1")
            done = threading.Thread(target=client.run, args=("add", value, _add(value)))
            done.start()
            _, pid = wait_for(lambda: admin.execute("SELECT pid FROM pg_stat_activity WHERE wait_event = "
                                                    "'SyncRep'").fetchone(),
                              timeout=20, interval=0.1, what="the client's COMMIT to wait for a standby")
            admin.execute(f"SELECT {how}(%s)", (pid[0],))
            done.join(20)
            assert not done.is_alive(), "the client's COMMIT did not return"
            client.close()
        finally:
            admin.execute("ALTER SYSTEM RESET synchronous_standby_names")
            admin.execute("SELECT pg_reload_conf()")
        read = history.invoke(2, "read")  # the final read, as the workload's
        rows = [r[0] for r in admin.execute("SELECT v FROM interop_set WHERE v = %s", (value,))]
        history.complete(read, "ok", rows)
    assert _outcomes(path)[value] == recorded
    assert rows == [value]  # committed locally all the same: this is why it is never "ok"
    verdict = check_history(path, None, Thresholds(0, 30, 0.5)).verdicts[0].verdict
    assert (verdict.check, verdict.outcome) == ("set", "passed")  # unknown and present: recovered, not lost
    assert verdict.details["recovered"]["count"] == 1, verdict.details


def test_a_serialization_failure_at_commit_is_a_fail_and_is_retried(pg: str, tmp_path: Path) -> None:
    """Write skew under SERIALIZABLE: the pivot's COMMIT gets 40001 ("during commit attempt"). The
    server answered, so the transaction definitely did not happen: fail, and retried, never unknown."""
    with psycopg.connect(pg, autocommit=True) as admin:
        admin.execute("CREATE TABLE IF NOT EXISTS skew (k int PRIMARY KEY, n int)")
        admin.execute("TRUNCATE skew")
        admin.execute("INSERT INTO skew VALUES (1, 0), (2, 0)")
    other = psycopg.connect(pg)
    attempts: list[int] = []

    def body(cur: Any) -> None:
        attempts.append(1)
        cur.execute("SELECT n FROM skew WHERE k = 2")
        cur.execute("UPDATE skew SET n = n + 1 WHERE k = 1")
        if len(attempts) == 1:  # another transaction skews against this one and commits first
            other.execute("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
            other.execute("SELECT n FROM skew WHERE k = 1")
            other.execute("UPDATE skew SET n = n + 1 WHERE k = 2")
            other.commit()

    try:
        with HistoryWriter(tmp_path / "h.jsonl") as history:
            client = Client(1, pg, lambda host: "pg-1", history, "lab1")
            assert not client.run("skew", "s-1", body)  # no retries: recorded as it ended
            attempts.clear()
            assert client.run("skew", "s-2", body, retries=2)  # retried after the 40001, then ok
            client.close()
    finally:
        other.close()
    ops = [op for op in read_history(tmp_path / "h.jsonl") if op.type != "invoke"]
    assert [(op.value, op.type) for op in ops] == [("s-1", "fail"), ("s-2", "ok")]
    assert len(attempts) == 2


def test_statement_completion_unknown_is_an_unknown_outcome(pg: str, tmp_path: Path) -> None:
    """40003 (CockroachDB's statement_completion_unknown, raised by the server mid-transaction)
    may have happened: info, never fail."""
    def body(cur: Any) -> None:
        cur.execute("SELECT 1")
        raise psycopg.errors.lookup("40003")("result is ambiguous")

    with HistoryWriter(tmp_path / "h.jsonl") as history:
        client = Client(1, pg, lambda host: "pg-1", history, "lab1")
        assert not client.run("add", "u-1", body, retries=3)
        client.close()
    assert _outcomes(tmp_path / "h.jsonl") == {"u-1": "info"}
