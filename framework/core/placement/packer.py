"""The packer: the last stage of the pipeline (filters -> scorers -> packer), which commits placements.

Role: decides, demand by demand, which agents take how many instances, and records it in the
working state. Demands are taken largest first (by weighted size), and each demand is an
equivalence class: on a chosen agent it places `min(fit_count, constraint room, remaining)` instances
at once instead of looping per instance.

- PACK, no constraints: best fit. Agents sit in a `FreeIndex` sorted by weighted free size; a
  bisection skips every agent too small to hold one instance, and the walk goes from the fullest
  agent that can hold one upwards, filling each before moving on. Index updates are applied after
  the walk, so the walk sees one consistent order.
- With constraints, or SPREAD: the agents passing the static constraint checks are the candidates;
  PACK walks them fullest first in rounds (GROUP_BY admits one instance per agent per round), SPREAD
  places one instance per round on each candidate holding the fewest instances of the app.

Callers: `framework.core.placement.place`.

Must not: read the clock, use randomness or iterate sets of strings: identical inputs must give
identical placements.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Sequence

from framework.core.model import Policy
from framework.core.placement.filters import (
    UNLIMITED,
    constraint_room,
    fit_count,
    record_constraint_values,
    static_ok,
)
from framework.core.placement.scorers import weighted_size
from framework.core.placement.state import AgentBin, AppCounts, DemandPlan
from framework.core.resources import take_ports


class FreeIndex:
    """Agents ordered by weighted free size, as ints `size << shift | agent index` in a sorted list.

    Packing the index into one int keeps bisection and insertion in C (no tuple comparisons) and
    makes ties break by agent index, i.e. by offer order.
    """

    __slots__ = ("agents", "keys", "mask", "shift", "w")

    def __init__(self, agents: Sequence[AgentBin], w: Sequence[int]) -> None:
        self.agents = agents
        self.w = w
        self.shift = max(1, len(agents).bit_length())
        self.mask = (1 << self.shift) - 1
        for agent in agents:
            agent.sort_key = weighted_size(agent.free, w) << self.shift | agent.index
        self.keys = sorted(agent.sort_key for agent in agents)

    def refresh(self, agent: AgentBin) -> None:
        """Move an agent to its place after its free resources shrank."""
        new = weighted_size(agent.free, self.w) << self.shift | agent.index
        old = agent.sort_key
        if new != old:
            keys = self.keys
            del keys[bisect_left(keys, old)]
            insort(keys, new)
            agent.sort_key = new

    def start(self, size: int) -> int:
        """Position of the first agent whose weighted free size is at least `size`."""
        return bisect_left(self.keys, size << self.shift)


def commit(agent: AgentBin, plan: DemandPlan, n: int, counts: AppCounts) -> None:
    """Put `n` instances of `plan` on `agent`: shrink its free resources, take ports, count them."""
    free = agent.free
    for dim, need in plan.need:
        free[dim] -= need * n
    entry = agent.placed.get(plan.index)
    if entry is None:
        entry = agent.placed[plan.index] = ([0], [])
    entry[0][0] += n
    port_count = plan.demand.port_count
    if port_count:
        # Lowest free ports first: deterministic, and leaves the high end of the range in one piece.
        ports, agent.ports = take_ports(agent.ports, n * port_count)
        agent.port_free -= n * port_count
        entry[1].extend(ports[i * port_count : (i + 1) * port_count] for i in range(n))
    plan.remaining -= n
    record_constraint_values(plan.demand.constraints, agent, counts, n)


class Packer:
    """Places demand plans onto agent bins; one instance per `place` call."""

    def __init__(self, agents: Sequence[AgentBin], w: Sequence[int], counts: dict[str, AppCounts]) -> None:
        self.agents = agents
        self.index = FreeIndex(agents, w)
        self.counts = counts

    def place_all(self, plans: Sequence[DemandPlan], policy: Policy | None) -> None:
        """Largest demands first; repeat while a pass still places something for apps whose
        demands can unlock each other (two versions of one app sharing GROUP_BY/CLUSTER counts)."""
        order = sorted(plans, key=lambda p: (-p.size, p.index))
        apps: dict[str, int] = {}
        for plan in plans:
            apps[plan.demand.app_id] = apps.get(plan.demand.app_id, 0) + 1
        repeat = any(apps[p.demand.app_id] > 1 and p.demand.constraints for p in plans)
        progress = True
        while progress:
            progress = False
            for plan in order:
                if plan.remaining and self.place_one(plan, policy or plan.demand.policy):
                    progress = True
            progress = progress and repeat

    def place_one(self, plan: DemandPlan, policy: Policy) -> bool:
        """Place as many instances of one demand as the agents take; True if any were placed."""
        before = plan.remaining
        if plan.demand.constraints or policy is Policy.SPREAD:
            self._place_on_candidates(plan, policy)
        else:
            self._best_fit(plan)
        return plan.remaining < before

    def _best_fit(self, plan: DemandPlan) -> None:
        index = self.index
        keys, mask, agents = index.keys, index.mask, self.agents
        port_count = plan.demand.port_count
        counts = self.counts[plan.demand.app_id]
        touched: list[AgentBin] = []
        for position in range(index.start(plan.size), len(keys)):
            agent = agents[keys[position] & mask]
            n = fit_count(agent, plan, port_count)
            if n:
                commit(agent, plan, min(n, plan.remaining), counts)
                touched.append(agent)
                if not plan.remaining:
                    break
        for agent in touched:
            index.refresh(agent)

    def _place_on_candidates(self, plan: DemandPlan, policy: Policy) -> None:
        demand = plan.demand
        counts = self.counts[demand.app_id]
        port_count = demand.port_count
        candidates = [
            a for a in self.agents if all(static_ok(c, a.value_of(c.field)) for c in demand.constraints)
        ]
        # Rounds: constraint room can grow as other agents take instances (GROUP_BY), so an agent is
        # dropped only when its resources no longer fit one instance (they never grow within a call).
        while plan.remaining and candidates:
            level = self._order(candidates, plan, policy, counts)
            placed = False
            still: list[AgentBin] = []
            for agent in candidates:
                fits = fit_count(agent, plan, port_count)
                if not fits:
                    continue
                still.append(agent)
                if not plan.remaining or counts.by_agent.get(agent.agent_id, 0) > level:
                    continue
                n = min(fits, constraint_room(demand.constraints, agent, counts)[0], plan.remaining)
                if n and policy is Policy.SPREAD:
                    n = 1  # one per agent per round
                if n:
                    commit(agent, plan, n, counts)
                    self.index.refresh(agent)
                    placed = True
            if not placed:
                break
            candidates = still

    def _order(self, candidates: list[AgentBin], plan: DemandPlan, policy: Policy, counts: AppCounts) -> int:
        """Sort candidates for this round; return the highest per-agent app count allowed this round.

        PACK: fullest first, no level limit. SPREAD: fewest instances of the app first (then fullest),
        and only agents at the lowest count that can still take one are used this round.
        """
        if policy is Policy.PACK:
            candidates.sort(key=lambda a: a.sort_key)
            return UNLIMITED
        by_agent = counts.by_agent
        candidates.sort(key=lambda a: (by_agent.get(a.agent_id, 0), a.sort_key))
        for agent in candidates:
            if (
                fit_count(agent, plan, plan.demand.port_count)
                and constraint_room(plan.demand.constraints, agent, counts)[0]
            ):
                return by_agent.get(agent.agent_id, 0)
        return -1
