"""The survive phase's SQL workload: bank transfers and acknowledged inserts, as a Jepsen history.

Clients run in threads of the harness, each on its own psycopg connection to the writable
member (the stack's DSN: every member listed, ``target_session_attrs=read-write``, with
connect, keepalive and TCP user timeouts), at a bounded total rate, for a bounded time and
count. Every operation is an ``invoke`` followed by one completion:

- ``ok``   COMMIT returned and no ``canceling wait for synchronous replication`` warning came
           with it (that commit is local only and may be lost by a failover);
- ``fail`` the error came before COMMIT was sent: it did not happen;
- ``info`` unknown: the connection broke or timed out during COMMIT, or the warning above.

An in-flight COMMIT is never cancelled by the client; only the TCP user timeout ends it.

Two workloads share the clients:

- **set** (``f="add"``): insert a value unique to the run and cloud into ``interop_set``;
- **bank** (``f="transfer"``, ``f="read"``): move money between accounts of ``interop_bank``
  under SERIALIZABLE (40001 and 40P01 retried with backoff, bounded); reads see the balances.

The final reads close the history: ``f="read"`` with the set's values (a list) and with the
bank's balances (``{account: balance}``), the shapes :mod:`.sets` and :mod:`.bank` judge.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from .history import HistoryWriter

ACCOUNTS = 8
INITIAL_BALANCE = 100
RETRY_CODES = ("40001", "40P01")  # serialization failure, deadlock: the transaction did not happen
UNKNOWN_CODES = ("40003",)  # statement_completion_unknown (CockroachDB): it may or may not have happened
SYNC_CANCEL = "canceling wait for synchronous replication"
MAX_RETRIES = 3

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS interop_set (v text PRIMARY KEY)",
    "CREATE TABLE IF NOT EXISTS interop_bank (id int PRIMARY KEY, balance bigint NOT NULL)",
)


@dataclass
class Limits:
    """How hard and how long the workload pushes: every loop is bounded by both."""

    clients: int = 4
    rate: float = 40.0  # operations per second, all clients together
    max_seconds: float = 300.0
    max_ops: int = 100_000


class Outcome(Exception):
    """How an operation ended when it did not end ``ok``: ``fail`` or ``info``, and why."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind


def _sqlstate(exc: BaseException) -> str | None:
    return getattr(exc, "sqlstate", None)


class Client:
    """One connection and the operations it runs; reconnects (bounded) after the connection broke."""

    def __init__(self, process: int, dsn: str, node_of: Callable[[str], str | None], history: HistoryWriter,
                 cloud: str, cloud_of: Callable[[str], str | None] = lambda node: None) -> None:
        self.process, self.dsn, self.node_of, self.history, self.cloud = process, dsn, node_of, history, cloud
        self.cloud_of = cloud_of
        self.conn: Any = None
        self.node: str | None = None
        self.warnings: list[str] = []
        self.node_cloud: str | None = None

    def _connect(self) -> Any:
        import psycopg

        if self.conn is None or self.conn.closed:
            self.conn = psycopg.connect(self.dsn, autocommit=False)
            self.conn.add_notice_handler(lambda diag: self.warnings.append(str(diag.message_primary or "")))
            self.node = self.node_of(str(self.conn.info.host))
            self.node_cloud = self.cloud_of(self.node) if self.node else None
        return self.conn

    def close(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            finally:
                self.conn = None

    @contextmanager
    def _transaction(self, isolation: str) -> Iterator[Any]:
        """A transaction whose errors say fail (before COMMIT) or info (during COMMIT)."""
        import psycopg

        try:
            conn = self._connect()
        except psycopg.Error as exc:
            raise Outcome("fail", f"connect: {exc}") from None
        self.warnings.clear()
        try:
            with conn.cursor() as cur:
                cur.execute(f"SET TRANSACTION ISOLATION LEVEL {isolation}")
                yield cur
        except psycopg.Error as exc:
            self._rollback()
            code = _sqlstate(exc)
            raise Outcome("info" if code in UNKNOWN_CODES else "fail", f"{code or type(exc).__name__}: {exc}") from None
        try:
            conn.commit()
        except psycopg.Error as exc:
            self.close()  # the connection's state is unknown: start afresh
            code = _sqlstate(exc)
            if code in RETRY_CODES:  # the server answered: rolled back, so it definitely did not happen
                raise Outcome("fail", f"{code}: {exc}") from None
            raise Outcome("info", f"commit: {code or type(exc).__name__}: {exc}") from None
        if any(SYNC_CANCEL in w for w in self.warnings):
            raise Outcome("info", "commit returned with a cancelled synchronous-replication wait")

    def _rollback(self) -> None:
        try:
            if self.conn is not None and not self.conn.closed:
                self.conn.rollback()
        except Exception:
            self.close()

    def run(self, f: str, value: Any, body: Callable[[Any], Any], isolation: str = "SERIALIZABLE",
            retries: int = 0) -> bool:
        """Record ``f`` with ``value`` as invoked, run ``body`` in a transaction, record how it ended
        (the ok value: what ``body`` returned, else ``value``); whether it ended ok."""
        op = self.history.invoke(self.process, f, value, node=self.node, cloud=self.cloud)
        attempt = 0
        while True:
            try:
                with self._transaction(isolation) as cur:
                    result = body(cur)
            except Outcome as out:
                retryable = out.kind == "fail" and any(str(out).startswith(code) for code in RETRY_CODES)
                if retryable and attempt < retries:
                    attempt += 1
                    time.sleep(0.05 * 2 ** attempt * random.random())
                    continue
                self.history.complete(op, "fail" if out.kind == "fail" else "info", node=self.node,
                                      cloud=self.node_cloud)
                return False
            # the completion carries the serving node's cloud: a cut cloud must acknowledge nothing
            self.history.complete(op, "ok", result if result is not None else value, node=self.node,
                                  cloud=self.node_cloud)
            return True


def prepare(dsn: str) -> None:
    """Tables and the bank's accounts, once (every cloud may call it; it changes nothing twice)."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in SCHEMA:
            conn.execute(statement)
        conn.execute("INSERT INTO interop_bank (id, balance) SELECT g, %s FROM generate_series(1, %s) g "
                     "ON CONFLICT (id) DO NOTHING", (INITIAL_BALANCE, ACCOUNTS))


def bank_total() -> int:
    return ACCOUNTS * INITIAL_BALANCE


def _add(value: str) -> Callable[[Any], Any]:
    def body(cur: Any) -> None:
        cur.execute("INSERT INTO interop_set (v) VALUES (%s)", (value,))

    return body


def _transfer(src: int, dst: int, amount: int) -> Callable[[Any], Any]:
    def body(cur: Any) -> dict[str, int]:
        cur.execute("SELECT balance FROM interop_bank WHERE id = %s", (src,))
        row = cur.fetchone()
        moved = max(0, min(amount, int(row[0]))) if row else 0  # never below zero by our hand
        cur.execute("UPDATE interop_bank SET balance = balance - %s WHERE id = %s", (moved, src))
        cur.execute("UPDATE interop_bank SET balance = balance + %s WHERE id = %s", (moved, dst))
        return {"from": src, "to": dst, "amount": moved}

    return body


def _read_bank(cur: Any) -> dict[str, int]:
    cur.execute("SELECT id, balance FROM interop_bank ORDER BY id")
    return {str(i): int(b) for i, b in cur.fetchall()}


def _read_set(prefix: str) -> Callable[[Any], Any]:
    def body(cur: Any) -> list[str]:
        cur.execute("SELECT v FROM interop_set WHERE v LIKE %s", (prefix + "%",))
        return sorted(str(r[0]) for r in cur.fetchall())

    return body


class Workload:
    """Clients in threads until :meth:`stop` (or a bound), then the final reads."""

    def __init__(self, dsn: str, history: HistoryWriter, *, cloud: str, prefix: str, limits: Limits,
                 node_of: Callable[[str], str | None] = lambda host: None,
                 cloud_of: Callable[[str], str | None] = lambda node: None) -> None:
        self.dsn, self.history, self.cloud, self.prefix = dsn, history, cloud, prefix
        self.limits, self.node_of, self.cloud_of = limits, node_of, cloud_of
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._count = 0
        self._count_lock = threading.Lock()

    def start(self) -> Workload:
        deadline = time.monotonic() + self.limits.max_seconds
        interval = self.limits.clients / max(self.limits.rate, 0.001)  # each client's share of the rate
        for process in range(self.limits.clients):
            t = threading.Thread(target=self._client, args=(process, deadline, interval),
                                 name=f"survive-{self.cloud}-{process}", daemon=True)
            self._threads.append(t)
            t.start()
        return self

    def _new_client(self, process: int) -> Client:
        return Client(process, self.dsn, self.node_of, self.history, self.cloud, self.cloud_of)

    def _next(self) -> int | None:
        with self._count_lock:
            if self._count >= self.limits.max_ops:
                return None
            self._count += 1
            return self._count

    def _client(self, process: int, deadline: float, interval: float) -> None:
        client = self._new_client(process)
        rng = random.Random(process)
        try:
            next_at = time.monotonic()
            while not self._stop.is_set() and time.monotonic() < deadline:
                seq = self._next()
                if seq is None:
                    return
                roll = rng.random()
                if roll < 0.5:
                    client.run("add", f"{self.prefix}{process}-{seq}", _add(f"{self.prefix}{process}-{seq}"))
                elif roll < 0.9:
                    src, dst = rng.sample(range(1, ACCOUNTS + 1), 2)
                    amount = rng.randint(1, 10)
                    client.run("transfer", {"from": src, "to": dst, "amount": amount},
                               _transfer(src, dst, amount), retries=MAX_RETRIES)
                else:
                    client.run("read", None, _read_bank, isolation="REPEATABLE READ")
                next_at += interval
                self._stop.wait(max(0.0, next_at - time.monotonic()))
                next_at = max(next_at, time.monotonic() - interval)  # no burst to catch up after a stall
        finally:
            client.close()

    def stop(self, timeout: float) -> list[str]:
        """Stop the clients; wait (bounded) for their current operation; the ones still going."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        return [t.name for t in self._threads if t.is_alive()]

    def final_reads(self, attempts: int = 10) -> None:
        """The set and the bank as the cluster has them now (retried, bounded: it may still heal)."""
        client = self._new_client(self.limits.clients)  # a process of its own, after the clients'
        try:
            for body in (_read_set(self.prefix), _read_bank):
                for attempt in range(attempts):
                    if client.run("read", None, body, isolation="REPEATABLE READ"):
                        break
                    time.sleep(min(5.0, 0.5 * (attempt + 1)))
        finally:
            client.close()
