"""Workload stacks, found by name through a lazy registry.

A process imports only the stack its challenge uses: the registry maps a name to
``module:attribute`` and :func:`load_stack` imports it on first use (testinfra's backends work
this way). Adding a stack is one package under ``harness/stacks/`` and one line here.

>>> known_stacks()
['hosts-patroni', 'k8s-cockroach']
>>> load_stack("hosts-patroni").phase_names()
('configure', 'deploy')
"""

from __future__ import annotations

import importlib

from ..errors import ConfigError
from .base import Database, Health, Member, Needs, Phase, Pipeline, Rule, Stack

DEFAULT_STACK = "hosts-patroni"

REGISTRY: dict[str, str] = {
    "hosts-patroni": "harness.stacks.hosts_patroni.stack:STACK",
    "k8s-cockroach": "harness.stacks.k8s_cockroach.stack:STACK",
}

_loaded: dict[str, Stack] = {}


def known_stacks() -> list[str]:
    return sorted(REGISTRY)


def check_stack_name(name: str) -> str:
    """``name`` if it is registered, else the one error that lists the known stacks."""
    if name not in REGISTRY:
        raise ConfigError(f"unknown stack {name!r} (known: {', '.join(known_stacks())})")
    return name


def load_stack(name: str) -> Stack:
    """The registered stack ``name``, imported on first use."""
    target = REGISTRY[check_stack_name(name)]
    cached = _loaded.get(target)  # keyed by target: a test may point a name elsewhere
    if cached is not None:
        return cached
    module_name, _, attribute = target.partition(":")
    stack = getattr(importlib.import_module(module_name), attribute)
    if not isinstance(stack, Stack) or stack.name != name:
        raise ConfigError(f"stack registry entry {name!r} -> {target} is not a Stack named {name!r}")
    _loaded[target] = stack
    return stack


__all__ = ["DEFAULT_STACK", "REGISTRY", "Database", "Health", "Member", "Needs", "Phase", "Pipeline", "Rule",
           "Stack", "check_stack_name", "known_stacks", "load_stack"]
