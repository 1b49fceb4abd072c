"""The shared --join list: 3-5 addresses from at least 2 clouds, the same for the same nodes."""

from __future__ import annotations

import doctest
import itertools
import random

import pytest

from harness.errors import ConfigError
from harness.stacks.k8s_cockroach import join as join_module
from harness.stacks.k8s_cockroach.join import MAX_JOIN, MIN_CLOUDS, MIN_JOIN, choose_join
from harness.stacks.k8s_cockroach.plan import CrdbNode, CrdbPlan

pytestmark = pytest.mark.k8s


def nodes_of(shape: dict[str, int]) -> list[CrdbNode]:
    """``{"a": 2, "b": 1}`` -> nodes a-1, a-2, b-1, each with an address saying who it is."""
    out = []
    for c, (cloud, count) in enumerate(sorted(shape.items())):
        for i in range(1, count + 1):
            out.append(CrdbNode(f"{cloud}-{i}", cloud, f"172.24.{c}.{i}", f"10.{c}.0.{i}", f"{cloud}-{i}",
                                cloud, "nova"))
    return out


def clouds_in(chosen: tuple[str, ...], nodes: list[CrdbNode]) -> set[str]:
    by_addr = {f"{n.public_ip}:26257": n.cloud for n in nodes}
    return {by_addr[a] for a in chosen}


def test_the_plan_shares_one_list_round_robin_over_the_clouds(plan: CrdbPlan) -> None:
    assert plan.join == ("172.24.4.11:26257", "172.24.5.21:26257", "172.24.6.31:26257",
                         "172.24.4.12:26257", "172.24.5.22:26257")


@pytest.mark.parametrize("shape", [
    {"a": 3, "b": 1}, {"a": 1, "b": 4}, {"a": 2, "b": 2}, {"a": 5, "b": 5},
    {"a": 1, "b": 1, "c": 1}, {"a": 1, "b": 1, "c": 1, "d": 1, "e": 1, "f": 1, "g": 1},
    {"a": 3, "b": 3, "c": 3},
], ids=lambda s: "-".join(f"{k}{v}" for k, v in sorted(s.items())))
def test_every_feasible_shape_gets_3_to_5_addresses_from_2_or_more_clouds(shape: dict[str, int]) -> None:
    nodes = nodes_of(shape)
    chosen = choose_join(nodes)
    assert MIN_JOIN <= len(chosen) <= MAX_JOIN
    assert len(set(chosen)) == len(chosen)
    assert len(clouds_in(chosen, nodes)) >= MIN_CLOUDS
    assert len(chosen) == min(MAX_JOIN, len(nodes))  # takes all it may, up to five


def test_one_big_cloud_does_not_fill_the_list_alone() -> None:
    nodes = nodes_of({"a": 1, "b": 6})
    assert choose_join(nodes) == ("172.24.0.1:26257", "172.24.1.1:26257", "172.24.1.2:26257",
                                  "172.24.1.3:26257", "172.24.1.4:26257")


def test_more_than_five_clouds_give_one_address_each_of_the_first_five_by_name() -> None:
    nodes = nodes_of({c: 2 for c in "gfedcba"})
    assert clouds_in(choose_join(nodes), nodes) == set("abcde")


@pytest.mark.parametrize("seed", range(5))
def test_the_same_nodes_in_any_order_give_the_same_list(seed: int) -> None:
    nodes = nodes_of({"a": 2, "b": 3, "c": 1})
    shuffled = list(nodes)
    random.Random(seed).shuffle(shuffled)
    assert choose_join(shuffled) == choose_join(nodes)


def test_every_order_of_a_small_cluster_agrees() -> None:
    nodes = nodes_of({"a": 2, "b": 1})
    assert len({choose_join(list(p)) for p in itertools.permutations(nodes)}) == 1


def test_one_cloud_cannot_make_a_join_list_and_the_error_names_it() -> None:
    with pytest.raises(ConfigError, match="at least 2 clouds, only cloud solo has") as err:
        choose_join(nodes_of({"solo": 5}))
    assert err.value.cloud == "solo"


def test_no_nodes_at_all_is_the_same_error() -> None:
    with pytest.raises(ConfigError, match="at least 2 clouds, no cloud has"):
        choose_join([])


def test_two_nodes_are_too_few_and_the_error_counts_per_cloud() -> None:
    with pytest.raises(ConfigError, match=r"at least 3 addresses.*2 nodes \(a: 1, b: 1\)"):
        choose_join(nodes_of({"a": 1, "b": 1}))


def test_ipv6_addresses_are_bracketed() -> None:
    nodes = [CrdbNode(f"n{i}", c, f"fd00::{i}", "10.0.0.1", f"n{i}", c, "nova")
             for i, c in enumerate(["a", "b", "a"], start=1)]
    assert choose_join(nodes) == ("[fd00::1]:26257", "[fd00::2]:26257", "[fd00::3]:26257")


def test_the_module_examples_hold() -> None:
    assert doctest.testmod(join_module).failed == 0
