"""The airgap directory: what a cloud without internet access needs, checked before any node
is touched, naming exactly the files that are missing and for which architecture.

For each release architecture (``amd64``, ``arm64``) the directory holds, flat:

=====================================  ===================================================
``k3s`` (amd64) / ``k3s-arm64``        the k3s binary of the pinned release
``k3s-airgap-images-<arch>.tar.zst``   that release's images (``.tar.gz`` or ``.tar`` too)
``cockroach-<version>-<arch>.tar``     ``docker save`` of ``cockroachdb/cockroach:<version>``
=====================================  ===================================================

>>> problems = check(Path("/srv/airgap"), ["amd64"])           # doctest: +SKIP
>>> [p.describe() for p in problems]                          # doctest: +SKIP
['k3s-airgap-images-amd64.tar.zst (or .tar.gz, .tar): missing (k3s images, amd64; from https://...)']

The playbooks check the same names on their own (``playbooks/airgap.yml``, names from
``group_vars/all/defaults.yml``); a test keeps the two equal.
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ...errors import ConfigError
from .pins import RELEASE_ARCHES, Pins, load

IMAGE_SUFFIXES = (".tar.zst", ".tar.gz", ".tar")  # what k3s imports from its images directory
_ELF_MACHINE = {0x3E: "amd64", 0xB7: "arm64", 0x28: "arm", 0x03: "386"}  # e_machine -> arch
_MAGIC = {".tar.zst": b"\x28\xb5\x2f\xfd", ".tar.gz": b"\x1f\x8b"}


@dataclass(frozen=True)
class AirgapFile:
    """One file a node of ``arch`` needs; any of ``names`` will do (the first is the release's)."""

    what: str
    arch: str
    names: tuple[str, ...]
    source: str

    def label(self) -> str:
        first, *others = self.names
        if not others:
            return first
        stem = first[: -len(IMAGE_SUFFIXES[0])] if first.endswith(IMAGE_SUFFIXES[0]) else first
        return f"{first} (or {', '.join(n[len(stem):] for n in others)})"


@dataclass(frozen=True)
class Problem:
    file: AirgapFile
    reason: str

    def describe(self) -> str:
        return f"{self.file.label()}: {self.reason} ({self.file.what}, {self.file.arch}; from {self.file.source})"


def release_url(pins: Pins) -> str:
    return f"https://github.com/k3s-io/k3s/releases/download/{quote(pins.k3s_version, safe='')}"


def expected_files(arch: str, pins: Pins | None = None) -> list[AirgapFile]:
    """The files a node of release arch ``arch`` needs; ConfigError for an arch nobody ships."""
    pins = pins or load()
    if arch not in RELEASE_ARCHES:
        raise ConfigError(f"airgap: no k3s and CockroachDB release for {arch!r} (only {', '.join(RELEASE_ARCHES)})")
    binary = "k3s" if arch == "amd64" else f"k3s-{arch}"
    images = tuple(f"k3s-airgap-images-{arch}{s}" for s in IMAGE_SUFFIXES)
    crdb = f"cockroach-{pins.cockroach_version}-{arch}.tar"
    url = release_url(pins)
    return [
        AirgapFile("k3s binary", arch, (binary,), f"{url}/{binary}"),
        AirgapFile("k3s images", arch, images, f"{url}/{images[0]}"),
        AirgapFile("CockroachDB image", arch, (crdb,),
                   f"docker pull --platform linux/{arch} {pins.cockroach_image} && "
                   f"docker save {pins.cockroach_image} -o {crdb}"),
    ]


def _elf_arch(path: Path) -> str | None:
    """The arch of an ELF executable (little-endian), or None if it is not one."""
    with open(path, "rb") as f:
        head = f.read(20)
    if len(head) < 20 or head[:4] != b"\x7fELF" or head[5] != 1:
        return None
    machine = int.from_bytes(head[18:20], "little")
    return _ELF_MACHINE.get(machine, f"e_machine {machine:#x}")


def _content_problem(f: AirgapFile, path: Path) -> str | None:
    """Why the file at ``path`` cannot be what ``f`` says, from its first bytes; None if it can."""
    if path.stat().st_size == 0:
        return "empty"
    if f.what == "k3s binary":
        arch = _elf_arch(path)
        if arch is None:
            return f"{path.name} is not an ELF executable"
        if arch != f.arch:
            return f"{path.name} is a binary for {arch}, not {f.arch}"
        return None
    for suffix, magic in _MAGIC.items():
        if path.name.endswith(suffix):
            with open(path, "rb") as fh:
                return None if fh.read(len(magic)) == magic else f"{path.name} is not a {suffix[5:]} file"
    return None if tarfile.is_tarfile(path) else f"{path.name} is not a tar archive"


def check(directory: Path, arches: Iterable[str], pins: Pins | None = None) -> list[Problem]:
    """Every problem of ``directory`` for nodes of ``arches`` (release arches); [] if none.

    A file is a problem when it is missing, empty, or plainly not what it should be (a binary
    for another arch, a tarball that is not one). The CockroachDB tarball's image arch is not
    read (that would mean reading the whole archive).
    """
    problems: list[Problem] = []
    for arch in dict.fromkeys(arches):  # each arch once, in the order given
        for f in expected_files(arch, pins):
            found = next((directory / n for n in f.names if (directory / n).is_file()), None)
            if found is None:
                problems.append(Problem(f, "missing"))
                continue
            reason = _content_problem(f, found)
            if reason:
                problems.append(Problem(f, reason))
    return problems


def require(directory: Path, arches: Iterable[str], pins: Pins | None = None) -> None:
    """Raise ConfigError naming every problem of ``directory`` (see :func:`check`)."""
    arches = list(arches)
    if not directory.is_dir():
        raise ConfigError(f"airgap directory {directory} does not exist (needed for {', '.join(arches)})")
    problems = check(directory, arches, pins)
    if problems:
        raise ConfigError(f"airgap directory {directory} is not complete: "
                          + "; ".join(p.describe() for p in problems))


def extravars(directory: Path | None) -> dict[str, Any]:
    """The playbooks' airgap variable: the directory's absolute path, or "" (install online)."""
    return {"k3s_airgap_dir": str(directory.resolve()) if directory else ""}
