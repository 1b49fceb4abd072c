"""Secrets must never reach what a run shares: a check over every file of a run directory (and of
the reports directory around it: the history and its page), importable from every test directory
like procs.py."""

from __future__ import annotations

from pathlib import Path

import yaml


def run_secrets(run_dir: Path, clouds_yaml: Path) -> dict[str, str]:
    """Every secret a run of the lab has: the clouds' passwords, the database's, the private keys."""
    from harness.record import RunDir
    from harness.stacks.hosts_patroni.phases import SECRETS_FILE, db_secrets

    clouds = yaml.safe_load(clouds_yaml.read_text())["clouds"]
    private = RunDir(run_dir.parent, run_dir.name).private_path()
    secrets = {f"{c} password": v["auth"]["password"] for c, v in clouds.items() if v["auth"].get("password")}
    if (private / SECRETS_FILE).is_file():
        secrets.update(db_secrets(private))
    keys = [p for p in private.rglob("*") if p.is_file() and "PRIVATE KEY-----" in p.read_text(errors="replace")]
    assert keys, f"no private key in the run's private area {private}"
    secrets.update({f"key {p.name}": p.read_text().splitlines()[1] for p in keys})
    return secrets


def assert_no_secrets_in(run_dir: Path, clouds_yaml: Path, *, also: tuple[Path, ...] = ()) -> list[Path]:
    """No cloud password, database password or private key in any file of ``run_dir`` or ``also``
    (files or directories); returns the files read."""
    secrets = run_secrets(run_dir, clouds_yaml)
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    for extra in also:
        files += [p for p in extra.rglob("*") if p.is_file()] if extra.is_dir() else [extra]
    assert any(p.name == "events.jsonl" for p in files) and any("artifacts" in p.parts for p in files)
    for path in files:
        text = path.read_text(errors="replace")
        leaked = [name for name, value in secrets.items() if value in text]
        assert not leaked and "PRIVATE KEY-----" not in text, (path, leaked)
    return files
