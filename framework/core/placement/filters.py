"""Feasibility filters: how many instances of a demand an agent can take, and why not when it is none.

Role: the first stage of the pipeline (filters -> scorers -> packer). Filters answer with numbers,
never a bare False: `fit_count` says how many identical instances fit in an agent's free resources
(integer division per resource, ports included), `constraint_room` how many more the app's
constraints allow there (Marathon semantics, counted over running tasks plus this batch), and
`diagnose` explains an unplaced demand with structured reasons (`NoFit`, `ConstraintUnmet`).

Constraint semantics (as in Marathon): the field is "hostname" or an agent attribute. An agent
without the attribute fails every operator except UNLIKE. UNIQUE allows one task per value, MAX_PER
n tasks per value; CLUSTER requires the given value, or without one the value of the first task;
GROUP_BY admits a value no task has yet, or, once at least `value` values have tasks, a value whose
count is the smallest; LIKE / UNLIKE fully match a regular expression. One deliberate difference:
Marathon judges GROUP_BY one offer at a time and only knows values that already have tasks, so
with tasks in r1 only, an r1 offer arriving first is accepted although r2 is free. Here the values
of every offer in the call count as groups of zero, so r2 is filled first: the spreading GROUP_BY
asks for.

Callers: `framework.core.placement.packer` and `place`.

Must not: mutate anything (the packer records placements), or do I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from framework.core.model import Constraint, ConstraintOperator
from framework.core.placement.result import ConstraintUnmet, NoFit, NoOffers, Reason
from framework.core.placement.state import AgentBin, AppCounts, DemandPlan
from framework.core.resources import SCALAR_NAMES, from_milli

# "No limit" for counts: larger than any instance count a demand can have.
UNLIMITED = 1 << 62


@lru_cache(maxsize=256)
def _pattern(regex: str) -> re.Pattern[str]:
    return re.compile(regex)


def fit_count(agent: AgentBin, needs: Sequence[tuple[int, int]], port_count: int) -> int:
    """How many instances fit in the agent's free resources: min over used resources of free // need.

    `needs` lists (dimension, amount) for the dimensions an instance uses (`DemandPlan.need`).
    """
    best = UNLIMITED
    free = agent.free
    for dim, need in needs:
        fits = free[dim] // need
        if fits < best:
            if fits == 0:
                return 0
            best = fits
    if port_count:
        best = min(best, agent.port_free // port_count)
    return best


def static_ok(constraint: Constraint, value: str | None) -> bool:
    """The part of a constraint that does not depend on where other tasks are (checked once per agent)."""
    match constraint.operator:
        case ConstraintOperator.UNLIKE:
            return value is None or _pattern(constraint.value or "").fullmatch(value) is None
        case ConstraintOperator.LIKE:
            return value is not None and _pattern(constraint.value or "").fullmatch(value) is not None
        case ConstraintOperator.CLUSTER:
            return value is not None and (constraint.value is None or value == constraint.value)
        case ConstraintOperator.UNIQUE | ConstraintOperator.MAX_PER | ConstraintOperator.GROUP_BY:
            return value is not None


def dynamic_room(constraint: Constraint, value: str, counts: AppCounts) -> int:
    """How many more tasks of the app this constraint admits on an agent whose field has `value`.

    Assumes `static_ok` holds. GROUP_BY answers at most 1: after one placement the counts change and
    the agent must be asked again.
    """
    match constraint.operator:
        case ConstraintOperator.UNIQUE:
            return 0 if counts.fields[constraint.field].get(value, 0) else 1
        case ConstraintOperator.MAX_PER:
            return max(0, constraint.limit - counts.fields[constraint.field].get(value, 0))
        case ConstraintOperator.CLUSTER:
            chosen = counts.cluster.get(constraint.field)
            return UNLIMITED if chosen is None or chosen == value else 0
        case ConstraintOperator.GROUP_BY:
            # `groups` also holds every value offered in this call at count 0 (see state.seed_offered_values).
            groups = counts.fields[constraint.field]
            mine = groups.get(value, 0)
            if mine == 0:
                return 1
            populated = sum(1 for n in groups.values() if n)
            return 1 if populated >= constraint.limit and mine == min(groups.values()) else 0
        case ConstraintOperator.LIKE | ConstraintOperator.UNLIKE:
            return UNLIMITED


def constraint_room(
    constraints: Sequence[Constraint], agent: AgentBin, counts: AppCounts | None
) -> tuple[int, Constraint | None]:
    """(instances the constraints admit on the agent, the first constraint that admits none, if any)."""
    room = UNLIMITED
    for constraint in constraints:
        value = agent.value_of(constraint.field)
        if not static_ok(constraint, value):
            return 0, constraint
        if counts is not None and value is not None:
            allowed = dynamic_room(constraint, value, counts)
            if allowed == 0:
                return 0, constraint
            room = min(room, allowed)
    return room, None


def diagnose(plan: DemandPlan, agents: Sequence[AgentBin], counts: AppCounts | None) -> tuple[Reason, ...]:
    """Why no agent takes another instance: the first failing filter per agent, aggregated.

    Constraints are asked first (an agent the app may never use is not "short of memory"), then
    resources in `SCALAR_NAMES` order, then ports, then the constraints that depend on placed tasks.
    """
    if not agents:
        return (NoOffers(),)
    refused: dict[Constraint | str, int] = {}
    best: dict[str, int] = {}
    demand = plan.demand
    for agent in agents:
        cause: Constraint | str | None = None
        for constraint in plan.constraints:
            if not static_ok(constraint, agent.value_of(constraint.field)):
                cause = constraint
                break
        if cause is None:
            cause = _short_resource(plan, agent, demand.port_count)
            if cause is not None:
                have = agent.port_free if cause == "ports" else agent.free[SCALAR_NAMES.index(cause)]
                best[cause] = max(best.get(cause, 0), have)
        if cause is None:
            cause = constraint_room(plan.constraints, agent, counts)[1]
        if cause is not None:
            refused[cause] = refused.get(cause, 0) + 1
    return _reasons(plan, refused, best)


def _short_resource(plan: DemandPlan, agent: AgentBin, port_count: int) -> str | None:
    for dim, need in plan.need:
        if agent.free[dim] < need:
            return SCALAR_NAMES[dim]
    if agent.port_free < port_count:
        return "ports"
    return None


def _reasons(
    plan: DemandPlan, refused: dict[Constraint | str, int], best: dict[str, int]
) -> tuple[Reason, ...]:
    reasons: list[NoFit | ConstraintUnmet] = []
    for cause, agents in refused.items():
        if isinstance(cause, Constraint):
            reasons.append(ConstraintUnmet(cause, agents))
        elif cause == "ports":
            reasons.append(NoFit("ports", float(plan.demand.port_count), float(best[cause]), agents))
        else:
            dim = SCALAR_NAMES.index(cause)
            reasons.append(NoFit(cause, from_milli(plan.vector[dim]), from_milli(best[cause]), agents))
    # Most agents first; ties in a fixed order so the output is deterministic.
    reasons.sort(key=lambda r: (-r.agents, str(r)))
    return tuple(reasons)
