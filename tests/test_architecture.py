"""The architecture the import contracts keep, and what a process imports for real.

``lint-imports`` checks the contracts in pyproject.toml; these tests keep the contracts' module
lists whole as modules are added, and check what importing the plugin or the lab loads.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

import harness
from harness.stacks import REGISTRY

ROOT = Path(__file__).resolve().parent.parent
HELPERS = {"harness.errors", "harness.waiting", "harness.cancel"}  # what the lab may import


def _contract(name_start: str) -> dict[str, list[str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return next(c for c in config["tool"]["importlinter"]["contracts"] if c["name"].startswith(name_start))


def _top_level() -> set[str]:
    return {f"harness.{m.name}" for m in pkgutil.iter_modules(harness.__path__)}


def _loaded_after(statement: str) -> set[str]:
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", statement], capture_output=True, text=True,
                         timeout=120, check=True, cwd=ROOT)
    return {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines() if "|" in line}


def test_every_module_but_the_stacks_is_kept_from_importing_a_stack() -> None:
    contract = _contract("No module outside harness/stacks/")
    assert set(contract["source_modules"]) == _top_level() - {"harness.stacks"}
    stacks = {target.partition(":")[0].rsplit(".", 1)[0] for target in REGISTRY.values()}
    assert set(contract["forbidden_modules"]) == stacks


def test_the_lab_may_import_only_the_helpers() -> None:
    contract = _contract("The lab stands apart")
    assert set(contract["forbidden_modules"]) == _top_level() - HELPERS


def test_importing_the_plugin_loads_no_stack() -> None:
    loaded = _loaded_after("import harness.plugin")
    assert "harness.plugin" in loaded
    assert not [m for m in loaded if m.startswith(("harness.stacks.hosts_patroni", "harness.stacks.k8s_cockroach"))]


def test_importing_the_lab_loads_only_the_helpers_of_the_harness() -> None:
    loaded = _loaded_after("import interop_lab, interop_lab.controlplane, interop_lab.image")
    assert "interop_lab.controlplane" in loaded
    assert {m for m in loaded if m.startswith("harness.")} <= HELPERS


def test_the_checkers_load_no_stack_engine_or_lab_and_no_third_party_package() -> None:
    loaded = _loaded_after("import harness.survive, harness.survive.checks")
    assert "harness.survive.checks" in loaded
    assert {m for m in loaded if m.startswith("harness.") and not m.startswith("harness.survive")} == {"harness.errors"}
    assert not [m for m in loaded if m.split(".")[0] in {"interop_lab", "pydantic", "yaml", "openstack", "psycopg"}]
