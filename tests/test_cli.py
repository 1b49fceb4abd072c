"""The `interop` command's input errors: one clear line, exit code 2, nothing touched."""

from pathlib import Path

import pytest

from harness import cli


def test_run_with_unknown_cloud(tmp_path, clouds_yaml, run_cli):
    challenge = tmp_path / "challenge.yaml"
    challenge.write_text("clouds: {lab1: {}, lab9: {}}\n")
    rc, _, err = run_cli("run", "--challenge", str(challenge), "--clouds-yaml", str(clouds_yaml))
    assert rc == 2
    assert err.strip() == f"interop: error: {challenge}: clouds.lab9: cloud 'lab9' is not in clouds.yaml (known: lab1)"


def test_run_with_bad_field_type(tmp_path, clouds_yaml, run_cli):
    challenge = tmp_path / "challenge.yaml"
    challenge.write_text("clouds: {lab1: {nodes: [1, 2]}}\n")
    rc, _, err = run_cli("run", "--challenge", str(challenge), "--clouds-yaml", str(clouds_yaml))
    assert rc == 2
    assert err.count("\n") == 1 and f"{challenge}: clouds.lab1.nodes: Input should be a valid integer" in err


def test_run_with_missing_clouds_yaml(tmp_path, run_cli):
    challenge = tmp_path / "challenge.yaml"
    challenge.write_text("clouds: {lab1: {}}\n")
    rc, _, err = run_cli("run", "--challenge", str(challenge), "--clouds-yaml", str(tmp_path / "none.yaml"))
    assert rc == 2
    assert err.strip() == f"interop: error: clouds.yaml not found: {tmp_path / 'none.yaml'}"


def test_run_with_subset_not_in_challenge(tmp_path, clouds_yaml, run_cli):
    challenge = tmp_path / "challenge.yaml"
    challenge.write_text("clouds: {lab1: {}}\n")
    rc, _, err = run_cli("run", "--challenge", str(challenge), "--clouds-yaml", str(clouds_yaml),
                         "--clouds", "lab1,lab2")
    assert rc == 2 and "--clouds: lab2 not in the challenge file (has: lab1)" in err


def test_clouds_reports_unreachable_cloud_and_exits_1(clouds_yaml, run_cli):
    rc, out, err = run_cli("clouds", "--clouds-yaml", str(clouds_yaml))
    assert rc == 1
    row = [line for line in out.splitlines() if line.startswith("lab1")][0]
    assert "FAILED" in row and "unreachable" in row
    assert "1 of 1 clouds failed: lab1" in err


def test_pytest_command_runs_a_worker_per_core_with_loadgroup(tmp_path, monkeypatch):
    monkeypatch.setattr(cli.os, "cpu_count", lambda: 2)
    args = cli.build_parser().parse_args(["run", "--reports-dir", str(tmp_path), "--", "-x"])
    args.challenge_path = Path("c.yaml")
    cmd = cli.pytest_args(args, ["a", "b", "c"], "RID")
    assert cmd[cmd.index("-n") + 1] == "2" and cmd[cmd.index("--dist") + 1] == "loadgroup"
    assert cmd[cmd.index("--max-worker-restart") + 1] == "0"
    assert cmd[cmd.index("--junitxml") + 1] == str(tmp_path / "RID" / "junit.xml")
    assert cmd[-1] == "-x"
    assert "--keep" not in cmd
    kept = cli.build_parser().parse_args(["run", "--keep", "--reports-dir", str(tmp_path)])
    kept.challenge_path = Path("c.yaml")
    assert "--keep" in cli.pytest_args(kept, ["a"], "RID")  # teardown skipped: see tests/test_engine.py


@pytest.mark.parametrize("clouds, cpus, workers", [(1, 8, 1), (6, 2, 2), (3, 8, 3), (40, 64, cli.MAX_WORKERS), (0, 2, 1)])
def test_default_workers_is_a_worker_per_core_at_most_one_per_cloud(clouds, cpus, workers):
    assert cli.default_workers(clouds, cpus) == workers


def test_help_explains_every_command(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    out = capsys.readouterr().out
    for command in ("clouds", "run", "report", "check", "lab"):
        assert command in out
    with pytest.raises(SystemExit):
        cli.main(["lab", "up", "--help"])
    assert "number of lab clouds" in capsys.readouterr().out


def test_lab_up_hands_the_lab_the_stacks_image_files(tmp_path, monkeypatch, run_cli):
    import interop_lab
    from harness.stacks.hosts_patroni.pins import PINS_FILE

    calls = []
    monkeypatch.setattr(interop_lab, "lab_up", lambda state, **kw: calls.append((state, kw)))
    rc, _, _ = run_cli("lab", "--state-dir", str(tmp_path / "lab"), "up", "--clouds", "2")
    assert rc == 0
    assert calls == [(tmp_path / "lab", {"clouds": 2, "image_files": [PINS_FILE]})]
    assert interop_lab.load_image(cli._stack_image_files()).venvs  # each one has an image: the lab reads
