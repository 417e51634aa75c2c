"""The default PACK heuristic: bin-centric balanced fill, measured best on every benchmark workload.

Role: places the unconstrained PACK demands of one call. It walks agents from the fullest to the
emptiest (`FreeIndex`) and fills each before moving on, in two steps:

1. Slice. With `rem` the total still to place per resource, the agent can take the fraction
   `phi = min_d free_d / rem_d` of everything; every size class with many instances gets
   `floor(count * phi)` of them at once. This is what makes 4,000 identical instances cost a few
   operations per agent, and it mixes classes on each agent in the proportions of the whole batch,
   which is what an optimal packing of a large batch looks like.
2. Fill. The rest of the agent is filled one instance at a time with the class nearest the
   agent's *deficit* (`classes.ClassIndex.pick`). The deficit is the free capacity minus the slack
   the agent should keep at the end: if the batch needs cpus and mem in the ratio 1 : 0.7 of agent
   capacity, every agent should end full of cpus with 30% of its mem free, and aiming at that
   (instead of at "empty") keeps the scarce resource from being stranded behind the plentiful one.

Finally a sweep gives every class still unplaced an exact best-fit pass over all agents, so that
whatever fits somewhere is placed even where a bounded scan in `ClassIndex.pick` missed it.

Measured (docs/placement.md, bench/results/placement*.json): within 1% of the lower bound offline
on uniform, heavy-tail, Azure and Mesos-mix workloads where first-fit, FFD and best-fit are 3-9% above.

Callers: `framework.core.placement.packer.Packer`.

Must not: do I/O, read a clock or use randomness.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

from framework.core.placement.classes import ClassIndex, SizeClass, build_classes
from framework.core.placement.index import FreeIndex
from framework.core.placement.scorers import SCALE
from framework.core.placement.state import DIMENSIONS, AgentBin, AppCounts, DemandPlan, commit


class BalancedFill:
    """One bin-centric pass over the agents for a set of unconstrained PACK plans."""

    __slots__ = ("classes", "counts", "floor", "index", "lookup", "many", "rem", "w")

    def __init__(
        self, plans: Sequence[DemandPlan], index: FreeIndex, w: Sequence[int], counts: dict[str, AppCounts]
    ) -> None:
        self.index = index
        self.w = w
        self.counts = counts
        self.classes = build_classes(plans, w)
        self.lookup = ClassIndex(self.classes)
        # Classes worth slicing: those with more than one instance (a single one is left to the fill).
        self.many = sorted((c for c in self.classes if c.count > 1), key=lambda c: (-c.count, c.index))
        # Per resource, over all classes: the total still to place, and the minimum (an agent below it in
        # any resource takes nothing more). Columns via zip and map keep the per-class work in C.
        columns = list(zip(*(c.vector for c in self.classes), strict=True)) or [()] * DIMENSIONS
        class_counts = [c.count for c in self.classes]
        self.rem = [sum(map(operator.mul, class_counts, column)) for column in columns]
        self.floor = [min(column, default=0) for column in columns]

    def run(self) -> None:
        classes = [c for c in self.classes if c.count]
        if not classes:
            return
        floor = self.floor
        min_ports = min(c.port_count for c in classes)
        index = self.index
        touched: list[AgentBin] = []
        left = sum(c.count for c in classes)
        # A class's weighted size is its first member's (same vector), computed once by `place`.
        smallest = min(c.plan.size for c in classes)
        for position in range(index.start(smallest), len(index.keys)):
            agent = index.agent_at(position)
            free = agent.free
            if agent.port_free < min_ports or any(free[d] < floor[d] for d in range(DIMENSIONS)):
                continue
            placed = self._slice(agent) + self._fill(agent)
            if placed:
                touched.append(agent)
                left -= placed
                if not left:
                    break
        for agent in touched:
            index.refresh(agent)

    def _slice(self, agent: AgentBin) -> int:
        """Give the agent its proportional share of every many-instance class; returns instances placed."""
        # The share is of what the agent had, and of what the batch needed, before this slice.
        free, rem = agent.free, self.rem
        dims = [(free[d], rem[d]) for d in range(DIMENSIONS) if rem[d]]
        if not dims or not all(have for have, _ in dims):
            return 0  # nothing left to share out, or the agent has none of a resource the batch needs
        # floor(count * phi) with phi = min_d free_d / rem_d is at least 1 exactly when
        # count * free_d >= rem_d in every dimension: one comparison rules most classes out.
        threshold = max(-(-need // have) for have, need in dims)
        placed = 0
        for cls in self.many:
            count = cls.count
            if count >= threshold:
                share = min([count * have // need for have, need in dims])
                placed += self._place(agent, cls, min(share, _fits(agent, cls)))
        return placed

    def _fill(self, agent: AgentBin) -> int:
        """Add single instances of the class nearest the agent's deficit until none fits."""
        placed = 0
        w, rem = self.w, self.rem
        # Slack to keep per resource: 1 - (the batch's need of it relative to its scarcest resource's).
        # Computed once per agent: one agent's fill changes the batch's proportions very little.
        shares = [rem[d] * w[d] for d in range(DIMENSIONS)]
        top = max(shares)
        if not top:
            return 0
        slack = [1.0 - share / top for share in shares]
        s0, s1, s2, s3 = (wd / SCALE for wd in w)
        k0, k1, k2, k3 = slack
        f0, f1, f2, f3 = self.floor
        milli = agent.free
        pick = self.lookup.pick
        while True:
            m0, m1, m2, m3 = milli
            if m0 < f0 or m1 < f1 or m2 < f2 or m3 < f3:
                return placed
            # Written out per dimension: this runs once per instance placed.
            n0, n1, n2, n3 = m0 * s0, m1 * s1, m2 * s2, m3 * s3
            deficit = (
                n0 - k0 if n0 > k0 else 0.0,
                n1 - k1 if n1 > k1 else 0.0,
                n2 - k2 if n2 > k2 else 0.0,
                n3 - k3 if n3 > k3 else 0.0,
            )
            cls = pick(agent, n0, n1, deficit)
            if cls is None:
                return placed
            placed += self._place(agent, cls, 1)

    def _place(self, agent: AgentBin, cls: SizeClass, n: int) -> int:
        """Commit `n` instances of a class, taken from its member demands in input order."""
        if n <= 0:
            return 0
        rem, vector = self.rem, cls.vector
        rem[0] -= n * vector[0]
        rem[1] -= n * vector[1]
        rem[2] -= n * vector[2]
        rem[3] -= n * vector[3]
        cls.count -= n
        if not cls.count:
            self.lookup.remove(cls)
        members, counts = cls.members, self.counts
        if members is None:
            # The common case (one demand per size): no need to walk the members.
            plan = cls.plan
            commit(agent, plan, n, counts.get(plan.demand.app_id) if counts else None)
            return n
        placed = n
        while n:
            plan = members[cls.head]
            take = n if n < plan.remaining else plan.remaining
            commit(agent, plan, take, counts.get(plan.demand.app_id))
            n -= take
            if not plan.remaining:
                cls.head += 1
        return placed


def _fits(agent: AgentBin, cls: SizeClass) -> int:
    """How many instances of the class the agent's free resources hold, at most the class's count."""
    best, free = cls.count, agent.free
    for dim, need in cls.need:
        fit = free[dim] // need
        if fit < best:
            best = fit
    if cls.port_count:
        fit = agent.port_free // cls.port_count
        if fit < best:
            best = fit
    return best
