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
from operator import attrgetter
from typing import TYPE_CHECKING

from framework.core.placement.scorers import SCALE
from framework.core.placement.state import AgentBin, DemandPlan

if TYPE_CHECKING:
    from framework.core.placement.reserve import Reserve

BUCKETS = 8
# How far a scan may walk from the bisection point before giving up on a bucket (bounds a pick's cost).
SCAN_DOWN = 24
SCAN_UP = 8
# Overshooting the deficit strands the other resources of the agent: weigh it 16x a shortfall.
OVERSHOOT = 16.0

# Centre direction of each bucket as (cpu share, mem share) of cpus+mem, and its squared length.
_DIRECTIONS = tuple(
    (
        1.0 - (b + 0.5) / BUCKETS,
        (b + 0.5) / BUCKETS,
        (1.0 - (b + 0.5) / BUCKETS) ** 2 + ((b + 0.5) / BUCKETS) ** 2,
    )
    for b in range(BUCKETS)
)


class SizeClass:
    """Identical instances across demands: one size, the demands (members) in input order, a total count."""

    __slots__ = (
        "bucket",
        "count",
        "cpu",
        "cpu_lean",
        "head",
        "index",
        "length",
        "mem",
        "mem_lean",
        "members",
        "need",
        "norm",
        "other",
        "plan",
        "port_count",
        "vector",
    )

    def __init__(self, index: int, plan: DemandPlan, scale: Sequence[float], port_count: int) -> None:
        self.index = index
        vector = self.vector = plan.vector
        self.need = plan.need
        self.port_count = port_count
        # cpus and mem are checked inline in the hot loop; `other` holds the rarer dimensions in use.
        cpu_milli, mem_milli, disk_milli, gpus_milli = vector
        self.cpu, self.mem = cpu_milli, mem_milli
        self.other = tuple((d, v) for d, v in plan.need if d > 1) if disk_milli or gpus_milli else ()
        cpu, mem = cpu_milli * scale[0], mem_milli * scale[1]
        self.norm = (cpu, mem, disk_milli * scale[2], gpus_milli * scale[3])
        # The first member; `members` lists them all once a second demand of the same size joins (most
        # classes have one member, and a list each would be one more object per class to allocate).
        self.plan = plan
        self.members: list[DemandPlan] | None = None
        self.head = 0  # members before `head` are fully placed
        self.count = plan.remaining
        length = self.length = cpu + mem
        bucket = int(mem / length * BUCKETS) if length > 0 else 0
        self.bucket = bucket if bucket < BUCKETS else BUCKETS - 1
        # How much one instance lowers an agent's cpu and mem margins (set by `reserve.build_reserve`).
        self.cpu_lean = 0.0
        self.mem_lean = 0.0

    def fits(self, agent: AgentBin) -> bool:
        free = agent.free
        if free[0] < self.cpu or free[1] < self.mem or agent.port_free < self.port_count:
            return False
        return all(free[dim] >= need for dim, need in self.other)


def build_classes(plans: Sequence[DemandPlan], w: Sequence[int]) -> list[SizeClass]:
    """Group plans by (per-instance vector, port count), keeping first-appearance order."""
    by_key: dict[tuple[tuple[int, ...], int], SizeClass] = {}
    classes: list[SizeClass] = []
    scale = [wd / SCALE for wd in w]
    for plan in plans:
        port_count = plan.port_count
        key = (plan.vector, port_count)
        existing = by_key.get(key)
        if existing is None:
            existing = by_key[key] = SizeClass(len(classes), plan, scale, port_count)
            classes.append(existing)
        else:
            if existing.members is None:
                existing.members = [existing.plan]
            existing.members.append(plan)
            existing.count += plan.remaining
    return classes


class ClassIndex:
    """Classes with instances left, per direction bucket, sorted by (length, class index)."""

    __slots__ = ("entries", "lengths")

    def __init__(self, classes: Sequence[SizeClass]) -> None:
        # Per bucket, the lengths (for bisection) and the classes themselves in the same order: holding
        # the objects rather than their indices saves an indirection per class scanned in `pick`.
        self.lengths: list[list[float]] = [[] for _ in range(BUCKETS)]
        self.entries: list[list[SizeClass]] = [[] for _ in range(BUCKETS)]
        # By length, ties in class order: `classes` is in class order and the sort is stable.
        for cls in sorted(classes, key=attrgetter("length")):
            if cls.count:
                self.lengths[cls.bucket].append(cls.length)
                self.entries[cls.bucket].append(cls)

    def remove(self, cls: SizeClass) -> None:
        """Forget a class once all its instances are placed."""
        lengths, entries = self.lengths[cls.bucket], self.entries[cls.bucket]
        position = bisect_left(lengths, cls.length)
        while entries[position] is not cls:
            position += 1  # equal lengths: the classes follow in class order
        del lengths[position]
        del entries[position]

    def pick(
        self,
        agent: AgentBin,
        cap_cpu: float,
        cap_mem: float,
        deficit: tuple[float, float, float, float],
        reserve: Reserve | None = None,
        g_cpu: float = 0.0,
        g_mem: float = 0.0,
    ) -> SizeClass | None:
        """The fitting class nearest `deficit` (asymmetric L2, see the module docstring), or None.

        `cap_cpu` and `cap_mem` are the agent's free cpus and mem, normalised like `deficit`. With a
        `reserve` (online batches, see `reserve.py`), a class it does not allow at the agent's margins
        `g_cpu`, `g_mem` counts as not fitting.
        Buckets are visited outwards from the deficit's own direction, and a bucket is skipped when
        a lower bound on its scores is no better than the best found. The bound: a bucket's classes
        lie in the triangle spanned by its two edge rays up to its longest class's length; from a
        point on one side of it, the nearest part of that triangle is the edge segment on that side.
        Scores only add to the squared distance in cpus and mem, so the squared distance to that
        segment bounds every score in the bucket. In each bucket visited, the first class that fits
        below the length nearest the deficit and the first above it are scored.

        The score is the squared distance from the deficit per dimension, overshooting (taking more
        than the deficit) weighted `OVERSHOOT` times. This is the engine's hot loop (once per
        instance the fill places): the fit test and the score are written out inline with locals on
        purpose, since a function call per class scanned costs as much as the test itself.
        """
        v_cpu, v_mem, v_disk, v_gpus = deficit
        home = int(v_mem / (v_cpu + v_mem) * BUCKETS) if v_cpu + v_mem > 0 else 0
        if home >= BUCKETS:
            home = BUCKETS - 1
        free = agent.free
        free_cpu, free_mem, port_free = free[0], free[1], agent.port_free
        all_entries, all_lengths = self.entries, self.lengths
        best: SizeClass | None = None
        best_score = _INFINITY
        for bucket, edge, u_cpu, edge_norm, d_cpu, d_mem, d_norm in _VISIT[home]:
            entries = all_entries[bucket]
            if not entries:
                continue
            lengths = all_lengths[bucket]
            if edge >= 0.0:
                # Squared distance to the edge segment facing the deficit (the bound above); the edge
                # ray is (u_cpu, edge) with u_cpu = 1 - edge, and edge_norm its squared length.
                along = (v_cpu * u_cpu + v_mem * edge) / edge_norm
                along = 0.0 if along < 0.0 else lengths[-1] if along > lengths[-1] else along
                gap_cpu, gap_mem = v_cpu - along * u_cpu, v_mem - along * edge
                if gap_cpu * gap_cpu + gap_mem * gap_mem >= best_score:
                    continue
            # Length along this direction that lands nearest the deficit, capped by what fits.
            target = (v_cpu * d_cpu + v_mem * d_mem) / d_norm
            if cap_cpu < target * d_cpu:
                target = cap_cpu / d_cpu
            if cap_mem < target * d_mem:
                target = cap_mem / d_mem
            position = bisect_left(lengths, target)
            # Bounded scans down from just below the target length, then up from it (conditional
            # expressions rather than min/max calls: this runs a few times per pick).
            low = position - 1 - SCAN_DOWN
            high = position + SCAN_UP
            for span in (
                range(position - 1, low if low > -1 else -1, -1),
                range(position, high if high < len(entries) else len(entries)),
            ):
                for i in span:
                    cls = entries[i]
                    if cls.cpu > free_cpu or cls.mem > free_mem or cls.port_count > port_free:
                        continue
                    if cls.other and not all(free[d] >= need for d, need in cls.other):
                        continue
                    if (
                        reserve is not None
                        and (g_cpu < cls.cpu_lean or g_mem < cls.mem_lean)
                        and not reserve.allows(cls, cap_cpu, cap_mem, g_cpu, g_mem)
                    ):
                        continue
                    # The first class that fits along this span: score it (see `score`).
                    norm = cls.norm
                    gap = v_cpu - norm[0]
                    score = gap * gap if gap >= 0 else OVERSHOOT * gap * gap
                    gap = v_mem - norm[1]
                    score += gap * gap if gap >= 0 else OVERSHOOT * gap * gap
                    gap = v_disk - norm[2]
                    score += gap * gap if gap >= 0 else OVERSHOOT * gap * gap
                    gap = v_gpus - norm[3]
                    score = score + (gap * gap if gap >= 0 else OVERSHOOT * gap * gap)
                    if score < best_score:
                        best, best_score = cls, score
                    break
        return best


def _visit_order(home: int) -> tuple[tuple[int, float, float, float, float, float, float], ...]:
    """Buckets outwards from `home`, each as (bucket, mem share `e` of its edge facing home (-1 for
    home), 1 - e, (1 - e)**2 + e**2, then the bucket's centre direction from `_DIRECTIONS`).

    Everything `pick` can compute once rather than per call, in the same float operations."""
    order: list[tuple[int, float]] = [(home, -1.0)]
    for step in range(1, BUCKETS):
        if home - step >= 0:
            order.append((home - step, (home - step + 1) / BUCKETS))
        if home + step < BUCKETS:
            order.append((home + step, (home + step) / BUCKETS))
    return tuple(
        (bucket, edge, 1.0 - edge, (1.0 - edge) * (1.0 - edge) + edge * edge, *_DIRECTIONS[bucket])
        for bucket, edge in order
    )


_VISIT = tuple(_visit_order(home) for home in range(BUCKETS))
_INFINITY = float("inf")
