"""MariaDB and RabbitMQ as the lab uses them: first-time setup, readiness probes, SQL.

Readiness is probed at the protocol level (the MariaDB socket accepts, RabbitMQ answers the
AMQP greeting), which is cheaper than the vendor CLIs (``rabbitmqctl`` boots an Erlang VM per
call) and proves more than an open port.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from harness.errors import LabError

from .services import LAB_ID_ENV
from .settings import HOST, LabPaths

DATABASES = ("keystone", "placement", "glance", "neutron", "nova_api", "nova_cell0", "nova")
DB_USER = "interop"
AMQP_HEADER = b"AMQP\x00\x00\x09\x01"


def init_mariadb_datadir(paths: LabPaths, log_file: Path) -> bool:
    """Create the datadir on first use; returns True if it did."""
    if (paths.mysql_datadir / "mysql").is_dir():
        return False
    installer = shutil.which("mariadb-install-db") or "mariadb-install-db"
    with log_file.open("ab") as out:
        result = subprocess.run(
            [installer, "--no-defaults", f"--datadir={paths.mysql_datadir}", "--user=root",
             "--skip-test-db", "--auth-root-authentication-method=socket"],
            stdout=out, stderr=subprocess.STDOUT, timeout=300,
        )
    if result.returncode != 0:
        shutil.rmtree(paths.mysql_datadir, ignore_errors=True)  # a half datadir would be skipped next time
        raise LabError(f"mariadb-install-db failed (see {log_file})")
    return True


def mariadb_ready(paths: LabPaths) -> bool:
    if not paths.mysql_socket.exists():
        return False
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(1)
        try:
            sock.connect(str(paths.mysql_socket))
            return bool(sock.recv(4))  # the server greeting
        except OSError:
            return False


def sql(paths: LabPaths, statements: str, *, lab_id: str) -> str:
    """Run SQL as MariaDB's root over the socket (root is socket-authenticated, no password)."""
    client = shutil.which("mariadb") or "mariadb"
    result = subprocess.run(
        [client, "--no-defaults", "-S", str(paths.mysql_socket), "-uroot", "-N", "-B"],
        input=statements, capture_output=True, text=True, timeout=60,
        env={**os.environ, LAB_ID_ENV: lab_id},
    )
    if result.returncode != 0:
        raise LabError(f"MariaDB refused SQL: {result.stderr.strip()}")
    return result.stdout


def ensure_databases(paths: LabPaths, password: str, *, lab_id: str) -> None:
    """The service databases and their user; the password is (re)set to the secrets file's."""
    statements = []
    for host in ("127.0.0.1", "localhost"):
        statements += [
            f"CREATE USER IF NOT EXISTS '{DB_USER}'@'{host}' IDENTIFIED BY '{password}';",
            f"ALTER USER '{DB_USER}'@'{host}' IDENTIFIED BY '{password}';",
            f"GRANT ALL PRIVILEGES ON *.* TO '{DB_USER}'@'{host}';",
        ]
    statements += [f"CREATE DATABASE IF NOT EXISTS {name};" for name in DATABASES]
    sql(paths, "\n".join(statements) + "\n", lab_id=lab_id)


def rabbitmq_ready(port: int) -> bool:
    """RabbitMQ has booted when it answers the AMQP protocol header with Connection.Start."""
    try:
        with socket.create_connection((HOST, port), timeout=2) as sock:
            sock.sendall(AMQP_HEADER)
            frame = sock.recv(7)
    except OSError:
        return False
    return len(frame) == 7 and frame[0] == 1  # frame type 1: a method frame


def http_answers(url: str) -> bool:
    """Any HTTP status counts: 401 from an authenticated API still means it is serving."""
    try:
        with urllib.request.urlopen(url, timeout=3):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False
