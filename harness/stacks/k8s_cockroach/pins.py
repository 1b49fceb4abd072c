"""What the k8s-cockroach stack runs, pinned, read from the playbooks' ``group_vars/all/pins.yml``.

That file is the one source: the playbooks read it as group vars (standalone too), the harness
passes the same values as extra vars (:meth:`Pins.extravars`), the airgap preflight derives the
file names from it (:mod:`.airgap`) and the manifests take the CockroachDB image from it.

>>> load().k3s_version                     # doctest: +SKIP
'v1.33.5+k3s1'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from ...errors import ConfigError

PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"
PINS_FILE = PLAYBOOKS / "group_vars" / "all" / "pins.yml"

_K3S_VERSION = re.compile(r"^v\d+\.\d+\.\d+\+k3s\d+$")     # a k3s release tag: v1.33.5+k3s1
_CRDB_VERSION = re.compile(r"^v\d+\.\d+\.\d+$")
RELEASE_ARCHES = ("amd64", "arm64")  # what both k3s and CockroachDB publish


@dataclass(frozen=True)
class Pins:
    k3s_version: str
    cockroach_version: str
    cockroach_image: str
    arches: dict[str, str]  # `uname -m` -> release arch

    def extravars(self) -> dict[str, Any]:
        """The playbooks' variables for these pins."""
        return {"k3s_version": self.k3s_version, "cockroach_version": self.cockroach_version}


def parse(data: Any, path: Path = PINS_FILE) -> Pins:
    """The pins of ``data`` (pins.yml's content); ConfigError naming the field if malformed."""
    try:
        k3s, crdb = str(data["k3s_version"]), str(data["cockroach_version"])
        image = str(data["cockroach_image"]).replace("{{ cockroach_version }}", crdb)
        arches = {str(k): str(v) for k, v in dict(data["k3s_arches"]).items()}
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: missing or malformed field {exc}") from None
    if not _K3S_VERSION.match(k3s):
        raise ConfigError(f"{path}: k3s_version {k3s!r} is not a k3s release tag (like v1.33.5+k3s1)")
    if not _CRDB_VERSION.match(crdb):
        raise ConfigError(f"{path}: cockroach_version {crdb!r} is not a CockroachDB release (like v25.4.0)")
    if not image.endswith(f":{crdb}"):
        raise ConfigError(f"{path}: cockroach_image {image!r} is not tagged {crdb}")
    unknown = sorted(set(arches.values()) - set(RELEASE_ARCHES))
    if unknown:
        raise ConfigError(f"{path}: k3s_arches maps to {', '.join(unknown)}, not among {', '.join(RELEASE_ARCHES)}")
    return Pins(k3s_version=k3s, cockroach_version=crdb, cockroach_image=image, arches=arches)


@cache
def load(path: Path = PINS_FILE) -> Pins:
    return parse(yaml.safe_load(path.read_text()), path)


# The image named in full (registry, repository, tag): an airgapped k3s imports the image
# tarball under exactly this name, and the manifests must ask for that same name. v25.4 is the
# release whose documentation the stack's flags are taken from (cockroach-start.md of v25.4).
COCKROACH_IMAGE = load().cockroach_image

# The oldest Kubernetes the manifests are written for (k3s's pinned release is newer); the
# tests validate every shipped schema from this one on.
MIN_KUBERNETES = "1.30"
