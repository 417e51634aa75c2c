"""Placement: copying one agent's fill to the identical agents after it (the class-wise fast path).

The balanced fill computes an agent's fill once and gives the same fill to the run of identical
agents that follows it in the walk (same free scalars, same free port count), as many as the
classes can supply and at most 1/COPY_SHARE of the agents the batch still needs. These tests pin
that, on inputs where the per-agent walk gives every agent the same fill, copying changes nothing
(`per_agent_walk` turns copying off), and that copying actually happens there.

Rows carry the arithmetic: "phi = min(8 / 320, 32768 / 655360) = 0.025" is the share of the whole
batch one empty agent can take; every class then gets floor(count * phi) instances by slicing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from framework.core.model import Demand, Offer
from framework.core.placement import Placement, place
from framework.core.placement import balanced as balanced_module
from framework.core.placement.balanced import BalancedFill
from framework.core.placement.classes import ClassIndex
from framework.core.placement.index import FreeIndex
from framework.core.placement.scorers import weights
from framework.core.placement.state import build_bins
from framework.core.resources import Resources


def agents(count: int, cpus: float, mem: float, ports: int = 0, prefix: str = "a") -> list[Offer]:
    """`count` identical offers of `cpus` cpus and `mem` MB, with `ports` host ports from 31000."""
    ranges = ((31000, 31000 + ports - 1),) if ports else ()
    return [
        Offer(
            f"o-{prefix}{i}",
            f"{prefix}{i}",
            f"{prefix}{i}.example",
            "*",
            Resources.of(cpus, mem, ports=ranges),
        )
        for i in range(count)
    ]


def app(name: str, count: int, cpus: float, mem: float, ports: int = 0) -> Demand:
    return Demand(name, "v1", Resources.of(cpus=cpus, mem=mem), tuple(f"p{i}" for i in range(ports)), count)


@pytest.fixture
def fills(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts the fills computed (one entry per agent filled by the slice and fill steps)."""
    calls: list[int] = []
    original = BalancedFill._fill

    def counting(self: BalancedFill, *args: Any) -> int:
        calls.append(1)
        return original(self, *args)

    monkeypatch.setattr(BalancedFill, "_fill", counting)
    yield calls


def per_agent_walk(demands: list[Demand], offers: list[Offer], monkeypatch: pytest.MonkeyPatch) -> Placement:
    """The same call with copying off: no run of twins is ever long enough to receive a copy."""
    with monkeypatch.context() as patch:
        patch.setattr(balanced_module, "COPY_SHARE", 1 << 62)
        return place(demands, offers)


def layout(placement: Placement) -> list[tuple[str, list[tuple[str, int, int, tuple[tuple[int, ...], ...]]]]]:
    return [
        (launch.agent_id, [(g.app_id, g.first_index, g.count, g.host_ports) for g in launch.groups])
        for launch in placement.launches
    ]


CASES = {
    # One class. Agent: min(4 // 1, 8192 // 1024) = 4 instances; 200 / 4 = 50 agents of 60.
    "one app": ([app("web", 200, 1, 1024)], agents(60, 4, 8192)),
    # Two classes sliced together: phi = min(8 / 320, 32768 / 655360) = 0.025, so
    # floor(160 * 0.025) = 4 of each per agent, (8 cpus, 16384 MB) used; 160 / 4 = 40 agents.
    "two apps sliced": ([app("a", 160, 1, 1024), app("b", 160, 1, 3072)], agents(50, 8, 32768)),
    # Host ports make every copy take its own ports (committed agent by agent): 4 per agent, all
    # 10 offered ports (31000-31009) are enough for 4 instances of one port each.
    "with ports": ([app("web", 120, 1, 1024, ports=1)], agents(40, 4, 8192, ports=10)),
    # Two apps of one size are one class with two members: each copy takes from the first member until
    # it runs out (indices stay contiguous per app), as the per-agent walk does.
    "one size, two apps": ([app("web", 90, 1, 1024), app("api", 110, 1, 1024)], agents(60, 4, 8192)),
    # Twins must be identical, not just equally large. With the largest agent (8.192 cpus, 16.384 MB)
    # the weights are 2**40 // 8192 = 2**27 per thousandth of a cpu and 2**40 // 16384 = 2**26 per
    # thousandth of a MB, so (4.096, 8.192) and (2.048, 12.288) both weigh 2**39 + 2**39 = 2**38 +
    # 3 * 2**38 = 2**40 and alternate in the walk (ties by index): no two neighbours are identical,
    # and every agent is filled on its own. A (1.024, 1.024) instance: 4 fit the first, 2 the second.
    "equal sizes, different shapes": (
        [app("web", 100, 1.024, 1.024)],
        [
            *agents(1, 8.192, 16.384, prefix="big"),
            *[
                o
                for pair in zip(agents(30, 4.096, 8.192), agents(30, 2.048, 12.288, prefix="b"), strict=True)
                for o in pair
            ],
        ],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_copied_fills_equal_the_per_agent_walk(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    demands, offers = CASES[case]
    copied = place(demands, offers)
    assert layout(copied) == layout(per_agent_walk(demands, offers, monkeypatch))
    assert copied.unplaced == {}


def test_a_run_of_identical_agents_costs_a_few_fills(fills: list[int]) -> None:
    # 200 / 4 = 50 agents. After the first: the batch still needs 196 / 4 = 49 agents, so at most
    # 49 // 8 = 6 copies; then 45 // 8 = 5 copies, and so on down to runs too short to copy.
    placement = place([app("web", 200, 1, 1024)], agents(60, 4, 8192))
    assert placement.task_count == 200
    assert len(placement.launches) == 50
    assert len(fills) < 25


def test_no_copies_across_agents_of_different_shape(fills: list[int]) -> None:
    demands, offers = CASES["equal sizes, different shapes"]
    placement = place(demands, offers)
    assert placement.task_count == 100
    assert len(fills) == len(placement.launches)


def test_a_copy_never_takes_more_than_a_class_has_left() -> None:
    # 7 instances, 4 per agent: the first agent takes 4, the 3 left cannot make a copy of 4.
    # With 70: 4 per agent for 17 agents (68), then 2 on one more agent.
    for count, expected in ((7, [4, 3]), (70, [4] * 17 + [2])):
        placement = place([app("web", count, 1, 1024)], agents(40, 4, 8192))
        assert [launch.task_count for launch in placement.launches] == expected


def test_refresh_all_orders_agents_as_refreshing_each_does() -> None:
    # Shrink 40 of 50 agents (more than 1/16 of them, so refresh_all re-sorts instead of moving each).
    offers = [Offer(f"o{i}", f"a{i}", f"a{i}", "*", Resources.of(4 + i % 3, 8192)) for i in range(50)]
    one_by_one, all_at_once = build_bins(offers), build_bins(offers)
    w = weights(one_by_one)
    first, second = FreeIndex(one_by_one, w), FreeIndex(all_at_once, w)
    for bins in (one_by_one, all_at_once):
        for agent in bins[:40]:
            agent.free[0] -= 1000 * (agent.index % 4)
    for agent in one_by_one[:40]:
        first.refresh(agent)
    second.refresh_all(all_at_once[:40])
    assert first.keys == second.keys
    assert [a.sort_key for a in one_by_one] == [a.sort_key for a in all_at_once]


def test_a_search_places_several_instances_of_a_class_with_many(monkeypatch: pytest.MonkeyPatch) -> None:
    # A 1,000-cpu instance that fits nowhere keeps the slice out: rem = 200 * 1 + 1,000 = 1,200 cpus, so
    # an agent's share is floor(200 * 4 / 1,200) = 0. The fill then places the 1-cpu app: on an empty
    # agent, min(4 // 1, 8192 // 1024) = 4 fit within the deficit: half of them (2) in one search, then
    # 1 of the 2 left, then the last one: 3 searches per agent filled instead of 4 (and the identical
    # agents after it get copies without searching at all).
    searches: list[int] = []
    original = ClassIndex.pick

    def counting(self: ClassIndex, *args: Any) -> Any:
        searches.append(1)
        return original(self, *args)

    monkeypatch.setattr(ClassIndex, "pick", counting)
    demands = [app("web", 200, 1, 1024), app("huge", 1, 1000, 1024)]
    placement = place(demands, agents(60, 4, 8192))
    assert placement.placed_count(("web", "v1")) == 200
    assert len(placement.launches) == 50
    assert len(searches) < 200
