"""Names and paths of the hosts-patroni stack, cheap to import: what the harness reads of the
stack without loading its phases (Ansible, psycopg)."""

from __future__ import annotations

from pathlib import Path

PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"
PINS_FILE = PLAYBOOKS / "group_vars" / "all" / "pins.yml"

# rendezvous names: each cloud's servers, the cluster plan's digest, the clouds that joined
NODES, PLAN, JOINED = "db-nodes", "db-plan", "db-joined"
RENDEZVOUS_NAMES = (NODES, PLAN, JOINED)
