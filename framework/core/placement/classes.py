"""Size classes and the index that finds, for one agent, the best class to add next.

Role: support for the packer's bin-centric fill. Unconstrained PACK demands with identical
per-instance needs (scalars and host-port count) form one `SizeClass`, whatever app they belong to:
for packing they are interchangeable, so 1,000 instances of one size cost one entry.

`ClassIndex.pick(agent, deficit)` returns the fitting class whose normalised size vector is nearest
to `deficit` (the free capacity the agent should still fill, see `packer`), where overshooting the
deficit in a dimension costs `OVERSHOOT` times more than falling short: the norm-based greedy of
Panigrahy et al. ("Heuristics for Vector Bin Packing", 2011), aimed at a target instead of at empty.
An exact nearest-neighbour search over tens of thousands of classes per pick is too slow in Python,
so classes are bucketed by direction (the share of mem in cpus+mem, `BUCKETS` buckets) and sorted by
length within a bucket; per bucket a bisection lands at the length nearest the deficit's projection
and a short scan either side finds the first classes that fit. Measured against the exhaustive
search on the benchmark workloads, this finds equally good packings (bench/results/placement*.json).

Callers: `framework.core.placement.packer`.

Must not: mutate agents (the packer commits), or depend on anything but the inputs (no clock, no
randomness; float scores are computed in a fixed order, so they are reproducible).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

from framework.core.placement.scorers import SCALE
from framework.core.placement.state import DIMENSIONS, AgentBin, DemandPlan

BUCKETS = 8
# How far a scan may walk from the bisection point before giving up on a bucket (bounds a pick's cost).
SCAN_DOWN = 24
SCAN_UP = 8
# Overshooting the deficit strands the other resources of the agent: weigh it 16x a shortfall.
OVERSHOOT = 16.0

# Centre direction of each bucket as (cpu share, mem share) of cpus+mem.
_DIRECTIONS = tuple((1.0 - (b + 0.5) / BUCKETS, (b + 0.5) / BUCKETS) for b in range(BUCKETS))


class SizeClass:
    """Identical instances across demands: one size, the demands (members) in input order, a total count."""

    __slots__ = (
        "bucket",
        "count",
        "head",
        "index",
        "length",
        "members",
        "need",
        "norm",
        "port_count",
        "vector",
    )

    def __init__(self, index: int, plan: DemandPlan, w: Sequence[int]) -> None:
        self.index = index
        self.vector = plan.vector
        self.need = plan.need
        self.port_count = plan.demand.port_count
        self.norm = tuple(v * wd / SCALE for v, wd in zip(plan.vector, w, strict=False))
        self.members = [plan]
        self.head = 0  # members before `head` are fully placed
        self.count = plan.remaining
        cpu, mem = self.norm[0], self.norm[1]
        self.length = cpu + mem
        self.bucket = min(BUCKETS - 1, int(mem / self.length * BUCKETS)) if self.length > 0 else 0

    def fits(self, agent: AgentBin) -> bool:
        free = agent.free
        for dim, need in self.need:
            if free[dim] < need:
                return False
        return agent.port_free >= self.port_count


def build_classes(plans: Sequence[DemandPlan], w: Sequence[int]) -> list[SizeClass]:
    """Group plans by (per-instance vector, port count), keeping first-appearance order."""
    by_key: dict[tuple[tuple[int, ...], int], SizeClass] = {}
    classes: list[SizeClass] = []
    for plan in plans:
        key = (plan.vector, plan.demand.port_count)
        existing = by_key.get(key)
        if existing is None:
            existing = by_key[key] = SizeClass(len(classes), plan, w)
            classes.append(existing)
        else:
            existing.members.append(plan)
            existing.count += plan.remaining
    return classes


class ClassIndex:
    """Classes with instances left, per direction bucket, sorted by (length, class index)."""

    __slots__ = ("classes", "ids", "lengths")

    def __init__(self, classes: Sequence[SizeClass]) -> None:
        self.classes = classes
        self.lengths: list[list[float]] = [[] for _ in range(BUCKETS)]
        self.ids: list[list[int]] = [[] for _ in range(BUCKETS)]
        for cls in sorted(classes, key=lambda c: (c.length, c.index)):
            if cls.count:
                self.lengths[cls.bucket].append(cls.length)
                self.ids[cls.bucket].append(cls.index)

    def remove(self, cls: SizeClass) -> None:
        """Forget a class once all its instances are placed."""
        lengths, ids = self.lengths[cls.bucket], self.ids[cls.bucket]
        position = bisect_left(lengths, cls.length)
        while ids[position] != cls.index:
            position += 1  # equal lengths: the ids follow in class order
        del lengths[position]
        del ids[position]

    def pick(self, agent: AgentBin, free: Sequence[float], deficit: Sequence[float]) -> SizeClass | None:
        """The fitting class nearest `deficit` (asymmetric L2, see the module docstring), or None."""
        best: SizeClass | None = None
        best_score = float("inf")
        v_cpu, v_mem = deficit[0], deficit[1]
        for bucket in range(BUCKETS):
            ids = self.ids[bucket]
            if not ids:
                continue
            d_cpu, d_mem = _DIRECTIONS[bucket]
            # Length along this direction that lands nearest the deficit, capped by what the agent can hold.
            target = (v_cpu * d_cpu + v_mem * d_mem) / (d_cpu * d_cpu + d_mem * d_mem)
            target = min(target, free[0] / d_cpu, free[1] / d_mem)
            position = bisect_left(self.lengths[bucket], target)
            for i in range(position - 1, max(-1, position - 1 - SCAN_DOWN), -1):
                cls = self.classes[ids[i]]
                if cls.fits(agent):
                    score = _score(cls.norm, deficit)
                    if score < best_score:
                        best, best_score = cls, score
                    break
            for i in range(position, min(len(ids), position + SCAN_UP)):
                cls = self.classes[ids[i]]
                if cls.fits(agent):
                    score = _score(cls.norm, deficit)
                    if score < best_score:
                        best, best_score = cls, score
                    break
        return best


def _score(norm: Sequence[float], deficit: Sequence[float]) -> float:
    total = 0.0
    for dim in range(DIMENSIONS):
        gap = deficit[dim] - norm[dim]
        total += gap * gap if gap >= 0 else OVERSHOOT * gap * gap
    return total
