"""One ed25519 key per run, registered as a keypair on every cloud.

The private key lives in the run's private area (``RunDir.private_path()``, mode 0700,
outside ``reports/``), never in anything a user shares. Several workers may ask for it at
once: the first one to ``link`` its freshly written key into place wins, the others read it.

>>> key = run_key(run_dir.private_path())                  # doctest: +SKIP
>>> key.private_path.stat().st_mode & 0o777                 # doctest: +SKIP
384
>>> create_keypair(ctx, key)["name"]                        # doctest: +SKIP
'interop-20261125t001500z-ab12-lab1-key'
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .context import Context

KEY_FILE = "id_ed25519"


@dataclass(frozen=True)
class RunKey:
    private_path: Path
    public_key: str  # "ssh-ed25519 AAAA... comment"


def _generate() -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                             serialization.NoEncryption())


def _public_of(private: bytes, comment: str) -> str:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_ssh_private_key(private, password=None)
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return f"{public.decode()} {comment}"


def run_key(private_dir: Path, *, comment: str = "interop-harness") -> RunKey:
    """The run's key pair under ``private_dir``, created on first use; race-safe across processes.

    The private key file is the only source of truth (the public key is derived from it), so
    two workers racing to create it can never end up with halves of different pairs.
    """
    private_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = private_dir / KEY_FILE
    if not path.exists():
        tmp = private_dir / f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, _generate())
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # atomic and never replaces: the first worker's key wins
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    public = _public_of(path.read_bytes(), comment)
    pub = private_dir / (KEY_FILE + ".pub")
    if not pub.exists():
        tmp_pub = private_dir / f".{KEY_FILE}.pub.{os.getpid()}.{secrets.token_hex(4)}"
        tmp_pub.write_text(public + "\n", encoding="utf-8")
        os.replace(tmp_pub, pub)
    return RunKey(private_path=path, public_key=public)


def create_keypair(ctx: Context, key: RunKey) -> dict[str, Any]:
    """Register the run's public key on this cloud under the run's name."""
    name = ctx.names.of("key")
    ctx.intend("keypair", name)
    keypair = ctx.call(ctx.conn.compute.create_keypair, name=name, public_key=key.public_key,
                       doing=f"creating keypair {name}")
    ctx.created("keypair", name, name)  # a keypair's id is its name
    return {"name": name, "fingerprint": getattr(keypair, "fingerprint", None), "type": "ed25519"}
