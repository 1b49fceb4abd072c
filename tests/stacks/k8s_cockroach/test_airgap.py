"""The airgap preflight: every file named when missing, with its arch and where to get it."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.stacks.k8s_cockroach import airgap, pins

pytestmark = pytest.mark.k8s

VERSION = pins.load().cockroach_version
_MACHINE = {"amd64": 0x3E, "arm64": 0xB7}


def _elf(machine: int) -> bytes:
    # ELF64, little-endian, version 1; e_type EXEC at 16, e_machine at 18
    return b"\x7fELF\x02\x01\x01" + bytes(9) + (2).to_bytes(2, "little") + machine.to_bytes(2, "little") + bytes(44)


def _tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = b"[]"
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _fill(directory: Path, arch: str, images_suffix: str = ".tar.zst") -> dict[str, Path]:
    directory.mkdir(exist_ok=True)
    files = {
        "binary": directory / ("k3s" if arch == "amd64" else f"k3s-{arch}"),
        "images": directory / f"k3s-airgap-images-{arch}{images_suffix}",
        "cockroach": directory / f"cockroach-{VERSION}-{arch}.tar",
    }
    files["binary"].write_bytes(_elf(_MACHINE[arch]))
    magic = {".tar.zst": b"\x28\xb5\x2f\xfd" + bytes(60), ".tar.gz": b"\x1f\x8b" + bytes(60), ".tar": _tar()}
    files["images"].write_bytes(magic[images_suffix])
    files["cockroach"].write_bytes(_tar())
    return files


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_complete_directory_has_no_problems(tmp_path: Path, arch: str) -> None:
    _fill(tmp_path / "ag", arch)
    assert airgap.check(tmp_path / "ag", [arch]) == []
    airgap.require(tmp_path / "ag", [arch])


@pytest.mark.parametrize("suffix", [".tar.gz", ".tar"])
def test_any_images_format_k3s_imports_will_do(tmp_path: Path, suffix: str) -> None:
    _fill(tmp_path / "ag", "amd64", images_suffix=suffix)
    assert airgap.check(tmp_path / "ag", ["amd64"]) == []


@pytest.mark.parametrize(("which", "named"), [
    ("binary", "k3s: missing (k3s binary, amd64; from https://github.com/k3s-io/k3s/releases/download/v1.33.5%2Bk3s1/k3s)"),
    ("images", "k3s-airgap-images-amd64.tar.zst (or .tar.gz, .tar): missing (k3s images, amd64; from https://github.com/k3s-io/k3s/releases/download/v1.33.5%2Bk3s1/k3s-airgap-images-amd64.tar.zst)"),
    ("cockroach", f"cockroach-{VERSION}-amd64.tar: missing (CockroachDB image, amd64; from docker pull --platform linux/amd64 docker.io/cockroachdb/cockroach:{VERSION} && docker save docker.io/cockroachdb/cockroach:{VERSION} -o cockroach-{VERSION}-amd64.tar)"),
])
def test_each_missing_file_is_named_exactly(tmp_path: Path, which: str, named: str) -> None:
    if pins.load().k3s_version != "v1.33.5+k3s1":
        named = named.replace("v1.33.5%2Bk3s1", airgap.release_url(pins.load()).rsplit("/", 1)[1])
    files = _fill(tmp_path / "ag", "amd64")
    files[which].unlink()
    problems = airgap.check(tmp_path / "ag", ["amd64"])
    assert [p.describe() for p in problems] == [named]
    with pytest.raises(ConfigError) as err:
        airgap.require(tmp_path / "ag", ["amd64"])
    assert str(err.value) == f"airgap directory {tmp_path / 'ag'} is not complete: {named}"


def test_a_directory_for_the_other_arch_names_every_file_of_the_wanted_one(tmp_path: Path) -> None:
    _fill(tmp_path / "ag", "amd64")
    problems = airgap.check(tmp_path / "ag", ["amd64", "arm64"])
    assert [(p.file.arch, p.file.names[0], p.reason) for p in problems] == [
        ("arm64", "k3s-arm64", "missing"),
        ("arm64", "k3s-airgap-images-arm64.tar.zst", "missing"),
        ("arm64", f"cockroach-{VERSION}-arm64.tar", "missing"),
    ]


def test_a_binary_of_the_wrong_arch_is_named(tmp_path: Path) -> None:
    files = _fill(tmp_path / "ag", "amd64")
    files["binary"].write_bytes(_elf(_MACHINE["arm64"]))  # the arm64 binary saved as `k3s`
    [problem] = airgap.check(tmp_path / "ag", ["amd64"])
    assert problem.reason == "k3s is a binary for arm64, not amd64"
    files["binary"].write_text("<html>404 Not Found</html>")  # a failed download
    [problem] = airgap.check(tmp_path / "ag", ["amd64"])
    assert problem.reason == "k3s is not an ELF executable"


@pytest.mark.parametrize(("which", "content", "reason"), [
    ("images", b"", "empty"),
    ("images", b"<html>", "k3s-airgap-images-amd64.tar.zst is not a zst file"),
    ("cockroach", b"not a tarball" * 100, f"cockroach-{VERSION}-amd64.tar is not a tar archive"),
])
def test_a_file_that_is_not_what_it_claims_is_named(tmp_path: Path, which: str, content: bytes, reason: str) -> None:
    files = _fill(tmp_path / "ag", "amd64")
    files[which].write_bytes(content)
    [problem] = airgap.check(tmp_path / "ag", ["amd64"])
    assert problem.reason == reason


def test_an_arch_nobody_ships_is_refused(tmp_path: Path) -> None:
    _fill(tmp_path / "ag", "amd64")
    with pytest.raises(ConfigError, match=r"no k3s and CockroachDB release for 'arm' \(only amd64, arm64\)"):
        airgap.check(tmp_path / "ag", ["arm"])


def test_a_missing_directory_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"airgap directory {tmp_path / 'nope'} does not exist"):
        airgap.require(tmp_path / "nope", ["amd64"])


def test_extravars(tmp_path: Path) -> None:
    assert airgap.extravars(None) == {"k3s_airgap_dir": ""}
    assert airgap.extravars(tmp_path / "x" / "..") == {"k3s_airgap_dir": str(tmp_path)}
