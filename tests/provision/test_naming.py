import pytest

from harness.errors import ConfigError
from harness.provision.naming import Names, check_sweep_prefix, run_prefix, run_tag, slug


def test_names_carry_run_and_cloud() -> None:
    names = Names.for_run("20261125T001500Z-ab12", "lab1")
    assert names.prefix == "interop-20261125t001500z-ab12-lab1-"
    assert names.of("server", 3) == names.prefix + "server-3"
    assert names.of("net") == names.prefix + "net"
    assert names.owns(names.of("sg")) and not names.owns("interop-20261125t001500z-ab12-lab2-sg")
    assert names.prefix.startswith(run_prefix("20261125T001500Z-ab12"))


def test_names_are_safe_for_regex_filters_and_shells() -> None:
    names = Names.for_run("my run/1.0", "Cloud A (EU).west")
    assert set(names.of("server", 0)) <= set("abcdefghijklmnopqrstuvwxyz0123456789-")


def test_long_parts_are_hashed_not_truncated_into_collisions() -> None:
    a, b = slug("x" * 40 + "a", 24), slug("x" * 40 + "b", 24)
    assert a != b and len(a) <= 24 and len(b) <= 24


def test_run_tag_fits_nova_tag_rules() -> None:
    tag = run_tag("20261125T001500Z-ab12")
    assert len(tag) <= 60 and "/" not in tag and "," not in tag


@pytest.mark.parametrize("prefix", ["", "interop-", "int", "foo-", "web"])
def test_sweep_prefix_must_be_ours_and_specific(prefix: str) -> None:
    with pytest.raises(ConfigError, match="must start with 'interop-'"):
        check_sweep_prefix(prefix)
