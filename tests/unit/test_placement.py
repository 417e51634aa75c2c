"""Placement engine: packing, ports, offers and agents, reasons, policies (table tests).

Rows carry the arithmetic: "8192 // 3000 = 2" means mem allows two instances.
Constraint semantics have their own module, test_placement_constraints.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace

import pytest

from framework.core.model import Constraint, ConstraintOperator, Demand, Offer, Policy, RunningTask
from framework.core.placement import (
    ConstraintUnmet,
    Heuristic,
    NoFit,
    NoOffers,
    Placement,
    ReasonKind,
    place,
)
from framework.core.placement.result import PlacedGroup, new_group
from framework.core.resources import Resources

# --- builders ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class OfferBuilder:
    """make_offer(cpus=4, mem=8192).on_agent("a1") -> Offer."""

    resources: Resources
    attributes: Mapping[str, str] = field(default_factory=dict)
    role: str = "*"

    def on_agent(self, agent: str, offer_id: str | None = None, hostname: str | None = None) -> Offer:
        return Offer(
            offer_id or f"offer-{agent}",
            agent,
            hostname or f"{agent}.example",
            self.role,
            self.resources,
            self.attributes,
        )

    def with_attributes(self, **attributes: str) -> OfferBuilder:
        return replace(self, attributes=attributes)

    def in_role(self, role: str) -> OfferBuilder:
        return replace(self, role=role)


def make_offer(
    cpus: float = 4,
    mem: float = 8192,
    disk: float = 0,
    gpus: float = 0,
    ports: tuple[tuple[int, int], ...] = (),
) -> OfferBuilder:
    return OfferBuilder(Resources.of(cpus=cpus, mem=mem, disk=disk, gpus=gpus, ports=ports))


def make_demand(
    app: str = "web",
    count: int = 1,
    cpus: float = 1,
    mem: float = 1024,
    ports: int = 0,
    constraints: tuple[Constraint, ...] = (),
    policy: Policy = Policy.PACK,
    version: str = "v1",
) -> Demand:
    return Demand(
        app,
        version,
        Resources.of(cpus=cpus, mem=mem),
        tuple(f"p{i}" for i in range(ports)),
        count,
        constraints,
        policy,
    )


def per_agent(placement: Placement) -> dict[str, int]:
    """agent id -> instances placed there."""
    return {launch.agent_id: launch.task_count for launch in placement.launches}


# --- fits and packing -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("agent", "demand", "placed"),
    [
        # min(4 // 1 = 4 by cpus, 8192 // 3000 = 2 by mem) = 2
        (make_offer(cpus=4, mem=8192), make_demand(count=5, cpus=1, mem=3000), 2),
        # min(4 // 0.5 = 8 by cpus, 8192 // 512 = 16 by mem) = 8
        (make_offer(cpus=4, mem=8192), make_demand(count=20, cpus=0.5, mem=512), 8),
        # 0.3 // 0.1 = 3 in thousandths (300 // 100); floats would stop at 2 (0.1 + 0.1 + 0.1 > 0.3)
        (make_offer(cpus=0.3, mem=100), make_demand(count=3, cpus=0.1, mem=10), 3),
        # exactly full: 2 x (2 cpus, 4096 MB) = (4, 8192)
        (make_offer(cpus=4, mem=8192), make_demand(count=2, cpus=2, mem=4096), 2),
        # one thousandth too much: 4.001 > 4
        (make_offer(cpus=4, mem=8192), make_demand(count=1, cpus=4.001, mem=1), 0),
    ],
)
def test_instances_fit_by_integer_division(agent: OfferBuilder, demand: Demand, placed: int) -> None:
    for heuristic in Heuristic:
        result = place([demand], [agent.on_agent("a1")], heuristic=heuristic)
        assert result.placed_count(demand.key) == placed
        assert (demand.key in result.unplaced) is (placed < demand.count)


def test_demands_of_no_resources_all_fit_on_one_agent() -> None:
    # Nothing requested, so any offer holds every instance (this used to raise on an empty min()).
    placement = place([make_demand(count=3, cpus=0, mem=0)], [make_offer().on_agent("a1")])
    assert per_agent(placement) == {"a1": 3}
    assert not placement.unplaced


def test_pack_fills_the_fullest_agent_that_fits() -> None:
    # free cpus: a1 = 8, a2 = 2, a3 = 3; a 2-cpu instance fits all three: the fullest is a2 (2 - 2 = 0 left).
    offers = [make_offer(cpus=c, mem=8192).on_agent(a) for a, c in (("a1", 8), ("a2", 2), ("a3", 3))]
    for heuristic in Heuristic:
        assert per_agent(place([make_demand(cpus=2, mem=512)], offers, heuristic=heuristic)) == {"a2": 1}


def test_pack_keeps_whole_agents_free() -> None:
    # 4 x 1 cpu on agents of 4 cpus: all four fit on one agent (4 // 1 = 4), the other two stay unused.
    offers = [make_offer(cpus=4).on_agent(a) for a in ("a1", "a2", "a3")]
    result = place([make_demand(count=4)], offers)
    assert per_agent(result) == {"a1": 4}
    assert result.unused_offer_ids == ("offer-a2", "offer-a3")


def test_mixed_demands_pack_into_the_fewest_agents() -> None:
    # Two agents of (4 cpus, 16384 MB). A: 2 x (3 cpus, 2048 MB), B: 2 x (1 cpu, 6144 MB).
    # Each agent can hold exactly one A and one B: (3 + 1, 2048 + 6144) = (4, 8192) -> 2 agents, not 3.
    offers = [make_offer(cpus=4, mem=16384).on_agent(a) for a in ("a1", "a2")]
    demands = [make_demand("a", 2, cpus=3, mem=2048), make_demand("b", 2, cpus=1, mem=6144)]
    result = place(demands, offers)
    assert result.unplaced == {}
    assert sorted(per_agent(result).values()) == [2, 2]


def test_identical_instances_are_one_group_per_agent() -> None:
    # 10 x 1 cpu on agents of 4 cpus: 4 + 4 + 2, one group each, indices 0-3, 4-7, 8-9.
    offers = [make_offer(cpus=4).on_agent(a) for a in ("a1", "a2", "a3")]
    result = place([make_demand(count=10, mem=1)], offers)
    groups = [g for launch in result.launches for g in launch.groups]
    assert [(g.agent_id, g.first_index, g.count) for g in groups] == [
        ("a1", 0, 4),
        ("a2", 4, 4),
        ("a3", 8, 2),
    ]
    indices = [t.index for launch in result.launches for t in launch.tasks()]
    assert indices == list(range(10))


def test_placed_group_expands_into_tasks_with_their_resources() -> None:
    offer = make_offer(cpus=4, ports=((31000, 31003),)).on_agent("a1")
    result = place([make_demand(count=2, cpus=1, mem=128, ports=2)], [offer])
    (group,) = result.launches[0].groups
    tasks = list(group.tasks())
    assert [t.host_ports for t in tasks] == [(31000, 31001), (31002, 31003)]
    assert tasks[1].resources == Resources.of(cpus=1, mem=128, ports=[(31002, 31003)])
    # total: 2 x (1 cpu, 128 MB) plus all four ports
    assert group.total == Resources.of(cpus=2, mem=256, ports=[(31000, 31003)])


# --- ports ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ranges", "ports_each", "count", "placed", "first_ports"),
    [
        # 3 ports offered // 2 per instance = 1 instance, though cpus allow 4
        (((31000, 31002),), 2, 4, 1, (31000, 31001)),
        # two ranges hold 2 + 2 = 4 ports: 2 instances, the second spanning both ranges
        (((31000, 31001), (32000, 32001)), 2, 2, 2, (31000, 31001)),
        # no ports offered: none placed
        ((), 1, 1, 0, None),
        # no ports asked: ranges irrelevant
        ((), 0, 3, 3, ()),
    ],
)
def test_host_ports_come_from_offered_ranges(
    ranges: tuple[tuple[int, int], ...],
    ports_each: int,
    count: int,
    placed: int,
    first_ports: tuple[int, ...] | None,
) -> None:
    offer = make_offer(cpus=4, ports=ranges).on_agent("a1")
    result = place([make_demand(count=count, mem=1, ports=ports_each)], [offer])
    assert result.task_count == placed
    tasks = [t for launch in result.launches for t in launch.tasks()]
    if first_ports is not None:
        assert tasks[0].host_ports == first_ports
    used = [p for t in tasks for p in t.host_ports]
    assert len(used) == len(set(used)) == placed * ports_each


def test_ports_short_is_reported_as_no_fit() -> None:
    offer = make_offer(cpus=4, ports=((31000, 31000),)).on_agent("a1")
    result = place([make_demand(count=2, mem=1, ports=1)], [offer])
    # 1 port // 1 per instance = 1 placed; the second finds 0 ports where it needs 1
    assert result.unplaced[("web", "v1")].reasons == (NoFit("ports", 1.0, 0.0, 1),)


# --- offers, agents and roles -----------------------------------------------------------------------


def test_offers_of_one_agent_are_used_together() -> None:
    # Two offers on a1 with 2 cpus each: a 3-cpu instance fits only in their sum (2 + 2 = 4 >= 3).
    offers = [make_offer(cpus=2).on_agent("a1", "o1"), make_offer(cpus=2).on_agent("a1", "o2")]
    result = place([make_demand(cpus=3, mem=1)], offers)
    assert [(launch.agent_id, launch.offer_ids) for launch in result.launches] == [("a1", ("o1", "o2"))]
    assert result.unused_offer_ids == ()


def test_offers_of_different_roles_make_separate_launches() -> None:
    # One ACCEPT may hold offers of one role only: a1/* and a1/analytics are two bins.
    offers = [
        make_offer(cpus=1).on_agent("a1", "o1"),
        make_offer(cpus=1).in_role("analytics").on_agent("a1", "o2"),
    ]
    result = place([make_demand(count=2, mem=1)], offers)
    assert sorted((launch.role, launch.offer_ids) for launch in result.launches) == [
        ("*", ("o1",)),
        ("analytics", ("o2",)),
    ]


def test_unused_offers_keep_input_order() -> None:
    offers = [make_offer(cpus=1).on_agent(a) for a in ("a3", "a1", "a2")]
    result = place([], offers)
    assert result.launches == ()
    assert result.unused_offer_ids == ("offer-a3", "offer-a1", "offer-a2")


def test_repeated_offer_id_is_a_programming_error() -> None:
    offer = make_offer().on_agent("a1")
    with pytest.raises(ValueError, match="offer offer-a1 given twice"):
        place([], [offer, offer])


def test_repeated_demand_key_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="distinct"):
        place([make_demand(), make_demand()], [])


# --- reasons --------------------------------------------------------------------------------------------


def test_no_offers_is_a_reason() -> None:
    result = place([make_demand()], [])
    report = result.unplaced[("web", "v1")]
    assert (report.placed, report.unplaced, report.reasons) == (0, 1, (NoOffers(),))
    assert report.reasons[0].kind is ReasonKind.NO_OFFERS


def test_no_fit_names_the_resource_the_request_and_the_best_available() -> None:
    # Three agents, 512 MB asked. a1 has 256 MB, a2 128 MB: both refuse for mem, best available 256.
    # a3 has mem but only 0.5 cpus: refuses for cpus (cpus are checked first).
    offers = [
        make_offer(cpus=4, mem=256).on_agent("a1"),
        make_offer(cpus=4, mem=128).on_agent("a2"),
        make_offer(cpus=0.5, mem=4096).on_agent("a3"),
    ]
    report = place([make_demand(cpus=1, mem=512)], offers).unplaced[("web", "v1")]
    assert report.reasons == (NoFit("mem", 512.0, 256.0, 2), NoFit("cpus", 1.0, 0.5, 1))
    assert {r.kind for r in report.reasons} == {ReasonKind.NO_FIT}
    assert "2 agent(s) with insufficient mem (requested 512, best available 256)" in report.message


def test_partly_placed_demand_reports_what_is_left() -> None:
    # 3 // 1 = 3 of 5 placed on the only agent; 2 left, refused for cpus with 0 left.
    report = place([make_demand(count=5, mem=1)], [make_offer(cpus=3).on_agent("a1")]).unplaced[("web", "v1")]
    assert (report.placed, report.unplaced) == (3, 2)
    assert report.reasons == (NoFit("cpus", 1.0, 0.0, 1),)


def test_constraint_refusals_come_before_resource_refusals() -> None:
    # a1 is in rack r2, which LIKE r1 excludes, and it is also too small: the constraint is the reason.
    rack = Constraint("rack", ConstraintOperator.LIKE, "r1")
    offers = [make_offer(cpus=0.1).with_attributes(rack="r2").on_agent("a1")]
    report = place([make_demand(constraints=(rack,))], offers).unplaced[("web", "v1")]
    assert report.reasons == (ConstraintUnmet(rack, 1),)
    assert report.reasons[0].kind == "constraint_unmet"


# --- policies -------------------------------------------------------------------------------------------


def test_spread_puts_one_instance_per_agent_first() -> None:
    offers = [make_offer(cpus=8).on_agent(a) for a in ("a1", "a2", "a3")]
    # 4 instances on 3 agents: 1 each, then the 4th on the fullest (all equal: the first in offer order)
    result = place([make_demand(count=4, policy=Policy.SPREAD, mem=1)], offers)
    assert per_agent(result) == {"a1": 2, "a2": 1, "a3": 1}


def test_spread_counts_running_instances() -> None:
    offers = [make_offer(cpus=8).on_agent(a) for a in ("a1", "a2", "a3")]
    running = [RunningTask("web", "a1", "a1.example"), RunningTask("web", "a1", "a1.example")]
    # a1 already runs 2: the 2 new ones go to a2 and a3 (levels 0 -> 1), none to a1.
    result = place([make_demand(count=2, mem=1)], offers, running, policy=Policy.SPREAD)
    assert per_agent(result) == {"a2": 1, "a3": 1}


def test_policy_argument_overrides_each_demand() -> None:
    offers = [make_offer(cpus=8).on_agent(a) for a in ("a1", "a2")]
    demand = make_demand(count=2, policy=Policy.SPREAD, mem=1)
    assert per_agent(place([demand], offers, policy=Policy.PACK)) == {"a1": 2}
    assert per_agent(place([demand], offers)) == {"a1": 1, "a2": 1}


# --- determinism and validation -------------------------------------------------------------------------


def test_same_input_same_output() -> None:
    offers = [
        make_offer(cpus=c, mem=1024 * c, ports=((31000, 31010),)).on_agent(f"a{c}") for c in range(1, 9)
    ]
    demands = [make_demand(f"app{i}", count=i, cpus=0.5 * i, mem=300 * i, ports=i % 3) for i in range(1, 7)]
    assert place(demands, offers) == place(list(demands), list(offers))


def test_demand_validation() -> None:
    with pytest.raises(ValueError, match="count must be >= 0"):
        make_demand(count=-1)
    with pytest.raises(ValueError, match="must not hold ports"):
        Demand("web", "v1", Resources.of(cpus=1, ports=[(1, 1)]))


def test_zero_count_demand_is_ignored() -> None:
    result = place([make_demand(count=0)], [make_offer().on_agent("a1")])
    assert (result.launches, result.unplaced) == ((), {})


def test_fast_group_constructor_builds_the_same_value() -> None:
    # `new_group` fills the slots directly; it must give exactly what the dataclass constructor gives,
    # for every field (a field added to PlacedGroup without updating it would fail here).
    values = ("web", "v2", "a7", 12, 2, Resources.of(cpus=0.5, mem=64), ((31000, 31001), (31002, 31003)))
    assert len(values) == len(fields(PlacedGroup))
    built, reference = new_group(*values), PlacedGroup(*values)
    assert built == reference
    assert hash(built) == hash(reference)
    assert [getattr(built, f.name) for f in fields(PlacedGroup)] == list(values)
    with pytest.raises(AttributeError):
        built.count = 3  # type: ignore[misc]
