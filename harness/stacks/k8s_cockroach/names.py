"""Rendezvous names of the k8s-cockroach stack, cheap to import: what the harness reads of the
stack without loading its phases (Ansible, kubernetes, cryptography)."""

from __future__ import annotations

# each cloud's servers, the plan's digest, the clouds whose objects are applied, those that joined
NODES, PLAN, APPLIED, JOINED = "crdb-nodes", "crdb-plan", "crdb-applied", "crdb-joined"
RENDEZVOUS_NAMES = (NODES, PLAN, APPLIED, JOINED)
