"""Safety properties of the placement engine, on random offers, demands and running tasks (Hypothesis)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from hypothesis import given
from hypothesis import strategies as st

from framework.core.model import HOSTNAME, Constraint, ConstraintOperator, Demand, Offer, Policy, RunningTask
from framework.core.placement import Heuristic, Placement, place
from framework.core.resources import Resources, normalize_ranges, ranges_contain

AGENTS = [f"a{i}" for i in range(6)]
RACKS = ["r1", "r2", "r3"]
APPS = ["web", "db", "api"]
Op = ConstraintOperator


def hostname(agent: str) -> str:
    return f"{agent}.example"


def rack_of(agent: str) -> str | None:
    # a0 has no rack attribute; the others cycle through r1..r3.
    index = int(agent[1:])
    return None if index == 0 else RACKS[index % len(RACKS)]


def attributes(agent: str) -> dict[str, str]:
    rack = rack_of(agent)
    return {"rack": rack} if rack else {}


@st.composite
def offers(draw: st.DrawFn) -> list[Offer]:
    out = []
    for i in range(draw(st.integers(0, 8))):
        agent = draw(st.sampled_from(AGENTS))
        start = draw(st.integers(31000, 31010))
        ports = normalize_ranges([(start, start + draw(st.integers(0, 4)))] if draw(st.booleans()) else [])
        resources = Resources(
            draw(st.integers(0, 8000)), draw(st.integers(0, 8_192_000)), draw(st.integers(0, 2000)), 0, ports
        )
        role = draw(st.sampled_from(["*", "*", "batch"]))
        out.append(Offer(f"o{i}", agent, hostname(agent), role, resources, attributes(agent)))
    return out


constraints = st.sampled_from(
    [
        Constraint(HOSTNAME, Op.UNIQUE),
        Constraint("rack", Op.UNIQUE),
        Constraint("rack", Op.MAX_PER, "2"),
        Constraint("rack", Op.CLUSTER, "r2"),
        Constraint("rack", Op.CLUSTER),
        Constraint("rack", Op.GROUP_BY),
        Constraint("rack", Op.LIKE, "r[12]"),
        Constraint("rack", Op.UNLIKE, "r1"),
        Constraint(HOSTNAME, Op.MAX_PER, "3"),
    ]
)


@st.composite
def demands(draw: st.DrawFn, with_constraints: bool = True) -> list[Demand]:
    out = []
    keys = draw(
        st.lists(st.tuples(st.sampled_from(APPS), st.sampled_from(["v1", "v2"])), max_size=4, unique=True)
    )
    for app, version in keys:
        resources = Resources(
            draw(st.integers(1, 3000)), draw(st.integers(0, 3_000_000)), draw(st.integers(0, 500))
        )
        chosen = tuple(draw(st.lists(constraints, max_size=2, unique=True))) if with_constraints else ()
        out.append(
            Demand(
                app,
                version,
                resources,
                tuple(f"p{i}" for i in range(draw(st.integers(0, 2)))),
                draw(st.integers(0, 12)),
                chosen,
                draw(st.sampled_from(list(Policy))),
            )
        )
    return out


@st.composite
def running(draw: st.DrawFn) -> list[RunningTask]:
    return [
        RunningTask(app, agent, hostname(agent), attributes(agent))
        for app, agent in draw(
            st.lists(st.tuples(st.sampled_from(APPS), st.sampled_from(AGENTS)), max_size=6)
        )
    ]


heuristics = st.sampled_from(list(Heuristic))


def placed_tasks(result: Placement) -> list[tuple[str, str, str]]:
    """(app_id, version, agent_id) per placed instance."""
    return [
        (g.app_id, g.version, g.agent_id)
        for launch in result.launches
        for g in launch.groups
        for _ in range(g.count)
    ]


@given(offers(), demands(), running(), heuristics)
def test_never_overcommits_an_offer(
    offered: list[Offer], wanted: list[Demand], run: list[RunningTask], h: Heuristic
) -> None:
    _assert_within_offers(place(wanted, offered, run, heuristic=h), offered, wanted)


def _assert_within_offers(result: Placement, offered: list[Offer], wanted: list[Demand]) -> None:
    by_id = {o.offer_id: o for o in offered}
    for launch in result.launches:
        available = Resources()
        for offer_id in launch.offer_ids:
            available = available + by_id[offer_id].resources
        used = Resources()
        ports: list[int] = []
        for group in launch.groups:
            used = used + group.resources.scale(group.count)
            ports.extend(p for instance in group.host_ports for p in instance)
        # every scalar, in exact thousandths
        assert used.fits(available), (used, available)
        # every host port offered, and none given twice
        assert len(ports) == len(set(ports))
        assert ranges_contain(available.ports, normalize_ranges((p, p) for p in ports))
        # and each instance got exactly as many ports as it named
        for group in launch.groups:
            demand = next(d for d in wanted if d.key == (group.app_id, group.version))
            assert all(len(instance) == demand.port_count for instance in group.host_ports)
            assert len(group.host_ports) == (group.count if demand.port_count else 0)


@st.composite
def identical_offers(draw: st.DrawFn) -> list[Offer]:
    """A run of identical agents (where the balanced fill copies one agent's fill to the next ones)."""
    ports = draw(st.integers(0, 6))
    resources = Resources(
        draw(st.integers(500, 8000)),
        draw(st.integers(500_000, 8_192_000)),
        0,
        0,
        ((31000, 31000 + ports - 1),) if ports else (),
    )
    return [Offer(f"o{i}", f"a{i}", f"a{i}.example", "*", resources) for i in range(draw(st.integers(8, 60)))]


@st.composite
def many_instances(draw: st.DrawFn) -> list[Demand]:
    """Unconstrained PACK demands of up to 400 instances, two of them possibly of one size."""
    out = []
    size = Resources(draw(st.integers(1, 2000)), draw(st.integers(1, 2_000_000)))
    for app in draw(st.lists(st.sampled_from(APPS), min_size=1, max_size=3, unique=True)):
        resources = (
            size
            if draw(st.booleans())
            else Resources(draw(st.integers(1, 2000)), draw(st.integers(1, 2_000_000)))
        )
        ports = tuple(f"p{i}" for i in range(draw(st.integers(0, 1))))
        out.append(Demand(app, "v1", resources, ports, draw(st.integers(0, 400))))
    return out


@given(identical_offers(), many_instances())
def test_copied_fills_never_overcommit_nor_exceed_counts(offered: list[Offer], wanted: list[Demand]) -> None:
    result = place(wanted, offered)
    _assert_within_offers(result, offered, wanted)
    for demand in wanted:
        placed = result.placed_count(demand.key)
        assert placed + (result.unplaced[demand.key].unplaced if placed < demand.count else 0) == demand.count
    # instance indices of each demand are 0 .. placed-1, each once
    for demand in wanted:
        indices = sorted(
            t.index for launch in result.launches for t in launch.tasks() if t.app_id == demand.app_id
        )
        assert indices == list(range(len(indices)))


@given(offers(), demands(), running(), heuristics)
def test_one_agent_per_launch_group(
    offered: list[Offer], wanted: list[Demand], run: list[RunningTask], h: Heuristic
) -> None:
    result = place(wanted, offered, run, heuristic=h)
    by_id = {o.offer_id: o for o in offered}
    seen: list[str] = []
    for launch in result.launches:
        assert {(by_id[i].agent_id, by_id[i].role) for i in launch.offer_ids} == {
            (launch.agent_id, launch.role)
        }
        assert all(g.agent_id == launch.agent_id for g in launch.groups)
        assert launch.task_count > 0
        seen.extend(launch.offer_ids)
    seen.extend(result.unused_offer_ids)
    # every offer is answered exactly once: accepted in one launch, or unused (declined)
    assert sorted(seen) == sorted(by_id)


@given(offers(), demands(), running(), heuristics)
def test_constraints_always_hold(
    offered: list[Offer], wanted: list[Demand], run: list[RunningTask], h: Heuristic
) -> None:
    result = place(wanted, offered, run, heuristic=h)
    new = placed_tasks(result)
    for demand in wanted:
        mine = [agent for app, version, agent in new if (app, version) == demand.key]
        app_new = [agent for app, _, agent in new if app == demand.app_id]
        app_running = [t.agent_id for t in run if t.app_id == demand.app_id]
        for constraint in demand.constraints:
            _check(constraint, mine, app_new, app_running)


def _value(field: str, agent: str) -> str | None:
    return hostname(agent) if field == HOSTNAME else rack_of(agent)


def _check(
    constraint: Constraint, mine: Sequence[str], app_new: Sequence[str], app_running: Sequence[str]
) -> None:
    values = [_value(constraint.field, a) for a in mine]
    total = Counter(_value(constraint.field, a) for a in [*app_new, *app_running])
    match constraint.operator:
        case Op.UNIQUE:
            assert None not in values and all(total[v] == 1 for v in values)
        case Op.MAX_PER:
            assert None not in values and all(total[v] <= constraint.limit for v in values)
        case Op.CLUSTER if constraint.value is not None:
            assert all(v == constraint.value for v in values)
        case Op.CLUSTER:
            # one value for every new task of the app, and the running tasks' value if they had one
            chosen = {_value(constraint.field, a) for a in app_new} | {
                _value(constraint.field, a) for a in app_running if _value(constraint.field, a) is not None
            }
            assert None not in values and (
                len(chosen) <= 1 or not mine or _running_split(app_running, constraint)
            )
        case Op.LIKE:
            assert all(v is not None and v in ("r1", "r2") for v in values)
        case Op.UNLIKE:
            assert all(v != "r1" for v in values)
        case Op.GROUP_BY:
            assert None not in values


def _running_split(app_running: Sequence[str], constraint: Constraint) -> bool:
    """Running tasks already on several values: new ones join the most common, so several values remain."""
    return len({_value(constraint.field, a) for a in app_running} - {None}) > 1


@given(offers(), demands(), running(), heuristics)
def test_every_unplaced_demand_has_a_reason(
    offered: list[Offer], wanted: list[Demand], run: list[RunningTask], h: Heuristic
) -> None:
    result = place(wanted, offered, run, heuristic=h)
    for demand in wanted:
        placed = result.placed_count(demand.key)
        assert placed <= demand.count
        if placed < demand.count:
            report = result.unplaced[demand.key]
            assert (report.placed, report.unplaced) == (placed, demand.count - placed)
            assert len(report.reasons) >= 1
            assert all(r.kind in ("no_fit", "constraint_unmet", "no_offers") for r in report.reasons)
        else:
            assert demand.key not in result.unplaced


@given(offers(), demands(), running(), heuristics)
def test_deterministic(
    offered: list[Offer], wanted: list[Demand], run: list[RunningTask], h: Heuristic
) -> None:
    assert place(wanted, offered, run, heuristic=h) == place(
        list(wanted), list(offered), list(run), heuristic=h
    )


@given(demands(with_constraints=False), st.booleans(), heuristics)
def test_with_enough_capacity_everything_is_placed(wanted: list[Demand], unique: bool, h: Heuristic) -> None:
    # One agent per instance, each big enough for the largest instance and its ports.
    total = sum(d.count for d in wanted)
    if unique:
        wanted = [
            Demand(
                d.app_id,
                d.version,
                d.resources,
                d.port_names,
                d.count,
                (Constraint(HOSTNAME, Op.UNIQUE),),
                d.policy,
            )
            for d in wanted
        ]
    big = Resources.of(cpus=3, mem=3000, disk=0.5, ports=[(31000, 31001)])
    offered = [Offer(f"o{i}", f"a{i}", f"a{i}.example", "*", big) for i in range(total)]
    result = place(wanted, offered, heuristic=h)
    assert result.unplaced == {}
    assert result.task_count == total
