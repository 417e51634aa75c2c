"""The placement engine: `place(demands, offers, running) -> Placement`.

Role: decides, for one batch of offers and the pending demands, what to launch where. The pipeline
is visible in the package layout: `filters` (feasibility: resources, ports, constraints, with
reasons) -> `scorers` (exact integer scores of fullness and size) -> `packer` (commits instances,
equivalence class by equivalence class). `state` holds the per-call working records and `result`
the returned values. docs/placement.md explains the algorithm and the measurements behind it.

Public API (stable; others depend on it):

    place(demands: Sequence[Demand], offers: Sequence[Offer], running: Iterable[RunningTask] = (),
          *, policy: Policy | None = None, heuristic: Heuristic = Heuristic.BALANCED) -> Placement

- `demands`: what to place, each `count` identical instances of one (app_id, version); keys must be
  unique. `policy`, when given, overrides every demand's own `policy`.
- `offers`: offers of this allocation round. Offers of one agent and role are used together.
- `running`: where the apps' tasks already run (any version), so constraints count them.
- `heuristic`: how unconstrained PACK demands are packed; the default is the measured best.
- Result: `Placement.launches` (one `AgentLaunch` per agent and role with every `PlacedGroup`),
  `unused_offer_ids` (decline these), and `unplaced[(app_id, version)]` with an `UnplacedReport`
  whose reasons (`NoFit`, `ConstraintUnmet`, `NoOffers`) each carry a stable `kind`.

Constraints of all pending versions of one app apply to all of them (their union), since they
count the same tasks.

Guarantees: nothing is overcommitted (scalars in exact thousandths, host ports distinct and taken
from the offered ranges); every launch is on one agent and role; constraints hold over running plus
placed tasks; every unplaced demand has at least one reason; the same input gives the same output.

Must not: do I/O, read a clock, use randomness, or import outside the standard library and
`framework.core` (tests/test_layering.py checks the imports). The one process-wide effect is that
the cyclic garbage collector is paused during a call (see `place`), which cannot change a result.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Sequence

from framework.core.model import (
    HOSTNAME,
    Constraint,
    ConstraintOperator,
    Demand,
    DemandKey,
    Offer,
    Policy,
    RunningTask,
)
from framework.core.placement.filters import diagnose
from framework.core.placement.packer import Heuristic, Packer
from framework.core.placement.reserve import running_usage
from framework.core.placement.result import (
    AgentLaunch,
    ConstraintUnmet,
    NoFit,
    NoOffers,
    PlacedGroup,
    PlacedTask,
    Placement,
    Reason,
    ReasonKind,
    UnplacedReport,
    new_group,
)
from framework.core.placement.scorers import free_columns, weighted_size, weights_of
from framework.core.placement.state import (
    AgentBin,
    DemandPlan,
    app_constraints,
    build_bins,
    build_counts,
    seed_offered_values,
)
from framework.core.resources import Resources

__all__ = [
    "HOSTNAME",
    "AgentLaunch",
    "Constraint",
    "ConstraintOperator",
    "ConstraintUnmet",
    "Demand",
    "DemandKey",
    "Heuristic",
    "NoFit",
    "NoOffers",
    "Offer",
    "PlacedGroup",
    "PlacedTask",
    "Placement",
    "Policy",
    "Reason",
    "ReasonKind",
    "Resources",
    "RunningTask",
    "UnplacedReport",
    "place",
]


def place(
    demands: Sequence[Demand],
    offers: Sequence[Offer],
    running: Iterable[RunningTask] = (),
    *,
    policy: Policy | None = None,
    heuristic: Heuristic = Heuristic.BALANCED,
) -> Placement:
    """Pack `demands` onto `offers`; see the module docstring for the contract."""
    # One call allocates a few small records per demand, size class and placed group (hundreds of
    # thousands for a large batch), and reference counting frees all but the result when it returns.
    # With the cyclic collector on, those allocations trigger full collections that walk the whole
    # process heap (measured: 15-18% of a call at 60,000 distinct demands) and free nothing. So it
    # is paused for the call and restored after; collection only moves, results cannot change.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _place(demands, offers, running, policy, heuristic)
    finally:
        if collecting:
            gc.enable()


def _place(
    demands: Sequence[Demand],
    offers: Sequence[Offer],
    running: Iterable[RunningTask],
    policy: Policy | None,
    heuristic: Heuristic,
) -> Placement:
    if len({(d.app_id, d.version) for d in demands}) != len(demands):
        raise ValueError("demands must have distinct (app_id, version) keys")
    agents = build_bins(offers)
    tracked = {d.app_id for d in demands if d.constraints or (policy or d.policy) is Policy.SPREAD}
    counts = build_counts(demands, running, tracked)
    seed_offered_values(counts, demands, agents)
    largest, total = free_columns(agents)
    w = weights_of(largest)
    plans = [DemandPlan(i, d) for i, d in enumerate(demands) if d.count > 0]
    app_constraints(plans)
    for plan in plans:
        plan.size = weighted_size(plan.vector, w)
    used = running_usage(largest, total, len(agents))
    Packer(agents, w, counts, used).place_all(plans, policy, heuristic)
    unplaced = {
        plan.demand.key: UnplacedReport(
            plan.demand.app_id,
            plan.demand.version,
            plan.demand.count - plan.remaining,
            plan.remaining,
            diagnose(plan, agents, counts.get(plan.demand.app_id)),
        )
        for plan in plans
        if plan.remaining
    }
    return Placement(_launches(agents, demands), _unused(offers, agents), unplaced)


def _launches(agents: Sequence[AgentBin], demands: Sequence[Demand]) -> tuple[AgentLaunch, ...]:
    """Freeze the working state into launches; instance indices run 0.. per demand in agent order."""
    next_index = [0] * len(demands)
    # Per demand, what every group of it repeats (one group per demand and agent: this loop runs
    # 40,000 times for a batch of 200 apps on 3,000 agents, so it does no more than it must).
    shared = [(d.app_id, d.version, d.resources) for d in demands]
    launches = []
    for agent in agents:
        placed = agent.placed
        if not placed:
            continue
        groups = []
        agent_id, host_ports = agent.agent_id, agent.host_ports
        for demand_index, count in placed.items():
            app_id, version, resources = shared[demand_index]
            first = next_index[demand_index]
            next_index[demand_index] = first + count
            ports = host_ports.get(demand_index) if host_ports else None
            groups.append(
                new_group(app_id, version, agent_id, first, count, resources, tuple(ports) if ports else ())
            )
        launches.append(
            AgentLaunch(agent.agent_id, agent.hostname, agent.role, tuple(agent.offer_ids), tuple(groups))
        )
    return tuple(launches)


def _unused(offers: Sequence[Offer], agents: Sequence[AgentBin]) -> tuple[str, ...]:
    used = {offer_id for agent in agents if agent.placed for offer_id in agent.offer_ids}
    return tuple(o.offer_id for o in offers if o.offer_id not in used)
