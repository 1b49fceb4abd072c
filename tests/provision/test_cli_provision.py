"""`interop cleanup` and `interop clouds --discover`: arguments, output, exit codes."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from harness import cli
from harness.provision.teardown import Item, TeardownResult


def test_cleanup_needs_exactly_one_of_run_id_and_prefix(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["cleanup", "--run-id", "x", "--prefix", "interop-x"])
    assert exc.value.code == 2 and "not allowed with" in capsys.readouterr().err


def test_cleanup_refuses_a_broad_prefix_before_touching_anything(run_cli: Any) -> None:
    rc, _, err = run_cli("cleanup", "--prefix", "web", "--clouds-yaml", "/nonexistent")
    assert rc == 2 and "must start with 'interop-'" in err


def test_cleanup_of_an_unknown_run(tmp_path: Path, clouds_yaml: Path, run_cli: Any) -> None:
    rc, _, err = run_cli("cleanup", "--run-id", "nope", "--reports-dir", str(tmp_path),
                         "--clouds-yaml", str(clouds_yaml))
    assert rc == 2 and "no run 'nope'" in err


def test_cleanup_prints_per_cloud_and_fails_when_unclean(clouds_yaml: Path, run_cli: Any,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    def fake(prefix: str, config: Any, **kw: Any) -> dict[str, TeardownResult]:
        ok = TeardownResult("lab1", deleted=[Item("server", "interop-x-lab1-server-0", "id-0")], seconds=1.2)
        bad = TeardownResult("lab2", left=[Item("network", "interop-x-lab2-net", "n-1")])
        return {"lab1": ok, "lab2": bad}

    monkeypatch.setattr("harness.provision.cleanup.cleanup_prefix", fake)
    rc, out, err = run_cli("cleanup", "--prefix", "interop-x", "--clouds-yaml", str(clouds_yaml))
    assert rc == 1 and "1 of 2 clouds not clean: lab2" in err
    assert "lab1   clean" in out and "1 server in 1.2s" in out
    assert "left: network interop-x-lab2-net (n-1)" in out


def test_discover_prints_a_loadable_challenge_file(clouds_yaml: Path, run_cli: Any,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    def propose(ctx: Any, stack: str) -> dict[str, Any]:
        return {"settings": {"image": "debian-12", "flavor": None, "floating_ip": "auto"},
                "notes": {"image": "matches debian; 2 candidates", "flavor": "no flavor has at least 512 MB",
                          "floating_ip": "external network public"}}

    monkeypatch.setattr("harness.provision.discovery.propose", propose)
    monkeypatch.setattr("harness.clouds.CloudsConfig.connect", lambda self, cloud, **kw: _Closable())
    rc, out, _ = run_cli("clouds", "--discover", "--clouds-yaml", str(clouds_yaml))
    assert rc == 0
    assert "    image: debian-12  # matches debian; 2 candidates" in out
    doc = yaml.safe_load(out)
    assert doc == {"stack": "hosts-patroni",
                   "clouds": {"lab1": {"image": "debian-12", "flavor": None, "floating_ip": "auto"}}}
    from harness.challenge import Challenge

    Challenge.model_validate(doc)  # the proposal is a valid challenge file


class _Closable:
    def close(self) -> None:
        pass
