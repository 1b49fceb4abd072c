import multiprocessing
import stat
from pathlib import Path
from typing import Any

from harness.provision.keypair import create_keypair, run_key
from harness.record import RunDir


def test_run_key_is_private_and_outside_reports(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "reports", "r1").create()
    key = run_key(run.private_path())
    assert not key.private_path.is_relative_to(run.root)
    assert stat.S_IMODE(key.private_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.private_path.parent.stat().st_mode) == 0o700
    assert key.public_key.startswith("ssh-ed25519 ")
    assert b"OPENSSH PRIVATE KEY" in key.private_path.read_bytes()
    assert run_key(run.private_path()) == key  # created once, then reused


def _make(path: str, out: Any) -> None:
    out.put(run_key(Path(path)).public_key)


def test_racing_workers_share_one_key(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_make, args=(str(tmp_path / "k"), queue)) for _ in range(6)]
    for p in procs:
        p.start()
    keys = {queue.get(timeout=30) for _ in procs}
    for p in procs:
        p.join(30)
    assert len(keys) == 1
    assert run_key(tmp_path / "k").public_key in keys


def test_create_keypair_posts_public_key_and_records_it_first(fake_cloud: Any, ctx: Any, tmp_path: Path) -> None:
    key = run_key(tmp_path / "priv")
    seen_in_ledger = []

    def answer(request: Any, context: Any) -> dict[str, Any]:
        seen_in_ledger.append([e.state for e in ctx.ledger.entries("lab1")])
        return {"keypair": {"name": request.json()["keypair"]["name"], "fingerprint": "fp", "type": "ssh"}}

    fake_cloud.on("POST", "nova", "/os-keypairs", json=answer)
    details = create_keypair(ctx, key)
    assert details["name"] == "interop-20261125t001500z-ab12-lab1-key"
    assert fake_cloud.bodies("POST", "os-keypairs")[0]["keypair"]["public_key"] == key.public_key
    assert seen_in_ledger == [["requested"]]  # intent written before the request
    (entry,) = ctx.ledger.entries("lab1")
    assert (entry.kind, entry.id, entry.state) == ("keypair", details["name"], "created")
