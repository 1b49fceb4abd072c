"""What the hosts-patroni stack runs, pinned: one place for the harness, the lab's image
(:mod:`harness.lab.stack_packages`) and the playbooks (``playbooks/group_vars/all.yml`` holds
the same values for standalone use; a test compares them).

Patroni 4 from PyPI, not Debian's 3.0.2, which showed a split brain after a healed partition.
"""

from __future__ import annotations

from pathlib import Path

PG_MAJOR = "15"  # Debian 12's PostgreSQL
PATRONI_VERSION = "4.1.5"
PSYCOPG_VERSION = "3.3.9"
PATRONI_VENV = Path("/opt/patroni")
APT_PACKAGES = (f"postgresql-{PG_MAJOR}", f"postgresql-client-{PG_MAJOR}", "etcd-server", "etcd-client",
                "python3-venv")
PIP_REQUIREMENTS = (f"patroni[etcd3]=={PATRONI_VERSION}", f"psycopg[binary]=={PSYCOPG_VERSION}")
