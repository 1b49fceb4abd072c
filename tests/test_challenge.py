from pathlib import Path

import pytest

from harness.challenge import Challenge, FloatingIpPool, FloatingIpPreallocated, challenge_path, load_challenge
from harness.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "challenge.yaml"
    path.write_text(text)
    return path


def test_defaults_and_overrides_merge(tmp_path):
    path = write(tmp_path, """
stack: hosts-patroni
clouds:
  a:
  b: {nodes: 3, floating_ip: none}
  c: {floating_ip: {pool: ext-net}}
defaults: {image: debian-12, nodes: 2, floating_ip: auto}
""")
    ch = load_challenge(path, known_clouds=["a", "b", "c"])
    assert ch.settings_for("a").nodes == 2 and ch.settings_for("a").image == "debian-12"
    assert ch.settings_for("b").nodes == 3 and ch.settings_for("b").floating_ip == "none"
    assert ch.settings_for("b").image == "debian-12"
    assert ch.settings_for("c").floating_ip == FloatingIpPool(pool="ext-net")


def test_preallocated_floating_ips_are_validated(tmp_path):
    ok = write(tmp_path, "clouds: {a: {floating_ip: {preallocated: [203.0.113.5]}}}")
    assert load_challenge(ok).settings_for("a").floating_ip == FloatingIpPreallocated(preallocated=["203.0.113.5"])
    bad = write(tmp_path, "clouds: {a: {floating_ip: {preallocated: [not-an-ip]}}}")
    with pytest.raises(ConfigError) as err:
        load_challenge(bad)
    assert "clouds.a.floating_ip" in str(err.value)


def test_unknown_cloud_names_the_file_cloud_and_known_ones(tmp_path):
    path = write(tmp_path, "clouds: {lab1: {}, nosuch: {}}")
    with pytest.raises(ConfigError) as err:
        load_challenge(path, known_clouds=["lab1", "lab2"])
    msg = str(err.value)
    assert msg == f"{path}: clouds.nosuch: cloud 'nosuch' is not in clouds.yaml (known: lab1, lab2)"
    assert "\n" not in msg


def test_bad_field_type_names_file_cloud_and_field(tmp_path):
    path = write(tmp_path, "clouds: {lab1: {nodes: two}}")
    with pytest.raises(ConfigError) as err:
        load_challenge(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: clouds.lab1.nodes: ")
    assert "integer" in msg and "'two'" in msg
    assert "\n" not in msg


def test_unknown_field_is_rejected_by_name(tmp_path):
    path = write(tmp_path, "clouds: {lab1: {flavour: m1.small}}")
    with pytest.raises(ConfigError, match=r"clouds\.lab1\.flavour: unknown field"):
        load_challenge(path)


def test_unknown_stack_is_rejected(tmp_path):
    path = write(tmp_path, "stack: openshift\nclouds: {a: {}}")
    with pytest.raises(ConfigError, match=r"challenge.yaml: stack: unknown stack 'openshift' "
                                          r"\(known: hosts-patroni, k8s-cockroach\)$"):
        load_challenge(path)


def test_missing_file_says_how_to_give_one(tmp_path):
    with pytest.raises(ConfigError, match="challenge file not found .*--challenge FILE.*INTEROP_CHALLENGE"):
        load_challenge(tmp_path / "nope.yaml")


def test_invalid_yaml_names_the_line(tmp_path):
    path = write(tmp_path, "clouds:\n  a: {\n")
    with pytest.raises(ConfigError, match=r"line \d+ not valid YAML"):
        load_challenge(path)


def test_no_clouds_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="clouds"):
        load_challenge(write(tmp_path, "clouds: {}"))


def test_challenge_path_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv("INTEROP_CHALLENGE", raising=False)
    assert challenge_path(None) == Path("challenge.yaml")
    monkeypatch.setenv("INTEROP_CHALLENGE", str(tmp_path / "env.yaml"))
    assert challenge_path(None) == tmp_path / "env.yaml"
    assert challenge_path("given.yaml") == Path("given.yaml")


def test_bad_cidr_is_reported(tmp_path):
    with pytest.raises(ConfigError, match=r"clouds\.a\.cidr"):
        load_challenge(write(tmp_path, "clouds: {a: {cidr: 10.0.0.1/24}}"))


def test_misspelt_timeout_is_rejected_by_name(tmp_path):
    with pytest.raises(ConfigError, match=r"timeouts: unknown timeout 'server' \(known for stack hosts-patroni: "
                                          r"identity, .*peers.*, configure, deploy\)"):
        load_challenge(write(tmp_path, "clouds: {a: {}}\ntimeouts: {server: 30}"))


def test_every_phase_and_the_peer_wait_can_be_bounded():
    from harness.challenge import PROVISION_TIMEOUT_KEYS
    from harness.provision.pipeline import PHASE_NAMES
    from harness.stacks import known_stacks, load_stack

    assert set(PROVISION_TIMEOUT_KEYS) == {*PHASE_NAMES, "peers"}
    for stack in known_stacks():  # each stack's own phases are accepted for it
        Challenge.model_validate({"stack": stack, "clouds": {"a": {}},
                                  "timeouts": dict.fromkeys(load_stack(stack).phase_names(), 9)})
    ch = Challenge.model_validate({"clouds": {"a": {}}, "timeouts": {"peers": 5, "deploy": 7}})
    assert (ch.timeout("peers"), ch.timeout("deploy"), ch.timeout("servers")) == (5, 7, 600.0)


def test_survival_defaults_and_an_unknown_fault_named_with_its_field(tmp_path):
    ch = load_challenge(write(tmp_path, "clouds: {a: {}}"))
    assert ch.survival.enabled and ch.survival.faults == ["process-kill", "server-stop"]
    assert (ch.survival.max_lost_writes, ch.survival.hold_s) == (0, 25.0)
    with pytest.raises(ConfigError, match=r"challenge.yaml: survival: faults: unknown fault 'pod-delete' "
                                          r"\(known for stack hosts-patroni: cloud-cut, member-kill, process-kill, server-reboot-hard, server-stop\)"):
        load_challenge(write(tmp_path, "clouds: {a: {}}\nsurvival: {faults: [pod-delete]}"))
    cockroach = load_challenge(write(tmp_path, "stack: k8s-cockroach\nclouds: {a: {}}\nsurvival: {faults: [pod-delete]}"))
    assert cockroach.survival.faults == ["pod-delete"]  # the stack adds its own kinds
    with pytest.raises(ConfigError, match=r"survival.rate: Input should be greater than 0"):
        load_challenge(write(tmp_path, "clouds: {a: {}}\nsurvival: {rate: 0}"))
