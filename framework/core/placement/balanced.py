"""The default PACK heuristic: bin-centric balanced fill, measured best on every benchmark workload.

Role: places the unconstrained PACK demands of one call. It walks agents from the fullest to the
emptiest (`FreeIndex`) and fills each before moving on, in two steps:

1. Slice. With `rem` the total still to place per resource, the agent can take the fraction
   `phi = min_d free_d / rem_d` of everything; every size class with many instances gets
   `floor(count * phi)` of them at once. This is what makes 4,000 identical instances cost a few
   operations per agent, and it mixes classes on each agent in the proportions of the whole batch,
   which is what an optimal packing of a large batch looks like.
2. Fill. The rest of the agent is filled with the class nearest the agent's *deficit*
   (`classes.ClassIndex.pick`), one search at a time. The deficit is the free capacity minus the
   slack the agent should keep at the end: if the batch needs cpus and mem in the ratio 1 : 0.7 of
   agent capacity, every agent should end full of cpus with 30% of its mem free, and aiming at that
   (instead of at "empty") keeps the scarce resource from being stranded behind the plentiful one.
   A search places one instance, or, for a class with more, half of what fits within the deficit.

3. Copy. Agents that are identical before their fill (same free resources and free port count:
   all the two steps look at) get identical fills, so once an agent is filled, the agents right
   after it in the walk that are identical to it receive a copy of its fill, as many as every
   class of it can still supply and at most 1/`COPY_SHARE` of the agents the batch still needs.
   A fresh cluster is one such run of identical agents: 10 apps of 10,000 instances cost a few
   dozen fills instead of 3,300, and apps whose share of one agent is below one instance (where the
   slice gives nothing and the fill works one instance at a time) are placed a whole fill at a time.

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
from framework.core.placement.reserve import Reserve, build_reserve
from framework.core.placement.scorers import SCALE
from framework.core.placement.state import DIMENSIONS, AgentBin, AppCounts, DemandPlan, commit

# A fill is copied to at most 1/COPY_SHARE of the agents the batch still needs before being computed
# again. Each copy repeats the first agent's rounding of the slice (floor(count * phi)), which the
# per-agent walk corrects as it goes; unbounded copying measured 6.7% more agents on the Azure trace
# at 10,000 agents (1/8 matches the per-agent walk on every benchmark workload).
COPY_SHARE = 8


class BalancedFill:
    """One bin-centric pass over the agents for a set of unconstrained PACK plans."""

    __slots__ = (
        "classes",
        "counts",
        "floor",
        "index",
        "lookup",
        "many",
        "pattern",
        "rem",
        "reserve",
        "used",
        "w",
    )

    def __init__(
        self,
        plans: Sequence[DemandPlan],
        index: FreeIndex,
        w: Sequence[int],
        counts: dict[str, AppCounts],
        used: Sequence[int],
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
        # What the agent being filled has received so far, per class (see `_replicate`).
        self.pattern: dict[SizeClass, int] = {}
        # What already runs on the offered agents, per resource: with the batch, the mix the slack
        # aims at; and, when there is any, the reason to keep room for the batch's shapes (reserve.py).
        self.used = used
        self.reserve: Reserve | None = build_reserve(self.classes, self.used)

    def run(self) -> None:
        classes = [c for c in self.classes if c.count]
        if not classes:
            return
        f0, f1, f2, f3 = self.floor
        min_ports = min(c.port_count for c in classes)
        index = self.index
        touched: list[AgentBin] = []
        left = sum(c.count for c in classes)
        # Copying a fill to identical agents needs a class with instances to spare after one agent.
        replicate = bool(self.many)
        # A class's weighted size is its first member's (same vector), computed once by `place`.
        smallest = min(c.plan.size for c in classes)
        position, end = index.start(smallest), len(index.keys)
        while position < end:
            agent = index.agent_at(position)
            position += 1
            free = agent.free
            # Written out: online, this walks past every agent the batch cannot use (thousands).
            if free[0] < f0 or free[1] < f1 or free[2] < f2 or free[3] < f3 or agent.port_free < min_ports:
                continue
            before, ports_before = free.copy(), agent.port_free
            self.pattern = {}
            slack = self._slack()
            if slack is None:
                break  # nothing left to place
            placed = self._slice(agent, slack) + self._fill(agent, slack)
            if not placed:
                continue
            touched.append(agent)
            left -= placed
            if replicate and left:
                twins = self._twins(index, position, before, ports_before, end)
                if twins:
                    self._replicate(agent, twins)
                    touched += twins
                    position += len(twins)
                    left -= placed * len(twins)
            if not left:
                break
        index.refresh_all(touched)

    def _twins(
        self, index: FreeIndex, position: int, before: list[int], ports: int, end: int
    ) -> list[AgentBin]:
        """The agents right after `position` in the walk that are identical to the one just filled.

        Identical means the same free scalars and the same number of free host ports, which is all the
        slice and the fill look at (unconstrained demands ignore attributes and role), so the fill just
        computed fits each of them. At most as many as every class of the fill can still supply.
        """
        pattern = self.pattern
        copies = min([cls.count // n for cls, n in pattern.items()])
        rem = self.rem
        needed = max([rem[d] // have for d, have in enumerate(before) if have and rem[d]], default=0)
        cap = needed // COPY_SHARE
        if cap < copies:
            copies = cap
        twins: list[AgentBin] = []
        while copies and position < end:
            twin = index.agent_at(position)
            if twin.free != before or twin.port_free != ports:
                break
            twins.append(twin)
            position += 1
            copies -= 1
        return twins

    def _slack(self) -> list[float] | None:
        """Share of each resource an agent should keep free at the end, or None if nothing is left.

        1 - (the mix's need of it relative to its scarcest resource's), the mix being the batch still
        to place plus what already runs (online): if it needs cpus and mem in the ratio 1 : 0.7 of
        agent capacity, every agent should end full of cpus with 30% of its mem free. Computed once
        per agent: one agent's fill changes the proportions very little.
        """
        w, rem, used = self.w, self.rem, self.used
        shares = [(rem[d] + used[d]) * w[d] for d in range(DIMENSIONS)]
        top = max(shares)
        if not top or not any(rem):
            return None
        slack = [1.0 - share / top for share in shares]
        if self.reserve is not None:
            self.reserve.slack_cpu, self.reserve.slack_mem = slack[0], slack[1]
        return slack

    def _slice(self, agent: AgentBin, slack: Sequence[float]) -> int:
        """Give the agent its proportional share of every many-instance class; returns instances placed."""
        # The share is of what the agent had, and of what the batch needed, before this slice.
        free, rem = agent.free, self.rem
        dims = [(free[d], rem[d]) for d in range(DIMENSIONS) if rem[d]]
        if not dims or not all(have for have, _ in dims):
            return 0  # nothing left to share out, or the agent has none of a resource the batch needs
        # floor(count * phi) with phi = min_d free_d / rem_d is at least 1 exactly when
        # count * free_d >= rem_d in every dimension: one comparison rules most classes out.
        threshold = max(-(-need // have) for have, need in dims)
        cap = 2.0
        if self.reserve is not None:
            # Online: no more of the batch than keeps the agent's margins (see reserve.py).
            s0, s1 = self.w[0] / SCALE, self.w[1] / SCALE
            cap = self.reserve.share_cap(free[0] * s0, free[1] * s1, rem[0] * s0, rem[1] * s1)
            if cap <= 0.0:
                return 0
        placed = 0
        for cls in self.many:
            count = cls.count
            if count >= threshold:
                share = min([count * have // need for have, need in dims])
                if cap < 1.0 and count * cap < share:
                    share = int(count * cap)
                placed += self._place(agent, cls, min(share, _fits(agent, cls)))
        return placed

    def _fill(self, agent: AgentBin, slack: Sequence[float]) -> int:
        """Add instances of the class nearest the agent's deficit (free minus `slack`) until none fits."""
        placed = 0
        s0, s1, s2, s3 = (wd / SCALE for wd in self.w)
        k0, k1, k2, k3 = slack
        f0, f1, f2, f3 = self.floor
        milli = agent.free
        pick = self.lookup.pick
        reserve = self.reserve
        g_cpu = g_mem = 0.0
        while True:
            m0, m1, m2, m3 = milli
            if m0 < f0 or m1 < f1 or m2 < f2 or m3 < f3:
                return placed
            # Written out per dimension: this runs once per class picked.
            n0, n1, n2, n3 = m0 * s0, m1 * s1, m2 * s2, m3 * s3
            deficit = (
                n0 - k0 if n0 > k0 else 0.0,
                n1 - k1 if n1 > k1 else 0.0,
                n2 - k2 if n2 > k2 else 0.0,
                n3 - k3 if n3 > k3 else 0.0,
            )
            if reserve is not None:
                g_cpu, g_mem = reserve.margins(n0, n1)
            cls = pick(agent, n0, n1, deficit, reserve, g_cpu, g_mem)
            if cls is None:
                return placed
            # A class picked with instances to spare usually stays the nearest while the deficit still
            # holds several of it: take half of those (at least one) and search again. Halving keeps an
            # agent's last instances chosen one by one; taking all of them at once ends agents with
            # residues nothing fits (measured: 9% more agents for 200 apps of 100-1,000 instances).
            n = _within(deficit, cls, agent) >> 1 if cls.count > 1 else 1
            if reserve is not None and n > 1:
                n = reserve.count_cap(cls, g_cpu, g_mem, n)
            placed += self._place(agent, cls, n if n > 1 else 1)

    def _place(self, agent: AgentBin, cls: SizeClass, n: int) -> int:
        """Commit `n` instances of a class on the agent being filled, and note them in its pattern."""
        if n <= 0:
            return 0
        pattern = self.pattern
        pattern[cls] = pattern.get(cls, 0) + n
        return self._commit(agent, cls, n)

    def _commit(self, agent: AgentBin, cls: SizeClass, n: int) -> int:
        """Commit `n` instances of a class, taken from its member demands in input order."""
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

    def _replicate(self, agent: AgentBin, twins: Sequence[AgentBin]) -> None:
        """Give every twin (an agent identical to `agent` before its fill) the same fill as `agent`.

        Where every class of the fill is one demand without host ports and no constraint counter
        follows it (the usual case), the twins' new state is a copy of `agent`'s and the totals are
        updated once for all of them; otherwise the fill is committed twin by twin.
        """
        pattern = list(self.pattern.items())
        if self.counts or any(cls.members is not None or cls.port_count for cls, _ in pattern):
            for twin in twins:
                for cls, n in pattern:
                    self._commit(twin, cls, n)
            return
        copies, rem = len(twins), self.rem
        for cls, n in pattern:
            total = n * copies
            vector = cls.vector
            rem[0] -= total * vector[0]
            rem[1] -= total * vector[1]
            rem[2] -= total * vector[2]
            rem[3] -= total * vector[3]
            cls.count -= total
            if not cls.count:
                self.lookup.remove(cls)
            cls.plan.remaining -= total
        added = {cls.plan.index: n for cls, n in pattern}
        after = agent.free
        for twin in twins:
            twin.free = after.copy()
            placed = twin.placed
            if placed:
                for demand_index, n in added.items():
                    placed[demand_index] = placed.get(demand_index, 0) + n
            else:
                twin.placed = added.copy()


def _within(deficit: tuple[float, float, float, float], cls: SizeClass, agent: AgentBin) -> int:
    """How many instances of the class fit the agent without going past `deficit` in any resource."""
    best = _fits(agent, cls)
    for need, have in zip(cls.norm, deficit, strict=True):
        if need > 0.0:
            fit = int(have / need)
            if fit < best:
                best = fit
    return best


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
