"""What the hosts-patroni stack runs, pinned, read from the playbooks' ``group_vars/all/pins.yml``.

That file is the one source: the playbooks read it as group vars (standalone too), the
harness passes the same values as extra vars, and the lab bakes its ``image`` section into
its servers without importing the harness. :func:`load` checks that the image agrees with
the versions, so the file cannot contradict itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from ...errors import ConfigError
from .names import PINS_FILE


@dataclass(frozen=True)
class Pins:
    pg_major: str
    patroni_version: str
    psycopg_version: str
    patroni_venv: Path
    apt_packages: tuple[str, ...]
    pip_requirements: tuple[str, ...]

    def extravars(self) -> dict[str, Any]:
        """The playbooks' variables for these pins."""
        return {"pg_version": int(self.pg_major), "patroni_version": self.patroni_version,
                "psycopg_version": self.psycopg_version, "patroni_venv": str(self.patroni_venv)}


def parse(data: Any, path: Path = PINS_FILE) -> Pins:
    """The pins of ``data`` (pins.yml's content); ConfigError naming the field if inconsistent."""
    try:
        venv = str(data["patroni_venv"])
        pins = Pins(pg_major=str(data["pg_version"]), patroni_version=str(data["patroni_version"]),
                    psycopg_version=str(data["psycopg_version"]), patroni_venv=Path(venv),
                    apt_packages=tuple(data["image"]["apt"]),
                    pip_requirements=tuple(data["image"]["venvs"][venv]))
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: missing or malformed field {exc}") from None
    wanted_apt = {f"postgresql-{pins.pg_major}", f"postgresql-client-{pins.pg_major}"}
    if not wanted_apt <= set(pins.apt_packages):
        raise ConfigError(f"{path}: image.apt lacks {', '.join(sorted(wanted_apt - set(pins.apt_packages)))}")
    for name, version in (("patroni", pins.patroni_version), ("psycopg", pins.psycopg_version)):
        if not any(r.startswith(name) and r.endswith(f"=={version}") for r in pins.pip_requirements):
            raise ConfigError(f"{path}: image.venvs.{venv} does not pin {name}=={version}")
    return pins


@cache
def load(path: Path = PINS_FILE) -> Pins:
    return parse(yaml.safe_load(path.read_text()), path)
