"""Room kept on partly used agents for the work mix: the online rule of the balanced fill.

Role: when work arrives batch by batch (online, no migration), a batch that leans on one resource
fills agents' share of it and strands the other: 4,000 cpu-heavy tasks fill agents' cpus and leave
memory that the memory-heavy tasks of later batches cannot use without a little cpu. `Reserve` keeps
an agent's free resources where the batch's own instance shapes could still use all of them.

With `lo` and `hi` the smallest and largest cpu : mem ratio among the batch's size classes (both
normalised to agent size), an agent's free capacity (cpu `c`, mem `m`) can be used up by a mix of
those shapes when `c >= lo * m` (enough cpu for the memory left, at the most memory-heavy ratio) and
`m >= c / hi` (enough memory for the cpus left, at the most cpu-heavy one). The resource the whole
mix leaves over anyway (the fill's slack `k`) does not count: the margins are

    cpu margin  g_c = c - lo * (m - k_m)        mem margin  g_m = m - (c - k_c) / hi

and a class of per-instance shape (x_c, x_m) lowers them by `x_c - lo * x_m` and `x_m - x_c / hi`
(`SizeClass.cpu_lean`, `mem_lean`). The fill skips a class that would take an agent's margins further
below zero, unless filling the agent with that class would strand little: less than `GAMMA` of the
agent's free capacity, which is what keeping the room costs if nothing comes to use it. Measured
(docs/placement.md): Mesos' mix online goes from 11-13% above the lower bound to 2-4%; uniform,
heavy-tail, Azure and churn gain or stay equal. GAMMA has little room on 100-agent clusters: from 0.52
up, 100-agent Mesos-mix is 6-11% above the bound; at 0.45 and below, a 100-agent uniform run needs
one more agent.

The rule applies only when some offered agent is partly used (the caller passes the running usage):
with no work placed yet there is nothing the room would be kept for, and offline packing (every task
at once) is unchanged.

Callers: `framework.core.placement.balanced` (slice cap, per-search count cap, `allows`) and
`framework.core.placement.classes.ClassIndex.pick` (the per-class test).

Must not: touch agents, plans or counts (it only sets the classes' leans and its own slack, and
answers questions), or depend on anything but its inputs (no clock, no randomness).
"""

from __future__ import annotations

from collections.abc import Sequence

from framework.core.placement.classes import SizeClass

# Strand at most this share of an agent's free capacity (cpu + mem, normalised) to place a class
# against the margins; keeping the room is worth it only when filling would waste more than this.
GAMMA = 0.5
# Float noise allowed when comparing margins (they are sums of a few normalised terms).
EPSILON = 1e-9


class Reserve:
    """The shape bounds of one batch and the slack the margins leave out; see the module docstring."""

    __slots__ = ("hi", "lo", "slack_cpu", "slack_mem")

    def __init__(self, lo: float, hi: float) -> None:
        self.lo = lo
        self.hi = hi
        self.slack_cpu = 0.0
        self.slack_mem = 0.0

    def margins(self, cpu: float, mem: float) -> tuple[float, float]:
        """(cpu margin, mem margin) of free capacity `cpu`, `mem` (normalised)."""
        return cpu - self.lo * (mem - self.slack_mem), mem - (cpu - self.slack_cpu) / self.hi

    def allows(self, cls: SizeClass, cpu: float, mem: float, g_cpu: float, g_mem: float) -> bool:
        """Whether one instance of `cls` may go on an agent with free `cpu`, `mem` and these margins."""
        after_cpu, after_mem = g_cpu - cls.cpu_lean, g_mem - cls.mem_lean
        if after_cpu >= 0.0 and after_mem >= 0.0:
            return True
        before = (-g_cpu if g_cpu < 0.0 else 0.0) + (-g_mem if g_mem < 0.0 else 0.0)
        after = (-after_cpu if after_cpu < 0.0 else 0.0) + (-after_mem if after_mem < 0.0 else 0.0)
        # Moving back towards the margins (or along them) is always fine.
        return after <= before + EPSILON or self.strands(cls, cpu, mem) < GAMMA * (cpu + mem)

    def strands(self, cls: SizeClass, cpu: float, mem: float) -> float:
        """What filling the agent with `cls` alone would leave that no shape of the batch can use."""
        x_cpu, x_mem = cls.norm[0], cls.norm[1]
        fits = min(cpu / x_cpu if x_cpu > 0.0 else _MANY, mem / x_mem if x_mem > 0.0 else _MANY)
        left_cpu, left_mem = cpu - fits * x_cpu, mem - fits * x_mem
        mem_over = (left_mem - self.slack_mem) - left_cpu / self.lo
        cpu_over = (left_cpu - self.slack_cpu) - self.hi * left_mem
        return (mem_over if mem_over > 0.0 else 0.0) + (cpu_over if cpu_over > 0.0 else 0.0)

    def count_cap(self, cls: SizeClass, g_cpu: float, g_mem: float, n: int) -> int:
        """At most `n`, as many instances of `cls` as keep both margins (at least one)."""
        for lean, margin in ((cls.cpu_lean, g_cpu), (cls.mem_lean, g_mem)):
            if lean > 0.0:
                room = int(margin / lean) if margin > 0.0 else 1
                if room < n:
                    n = room
        return n if n > 1 else 1

    def share_cap(self, cpu: float, mem: float, rem_cpu: float, rem_mem: float) -> float:
        """The largest share of the remaining batch (`rem`, normalised) the slice may give the agent
        while keeping both margins; > 1 when they do not bind."""
        g_cpu, g_mem = self.margins(cpu, mem)
        cap = 2.0
        for lean, margin in ((rem_cpu - self.lo * rem_mem, g_cpu), (rem_mem - rem_cpu / self.hi, g_mem)):
            if lean > 0.0:
                share = margin / lean if margin > 0.0 else 0.0
                if share < cap:
                    cap = share
        return cap


_MANY = float("inf")


def build_reserve(classes: Sequence[SizeClass], used: Sequence[int]) -> Reserve | None:
    """The batch's reserve, or None when no offered agent is partly used or no class uses cpu and mem.

    Sets every class's `cpu_lean` and `mem_lean` for it.
    """
    if not (used[0] or used[1]):
        return None
    ratios = [c.norm[0] / c.norm[1] for c in classes if c.count and c.norm[0] > 0.0 and c.norm[1] > 0.0]
    if not ratios:
        return None
    reserve = Reserve(min(ratios), max(ratios))
    lo, hi = reserve.lo, reserve.hi
    for c in classes:
        c.cpu_lean = c.norm[0] - lo * c.norm[1]
        c.mem_lean = c.norm[1] - c.norm[0] / hi
    return reserve


def running_usage(largest: Sequence[int], total: Sequence[int], agents: int) -> list[int]:
    """Per resource, how much of the offered agents is in use, taking the largest free amount offered as
    every agent's size: `agents` * largest - total free (`scorers.free_columns`). An estimate: offers
    carry no agent size, so on a cluster of unequal agents part of this is size difference, not work."""
    return [top * agents - free for top, free in zip(largest, total, strict=True)]
