"""Placement constraints with Marathon semantics, counted over running plus just-placed tasks."""

from __future__ import annotations

import pytest

from framework.core.model import HOSTNAME, Constraint, ConstraintOperator, Offer, Policy, RunningTask
from framework.core.placement import ConstraintUnmet, place
from tests.unit.test_placement import make_demand, make_offer, per_agent

Op = ConstraintOperator


def rack_offers(*racks: str, cpus: float = 8) -> list[Offer]:
    """Agents a1, a2, ... with the given rack attributes (empty string: no rack attribute)."""
    offers = []
    for i, rack in enumerate(racks, start=1):
        builder = make_offer(cpus=cpus, mem=65536)
        if rack:
            builder = builder.with_attributes(rack=rack)
        offers.append(builder.on_agent(f"a{i}"))
    return offers


def run_on(agent: str, rack: str | None = None, app: str = "web") -> RunningTask:
    return RunningTask(app, agent, f"{agent}.example", {"rack": rack} if rack else {})


@pytest.mark.parametrize(
    ("constraint", "racks", "running", "count", "expected"),
    [
        # UNIQUE hostname: one per agent; a1 already runs one -> a2, a3 only, third instance unplaced
        (Constraint(HOSTNAME, Op.UNIQUE), ("r1", "r1", "r2"), [run_on("a1")], 3, {"a2": 1, "a3": 1}),
        # UNIQUE rack: one per rack value; r1 and r2 -> 2 placed, the agent without a rack never qualifies
        (Constraint("rack", Op.UNIQUE), ("r1", "r1", "r2", ""), [], 3, {"a1": 1, "a3": 1}),
        # MAX_PER rack 2: r1 holds 2 (one running on a1 + one new), r2 holds 2 -> 3 new in total
        (Constraint("rack", Op.MAX_PER, "2"), ("r1", "r2"), [run_on("a1", "r1")], 5, {"a1": 1, "a2": 2}),
        # CLUSTER rack r2: only a2 qualifies, 8 cpus // 1 = all 3 there
        (Constraint("rack", Op.CLUSTER, "r2"), ("r1", "r2", "r3"), [], 3, {"a2": 3}),
        # CLUSTER rack without value: follows the running task's rack (r3)
        (Constraint("rack", Op.CLUSTER), ("r1", "r2", "r3"), [run_on("a9", "r3")], 2, {"a3": 2}),
        # LIKE rack r[12]: full match, so a3 (r12) is excluded ("r1" matches, "r12" does not match r[12])
        (Constraint("rack", Op.LIKE, "r[12]"), ("r1", "r2", "r12"), [], 2, {"a1": 2}),
        # UNLIKE rack r1: r1 excluded; the agent without the attribute qualifies
        (Constraint("rack", Op.UNLIKE, "r1"), ("r1", ""), [], 1, {"a2": 1}),
        # LIKE on hostname: a2.example only
        (Constraint(HOSTNAME, Op.LIKE, "a2\\..*"), ("r1", "r2"), [], 2, {"a2": 2}),
    ],
)
def test_constraint_table(
    constraint: Constraint,
    racks: tuple[str, ...],
    running: list[RunningTask],
    count: int,
    expected: dict[str, int],
) -> None:
    result = place([make_demand(count=count, constraints=(constraint,))], rack_offers(*racks), running)
    assert per_agent(result) == expected
    placed = sum(expected.values())
    if placed < count:
        report = result.unplaced[("web", "v1")]
        assert report.unplaced == count - placed
        assert all(isinstance(r, ConstraintUnmet) and r.constraint == constraint for r in report.reasons)


def test_cluster_without_value_sticks_to_the_first_agent_chosen() -> None:
    # Nothing runs yet: the first placement picks rack r1 (a1, fullest-first tie -> offer order), and
    # every later instance must share it even when a1 is full: a1 holds 2 (2 cpus // 1), a2 (r1) the rest.
    offers = rack_offers("r1", "r1", "r2", cpus=2)
    result = place([make_demand(count=4, constraints=(Constraint("rack", Op.CLUSTER),))], offers)
    assert per_agent(result) == {"a1": 2, "a2": 2}


def test_group_by_balances_over_values() -> None:
    # GROUP_BY rack over r1 (a1, a2) and r2 (a3): 6 instances -> 3 per rack.
    offers = rack_offers("r1", "r1", "r2")
    result = place([make_demand(count=6, constraints=(Constraint("rack", Op.GROUP_BY),))], offers)
    by_rack = {
        "r1": per_agent(result).get("a1", 0) + per_agent(result).get("a2", 0),
        "r2": per_agent(result)["a3"],
    }
    assert by_rack == {"r1": 3, "r2": 3}


def test_group_by_counts_running_tasks() -> None:
    # r1 already runs 2: the 2 new go to r2 first (counts r1=2, r2=0 -> 2, 2).
    offers = rack_offers("r1", "r2")
    running = [run_on("a1", "r1"), run_on("a1", "r1")]
    result = place([make_demand(count=2, constraints=(Constraint("rack", Op.GROUP_BY),))], offers, running)
    assert per_agent(result) == {"a2": 2}


def test_group_by_with_minimum_groups_waits_for_them() -> None:
    # GROUP_BY rack 3 with only r1 and r2 seen: each new value is admitted once, but with fewer than 3
    # groups known, a value that has tasks is refused: 2 placed (one per rack), 2 unplaced.
    offers = rack_offers("r1", "r2")
    demand = make_demand(count=4, constraints=(Constraint("rack", Op.GROUP_BY, "3"),))
    result = place([demand], offers)
    assert per_agent(result) == {"a1": 1, "a2": 1}
    assert result.unplaced[demand.key].unplaced == 2


def test_versions_of_one_app_share_constraint_counts() -> None:
    # UNIQUE hostname across v1 and v2 of one app (a rollout): 3 agents hold 3 instances in total.
    unique = (Constraint(HOSTNAME, Op.UNIQUE),)
    demands = [
        make_demand(count=2, constraints=unique, version="v1"),
        make_demand(count=2, constraints=unique, version="v2"),
    ]
    result = place(demands, rack_offers("r1", "r1", "r1"))
    assert result.task_count == 3
    assert all(n == 1 for n in per_agent(result).values())


def test_other_apps_do_not_count() -> None:
    # UNIQUE hostname for web; a1 runs a task of "db", which does not matter.
    result = place(
        [make_demand(count=2, constraints=(Constraint(HOSTNAME, Op.UNIQUE),))],
        rack_offers("r1", "r1"),
        [run_on("a1", app="db")],
    )
    assert per_agent(result) == {"a1": 1, "a2": 1}


def test_spread_with_constraints_respects_both() -> None:
    # SPREAD over agents, LIKE rack r1 limits to a1, a2: 4 instances -> 2 + 2, none on a3 (r2).
    demand = make_demand(count=4, constraints=(Constraint("rack", Op.LIKE, "r1"),), policy=Policy.SPREAD)
    assert per_agent(place([demand], rack_offers("r1", "r1", "r2"))) == {"a1": 2, "a2": 2}


@pytest.mark.parametrize(
    ("field", "operator", "value", "message"),
    [
        ("rack", Op.LIKE, None, "needs a regex"),
        ("rack", Op.UNLIKE, "(", "invalid regex"),
        ("rack", Op.MAX_PER, "zero", "positive integer"),
        ("rack", Op.MAX_PER, "0", "positive integer"),
        ("rack", Op.GROUP_BY, "-1", "positive integer"),
        ("", Op.UNIQUE, None, "must not be empty"),
    ],
)
def test_invalid_constraints_are_rejected(field: str, operator: Op, value: str | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Constraint(field, operator, value)


def test_constraint_accepts_operator_names_and_prints_like_marathon() -> None:
    constraint = Constraint("rack", "MAX_PER", "2")  # type: ignore[arg-type]
    assert constraint.operator is Op.MAX_PER
    assert constraint.limit == 2
    assert str(constraint) == "rack:MAX_PER:2"
    assert str(Constraint(HOSTNAME, Op.UNIQUE)) == "hostname:UNIQUE"
