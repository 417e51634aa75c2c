"""Baseline placement algorithms the engine is measured against, on a plain two-resource cluster model.

Each baseline reproduces the placement rule of a peer scheduler, not its code:

- `first-fit` (Marathon): tasks in arrival order, each on the first agent (in agent order) that fits.
  Marathon matches queued tasks against each offer in turn, which is first fit over the offers.
- `aurora`: Aurora with `-offer_order=CPU,MEMORY`: offers sorted by free cpus, then free mem,
  smallest first; each task on the first that fits.
- `k8s-least`: Kubernetes' default NodeResourcesFit LeastAllocated score (mean of free/capacity over
  cpu and memory after placing): each task on the agent that stays emptiest, i.e. worst fit.
- `k8s-most`: the MostAllocated score: each task on the agent that ends up fullest (best fit by the
  same normalised sum).
- `ffd`: first-fit decreasing: the batch sorted by normalised size (cpus + mem), then first fit.

All keep state across batches (online mode) and accept departures. Identical consecutive tasks are
placed as a run where that gives the same answer as one at a time (first fit and best fit keep
choosing the same agent while it fits); worst fit changes agent after every task, so it goes one by
one. The indexes are a segment tree (first fit: leftmost agent that fits) and sorted key lists
(best/worst/ordered fit), so a 10,000-agent run costs microseconds per decision, not a scan.
"""

from __future__ import annotations

from bisect import bisect_left, insort

SCALE = 1 << 30


class Cluster:
    """Free cpus and mem (integer thousandths) per agent, and tasks per agent."""

    def __init__(self, agents: int, capacity: tuple[int, int]) -> None:
        self.capacity = capacity
        self.cpu = [capacity[0]] * agents
        self.mem = [capacity[1]] * agents
        self.tasks = [0] * agents

    def take(self, agent: int, cpu: int, mem: int, n: int) -> None:
        self.cpu[agent] -= cpu * n
        self.mem[agent] -= mem * n
        self.tasks[agent] += n
        assert self.cpu[agent] >= 0 and self.mem[agent] >= 0, "baseline overcommitted an agent"

    def give(self, agent: int, cpu: int, mem: int) -> None:
        self.cpu[agent] += cpu
        self.mem[agent] += mem
        self.tasks[agent] -= 1


class _SegmentTree:
    """Per subtree: max free cpus, max free mem, and max normalised cpus+mem of one agent.

    Finds the leftmost agent that fits both. The two maxima alone may come from different agents,
    which sends the search into subtrees where nothing fits; the third (a necessary condition on a
    single agent) prunes most of those.
    """

    def __init__(self, cluster: Cluster) -> None:
        n = len(cluster.cpu)
        self.size = 1
        while self.size < max(1, n):
            self.size *= 2
        self.w_cpu, self.w_mem = SCALE // cluster.capacity[0], SCALE // cluster.capacity[1]
        self.cpu = [-1] * (2 * self.size)
        self.mem = [-1] * (2 * self.size)
        self.sum = [-1] * (2 * self.size)
        for agent in range(n):
            self._leaf(agent, cluster.cpu[agent], cluster.mem[agent])
        for i in range(self.size - 1, 0, -1):
            self._pull(i)

    def _leaf(self, agent: int, cpu: int, mem: int) -> None:
        i = agent + self.size
        self.cpu[i], self.mem[i], self.sum[i] = cpu, mem, cpu * self.w_cpu + mem * self.w_mem

    def _pull(self, i: int) -> None:
        left, right = 2 * i, 2 * i + 1
        self.cpu[i] = max(self.cpu[left], self.cpu[right])
        self.mem[i] = max(self.mem[left], self.mem[right])
        self.sum[i] = max(self.sum[left], self.sum[right])

    def update(self, agent: int, cpu: int, mem: int) -> None:
        self._leaf(agent, cpu, mem)
        i = (agent + self.size) // 2
        while i:
            self._pull(i)
            i //= 2

    def leftmost(self, cpu: int, mem: int) -> int:
        """Leftmost leaf with both at least (cpu, mem), or -1. Depth first, left child first."""
        stack = [1]
        tree_cpu, tree_mem, tree_sum, size = self.cpu, self.mem, self.sum, self.size
        need = cpu * self.w_cpu + mem * self.w_mem
        while stack:
            i = stack.pop()
            if tree_cpu[i] < cpu or tree_mem[i] < mem or tree_sum[i] < need:
                continue
            if i >= size:
                return i - size
            stack.append(2 * i + 1)
            stack.append(2 * i)
        return -1


class _SortedAgents:
    """Agents sorted by an integer key (`key << shift | agent`), for best, worst and ordered fit."""

    def __init__(self, cluster: Cluster, key: str) -> None:
        self.cluster = cluster
        cap_cpu, cap_mem = cluster.capacity
        self.w_cpu, self.w_mem = SCALE // cap_cpu, SCALE // cap_mem
        self.lexicographic = key == "cpu-mem"
        self.shift = max(1, len(cluster.cpu).bit_length())
        self.keys = sorted(self.key_of(a) for a in range(len(cluster.cpu)))

    def key_of(self, agent: int) -> int:
        cpu, mem = self.cluster.cpu[agent], self.cluster.mem[agent]
        size = (cpu << 40 | mem) if self.lexicographic else cpu * self.w_cpu + mem * self.w_mem
        return size << self.shift | agent

    def first_fit_upwards(self, cpu: int, mem: int) -> int:
        """Smallest key that fits (best fit / smallest offer first), or -1."""
        floor = (cpu << 40) if self.lexicographic else cpu * self.w_cpu + mem * self.w_mem
        mask = (1 << self.shift) - 1
        keys, free_cpu, free_mem = self.keys, self.cluster.cpu, self.cluster.mem
        for position in range(bisect_left(keys, floor << self.shift), len(keys)):
            agent = keys[position] & mask
            if free_cpu[agent] >= cpu and free_mem[agent] >= mem:
                return agent
        return -1

    def first_fit_downwards(self, cpu: int, mem: int) -> int:
        """Largest key that fits (worst fit), or -1."""
        mask = (1 << self.shift) - 1
        keys, free_cpu, free_mem = self.keys, self.cluster.cpu, self.cluster.mem
        for position in range(len(keys) - 1, -1, -1):
            agent = keys[position] & mask
            if free_cpu[agent] >= cpu and free_mem[agent] >= mem:
                return agent
            if (
                free_cpu[agent] * self.w_cpu + free_mem[agent] * self.w_mem
                < cpu * self.w_cpu + mem * self.w_mem
            ):
                return -1  # everything below is smaller still
        return -1

    def move(self, agent: int, old_key: int) -> None:
        del self.keys[bisect_left(self.keys, old_key)]
        insort(self.keys, self.key_of(agent))


class Baseline:
    """One baseline algorithm bound to a cluster; `place` returns (agent, app, count) runs."""

    NAMES = ("first-fit", "aurora", "k8s-least", "k8s-most", "ffd")

    def __init__(self, name: str, cluster: Cluster) -> None:
        if name not in self.NAMES:
            raise ValueError(f"unknown baseline {name}")
        self.name = name
        self.cluster = cluster
        self.tree = _SegmentTree(cluster) if name in ("first-fit", "ffd") else None
        key = "cpu-mem" if name == "aurora" else "l1"
        self.sorted = None if self.tree else _SortedAgents(cluster, key)

    def place(self, runs: list[tuple[int, int, int, int]]) -> tuple[list[tuple[int, int, int]], int]:
        """Place runs of (app, cpu, mem, count) in order; returns ((agent, app, n) placements, unplaced)."""
        if self.name == "ffd":
            cap_cpu, cap_mem = self.cluster.capacity
            runs = sorted(runs, key=lambda r: -(r[1] / cap_cpu + r[2] / cap_mem))
        out: list[tuple[int, int, int]] = []
        unplaced = 0
        for app, cpu, mem, count in runs:
            left = count
            while left:
                agent = self._choose(cpu, mem)
                if agent < 0:
                    unplaced += left
                    break
                n = 1 if self.name == "k8s-least" else self._fit(agent, cpu, mem, left)
                self._take(agent, cpu, mem, n)
                out.append((agent, app, n))
                left -= n
        return out, unplaced

    def release(self, agent: int, cpu: int, mem: int) -> None:
        old = self.sorted.key_of(agent) if self.sorted else 0
        self.cluster.give(agent, cpu, mem)
        self._moved(agent, old)

    def _choose(self, cpu: int, mem: int) -> int:
        if self.tree is not None:
            return self.tree.leftmost(cpu, mem)
        assert self.sorted is not None
        if self.name == "k8s-least":
            return self.sorted.first_fit_downwards(cpu, mem)
        return self.sorted.first_fit_upwards(cpu, mem)

    def _fit(self, agent: int, cpu: int, mem: int, left: int) -> int:
        n = left
        if cpu:
            n = min(n, self.cluster.cpu[agent] // cpu)
        if mem:
            n = min(n, self.cluster.mem[agent] // mem)
        return n

    def _take(self, agent: int, cpu: int, mem: int, n: int) -> None:
        old = self.sorted.key_of(agent) if self.sorted else 0
        self.cluster.take(agent, cpu, mem, n)
        self._moved(agent, old)

    def _moved(self, agent: int, old_key: int) -> None:
        if self.tree is not None:
            self.tree.update(agent, self.cluster.cpu[agent], self.cluster.mem[agent])
        elif self.sorted is not None:
            self.sorted.move(agent, old_key)
