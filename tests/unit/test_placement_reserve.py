"""Placement: the online reserve (room kept on partly used agents for the batch's shapes), table tests.

Agents here are 10 cpus / 10,000 MB, so normalised sizes read as shares of an agent: an instance of
(1 cpu, 4,000 MB) is (0.1, 0.4). Rows carry the arithmetic of the margins (see reserve.py):

    g_cpu = c - lo * (m - k_mem)        g_mem = m - (c - k_cpu) / hi
"""

from __future__ import annotations

import pytest

from framework.core.model import Demand, Offer
from framework.core.placement import balanced as balanced_module
from framework.core.placement import place
from framework.core.placement.classes import ClassIndex, SizeClass, build_classes
from framework.core.placement.reserve import GAMMA, Reserve, build_reserve, running_usage
from framework.core.placement.scorers import free_columns, weighted_size, weights
from framework.core.placement.state import DemandPlan, build_bins
from framework.core.resources import Resources


def near(value: float) -> object:
    """Normalised sizes carry the integer weights' rounding (about 1e-7 of an agent)."""
    return pytest.approx(value, rel=1e-5, abs=1e-5)


def offer(agent: str, cpus: float = 10, mem: float = 10_000) -> Offer:
    return Offer(f"o-{agent}", agent, agent, "*", Resources.of(cpus=cpus, mem=mem))


def shapes(*sizes: tuple[float, float, int]) -> list[SizeClass]:
    """Size classes of (cpus, mem MB, count), normalised against one empty agent."""
    w = weights(build_bins([offer("a0")]))
    plans = [
        DemandPlan(i, Demand(f"app{i}", "v1", Resources.of(cpus=c, mem=m), count=n))
        for i, (c, m, n) in enumerate(sizes)
    ]
    for plan in plans:
        plan.size = weighted_size(plan.vector, w)
    return build_classes(plans, w)


@pytest.mark.parametrize(
    ("frees", "used"),
    [
        # largest free (4000, 8000): (4000-4000) + (4000-1000) + (4000-4000) = 3000; mem 0 + 0 + 6000
        ([(4, 8), (1, 8), (4, 2)], [3000, 6000, 0, 0]),
        # all agents alike: nothing in use
        ([(5, 5), (5, 5)], [0, 0, 0, 0]),
        # no agents
        ([], [0, 0, 0, 0]),
    ],
)
def test_running_usage_counts_up_from_the_largest_free_amount(
    frees: list[tuple[int, int]], used: list[int]
) -> None:
    # free cpus and mem in thousandths: 4 cpus = 4000, 8 MB = 8000
    agents = build_bins([offer(f"a{i}", cpus=c, mem=m) for i, (c, m) in enumerate(frees)])
    largest, total = free_columns(agents)
    assert running_usage(largest, total, len(agents)) == used


def test_no_reserve_without_work_in_use_or_without_two_resource_shapes() -> None:
    classes = shapes((1, 4000, 3), (1, 100, 5))
    assert build_reserve(classes, [0, 0, 0, 0]) is None  # offline: nothing to keep room for
    assert build_reserve(shapes((0, 4000, 3)), [1000, 0, 0, 0]) is None  # no class uses both


def test_reserve_bounds_are_the_batchs_extreme_shapes() -> None:
    # (0.1, 0.4): ratio 0.25 (memory-heavy); (0.1, 0.01): ratio 10; (0.2, 0.2): 1. An exhausted class
    # (count 0) does not count.
    classes = shapes((1, 4000, 3), (1, 100, 5), (2, 2000, 1), (5, 50, 0))
    reserve = build_reserve(classes, [1000, 0, 0, 0])
    assert reserve is not None
    assert reserve.lo == near(0.25)
    assert reserve.hi == near(10)
    # leans: x_c - lo * x_m and x_m - x_c / hi; (0.1, 0.4): 0.1 - 0.1 = 0, 0.4 - 0.01 = 0.39
    assert classes[0].cpu_lean == near(0.0)
    assert classes[0].mem_lean == near(0.39)
    # (0.1, 0.01): 0.1 - 0.0025 = 0.0975, 0.01 - 0.01 = 0
    assert classes[1].cpu_lean == near(0.0975)
    assert classes[1].mem_lean == near(0.0)


@pytest.mark.parametrize(
    ("cpu", "mem", "slack_mem", "margins"),
    [
        # fresh agent, no slack: 1 - 0.25 * 1 = 0.75; 1 - 1 / 10 = 0.9
        (1.0, 1.0, 0.0, (0.75, 0.9)),
        # cpus nearly gone, half the memory left: 0.05 - 0.25 * 0.5 = -0.075 (memory would be stranded)
        (0.05, 0.5, 0.0, (-0.075, 0.495)),
        # the same with 30% of memory to spare anyway: 0.05 - 0.25 * (0.5 - 0.3) = 0.0
        (0.05, 0.5, 0.3, (0.0, 0.495)),
    ],
)
def test_margins(cpu: float, mem: float, slack_mem: float, margins: tuple[float, float]) -> None:
    reserve = Reserve(0.25, 10.0)
    reserve.slack_mem = slack_mem
    g_cpu, g_mem = reserve.margins(cpu, mem)
    assert g_cpu == near(margins[0])
    assert g_mem == near(margins[1])


def test_a_shape_that_would_strand_much_is_refused_one_that_strands_little_is_allowed() -> None:
    cpu_heavy, mem_heavy = shapes((1, 100, 50), (1, 4000, 50))
    reserve = build_reserve([cpu_heavy, mem_heavy], [1000, 0, 0, 0])
    assert reserve is not None
    # Free (0.1, 0.5): g_cpu = 0.1 - 0.25 * 0.5 = -0.025 already. One cpu-heavy instance takes it to
    # (0.0, 0.49): -0.1225, further out. Filling with it strands 0.49 of memory (no cpus left), more
    # than GAMMA * (0.1 + 0.5) = 0.3: refused.
    g_cpu, g_mem = reserve.margins(0.1, 0.5)
    assert not reserve.allows(cpu_heavy, 0.1, 0.5, g_cpu, g_mem)
    # The memory-heavy one moves back towards the margins: (0.0, 0.1), g_cpu = 0 - 0.025: allowed.
    assert reserve.allows(mem_heavy, 0.1, 0.5, g_cpu, g_mem)
    # Free (0.12, 0.5): g_cpu = 0.12 - 0.125 = -0.005; one cpu-heavy instance: (0.02, 0.49), -0.1025.
    # Filling with it: min(0.12 / 0.1, 0.5 / 0.01) = 1.2 instances leave (0.0, 0.488): 0.488 of memory
    # stranded, not below GAMMA * (0.12 + 0.5) = 0.31: refused.
    g_cpu, g_mem = reserve.margins(0.12, 0.5)
    assert reserve.strands(cpu_heavy, 0.12, 0.5) == near(0.488)
    assert not reserve.allows(cpu_heavy, 0.12, 0.5, g_cpu, g_mem)
    # Free (0.3, 0.1): g_cpu = 0.3 - 0.025 = 0.275, g_mem = 0.1 - 0.03 = 0.07; one cpu-heavy instance
    # keeps both (0.275 - 0.0975 and 0.07 - 0 stay >= 0): allowed outright.
    g_cpu, g_mem = reserve.margins(0.3, 0.1)
    assert reserve.allows(cpu_heavy, 0.3, 0.1, g_cpu, g_mem)
    # Free (0.3, 0.06): g_cpu = 0.285, g_mem = 0.06 - 0.03 = 0.03; the memory-heavy shape (0.1, 0.4)
    # does not fit, and the cpu-heavy one strands little: it fits min(3, 6) = 3 times, leaving
    # (0.0, 0.03): 0.03 of memory, below GAMMA * 0.36 = 0.18.
    assert reserve.strands(cpu_heavy, 0.3, 0.06) == near(0.03)
    assert GAMMA == 0.5


def test_count_and_share_caps_stop_at_the_margins() -> None:
    cpu_heavy, mem_heavy = shapes((1, 100, 50), (1, 4000, 50))
    reserve = build_reserve([cpu_heavy, mem_heavy], [1000, 0, 0, 0])
    assert reserve is not None
    # margins (0.75, 0.9) on an empty agent; the cpu-heavy shape lowers g_cpu by 0.0975 each:
    # int(0.75 / 0.0975) = 7 instances keep it, so 20 are capped to 7; the mem-heavy one (lean 0) is not.
    assert reserve.count_cap(cpu_heavy, 0.75, 0.9, 20) == 7
    assert reserve.count_cap(mem_heavy, 0.75, 0.9, 20) == 2  # lean_mem 0.39: int(0.9 / 0.39) = 2
    # A batch still to place of (4.0, 0.5) agents: leans 4.0 - 0.125 = 3.875 and 0.5 - 0.4 = 0.1;
    # shares 0.75 / 3.875 = 0.1935 and 0.9 / 0.1 = 9: the slice may give at most 19.35% of it.
    assert reserve.share_cap(1.0, 1.0, 4.0, 0.5) == near(0.75 / 3.875)


def test_a_class_the_reserve_refuses_does_not_fit_in_the_search() -> None:
    cpu_heavy, mem_heavy = shapes((1, 100, 50), (1, 4000, 50))
    reserve = build_reserve([cpu_heavy, mem_heavy], [1000, 0, 0, 0])
    assert reserve is not None
    agent = build_bins([offer("a1", cpus=1, mem=5000)])[0]
    lookup = ClassIndex([cpu_heavy, mem_heavy])
    # Deficit (0.1, 0.0): the cpu-heavy shape (0.1, 0.01) is the nearest, and fits...
    assert lookup.pick(agent, 0.1, 0.5, (0.1, 0.0, 0.0, 0.0)) is cpu_heavy
    # ...but it would strand the agent's memory (see above), so with the reserve the other one is chosen.
    g_cpu, g_mem = reserve.margins(0.1, 0.5)
    assert lookup.pick(agent, 0.1, 0.5, (0.1, 0.0, 0.0, 0.0), reserve, g_cpu, g_mem) is mem_heavy


def test_offline_packing_is_the_same_with_the_reserve_off(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every offered agent empty: no work in use, so no reserve, and the slack is the batch's own.
    demands = [
        Demand("cpu", "v1", Resources.of(cpus=1, mem=100), count=60),
        Demand("mem", "v1", Resources.of(cpus=0.5, mem=3000), count=12),
    ]
    offers = [offer(f"a{i}") for i in range(12)]
    with_reserve = place(demands, offers)
    monkeypatch.setattr(balanced_module, "build_reserve", lambda *args: None)
    assert place(demands, offers) == with_reserve
