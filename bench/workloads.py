"""Benchmark workloads for the placement engine, generated from a seeded `random.Random`.

Every workload is a homogeneous cluster (`agents` agents of `capacity`) and a task list in arrival
order, cut into arrival batches for the online mode. Sizes are integer thousandths (Mesos fixed
point): cpus in milli-cpus, mem in milli-MB. Tasks of one app share a size (an equivalence class).

- uniform: cpus and mem each uniform in 2-25% of an agent, drawn independently; one task per app.
- heavy-tail: cpus and mem each lognormal, median 4% of an agent, sigma 1.0, clipped to 0.5-50%.
- azure2017: real VM arrivals (../shared/data/azure2017, CC BY 4.0), agents of 32 vCPU / 128 GB;
  each batch of one 300-second bin becomes apps of one flavour; an online batch is one bin.
- mesos-mix: Mesos' allocator benchmark mix on agents of 64 cpus / 488 GB: Marathon-like apps of
  4,000 x 0.07 cpu / 400 MB, Jenkins-like 5 x 0.1 cpu / 4,000 MB, Spark-like 20 x 1 cpu / 1,000 MB,
  in the ratio 4 : 500 : 50 of the original 80-agent run, apps arriving in a seeded random order,
  `APPS_PER_BATCH` apps per online batch (the apps submitted within one offer round).
- churn: tasks sized as in uniform; fill to 85% of the cluster, then steps of departures and arrivals that
  keep the allocation of the bottleneck resource between 80% and 90%. Online it is run with the
  departures (no migration); offline packs the tasks still alive at the end from scratch.

Task counts are capped (`max_tasks`, 100,000 except for churn) so a 10,000-agent run stays within
the benchmark's time budget; the modes then pack the same tasks onto a cluster larger than they
need, which is also what a real offer round looks like.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

AZURE_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "azure2017"

CPU = 1000  # one cpu in milli-cpus
MB = 1000  # one MB in milli-MB
GB = 1024 * MB
APPS_PER_BATCH = 16


@dataclass(frozen=True, slots=True)
class Task:
    app: int
    cpus: int
    mem: int


@dataclass(slots=True)
class Workload:
    """A cluster and its tasks. `batches` cut `tasks` (by index) into online arrival batches.

    `departures[i]` lists tasks (by index) that leave just before batch i arrives (churn only).
    """

    name: str
    agents: int
    capacity: tuple[int, int]
    tasks: list[Task]
    batches: list[range]
    departures: list[list[int]] = field(default_factory=list)

    @property
    def online_only(self) -> bool:
        return bool(self.departures)


class DataMissing(Exception):
    """A workload's input data is not on this machine (the benchmark skips that workload)."""


def _even_batches(count: int, size: int) -> list[range]:
    return [range(start, min(start + size, count)) for start in range(0, count, size)]


class _Filler:
    """Counts demand of the bottleneck resource against `fill` of the cluster."""

    def __init__(self, agents: int, cap: tuple[int, int], fill: float, max_tasks: int) -> None:
        self.limit = (agents * cap[0] * fill, agents * cap[1] * fill)
        self.sums = [0, 0]
        self.max_tasks = max_tasks
        self.count = 0

    def full(self) -> bool:
        return self.count >= self.max_tasks or self.sums[0] >= self.limit[0] or self.sums[1] >= self.limit[1]

    def add(self, task: Task) -> Task:
        self.sums[0] += task.cpus
        self.sums[1] += task.mem
        self.count += 1
        return task


def uniform(agents: int, seed: int = 1, fill: float = 0.8, max_tasks: int = 100_000) -> Workload:
    rng = random.Random(seed)
    cap = (32 * CPU, 128 * GB)
    filler = _Filler(agents, cap, fill, max_tasks)
    tasks: list[Task] = []
    while not filler.full():
        share_cpu, share_mem = rng.uniform(0.02, 0.25), rng.uniform(0.02, 0.25)
        tasks.append(filler.add(Task(len(tasks), int(cap[0] * share_cpu), int(cap[1] * share_mem))))
    return Workload("uniform", agents, cap, tasks, _even_batches(len(tasks), max(64, len(tasks) // 128)))


def _lognormal_share(rng: random.Random) -> float:
    # median 4% of an agent, sigma 1.0, clipped so no task is negligible or larger than half an agent.
    return min(0.5, max(0.005, rng.lognormvariate(math.log(0.04), 1.0)))


def heavy_tail(agents: int, seed: int = 2, fill: float = 0.8, max_tasks: int = 100_000) -> Workload:
    rng = random.Random(seed)
    cap = (32 * CPU, 128 * GB)
    filler = _Filler(agents, cap, fill, max_tasks)
    tasks: list[Task] = []
    while not filler.full():
        share_cpu, share_mem = _lognormal_share(rng), _lognormal_share(rng)
        tasks.append(filler.add(Task(len(tasks), int(cap[0] * share_cpu), int(cap[1] * share_mem))))
    return Workload("heavy-tail", agents, cap, tasks, _even_batches(len(tasks), max(64, len(tasks) // 128)))


def azure(agents: int, fill: float = 0.8, max_tasks: int = 100_000, data: Path = AZURE_DIR) -> Workload:
    """Azure 2017 VM arrivals in trace order, as many as fill `fill` of the cluster's vCPUs (capped)."""
    flavours_file, arrivals_file = data / "flavours.txt", data / "arrivals.txt"
    if not (flavours_file.is_file() and arrivals_file.is_file()):
        raise DataMissing(f"Azure 2017 trace not found in {data} (expected flavours.txt and arrivals.txt)")
    flavours: dict[str, tuple[int, int]] = {}
    for line in flavours_file.read_text().splitlines():
        if line.strip():
            size, letter = line.split()
            vcpus, gigabytes = size.split(",")
            flavours[letter] = (int(float(vcpus) * CPU), int(float(gigabytes) * GB))
    cap = (32 * CPU, 128 * GB)
    filler = _Filler(agents, cap, fill, max_tasks)
    tasks: list[Task] = []
    batches: list[range] = []
    app = 0
    for line in arrivals_file.read_text().splitlines():
        if filler.full():
            break
        start = len(tasks)
        parts = line.split(maxsplit=1)
        for group in (parts[1] if len(parts) > 1 else "").split("|"):
            if filler.full():
                break
            letters = [x for x in group.split(",") if x]
            # A batch is one tenant's request; each flavour in it is one app of identical instances.
            for letter in sorted(set(letters), key=letters.index):
                cpus, mem = flavours[letter]
                tasks.extend(filler.add(Task(app, cpus, mem)) for _ in range(letters.count(letter)))
                app += 1
        if len(tasks) > start:
            batches.append(range(start, len(tasks)))
    return Workload("azure2017", agents, cap, tasks, batches)


def mesos_mix(agents: int, seed: int = 4, max_tasks: int = 100_000) -> Workload:
    """Mesos' allocator-benchmark mix, scaled to the cluster (80 agents ran 19,500 tasks), capped."""
    rng = random.Random(seed)
    cap = (64 * CPU, 488 * GB)
    units = min(agents / 80, max_tasks / 19_500)
    kinds = [(4000, 70, 400 * MB)] * max(1, round(4 * units))
    kinds += [(5, 100, 4000 * MB)] * max(1, round(500 * units))
    kinds += [(20, 1000, 1000 * MB)] * max(1, round(50 * units))
    rng.shuffle(kinds)
    tasks: list[Task] = []
    batches: list[range] = []
    for app, (count, cpus, mem) in enumerate(kinds):
        if app % APPS_PER_BATCH == 0:
            batches.append(range(len(tasks), len(tasks)))
        tasks.extend(Task(app, cpus, mem) for _ in range(count))
        batches[-1] = range(batches[-1].start, len(tasks))
    return Workload("mesos-mix", agents, cap, tasks, batches)


def churn(agents: int, seed: int = 5, steps: int | None = None, max_tasks: int = 1_000_000) -> Workload:
    """Uniform-size tasks: fill to 85%, then each step some leave and new ones arrive, within 80-90%.

    40 steps, or 10 on clusters over 1,000 agents (filling 10,000 agents alone takes 63,000 tasks).
    """
    rng = random.Random(seed)
    steps = steps if steps is not None else (40 if agents <= 1_000 else 10)
    cap = (32 * CPU, 128 * GB)
    tasks: list[Task] = []
    alive: list[int] = []
    batches: list[range] = []
    departures: list[list[int]] = []
    sums = [0, 0]

    def allocation() -> float:
        # The bottleneck resource's share of the whole cluster.
        return max(sums[0] / (agents * cap[0]), sums[1] / (agents * cap[1]))

    def arrive(target: float) -> None:
        start = len(tasks)
        while allocation() < target and len(tasks) < max_tasks:
            share_cpu, share_mem = rng.uniform(0.02, 0.25), rng.uniform(0.02, 0.25)
            task = Task(len(tasks), int(cap[0] * share_cpu), int(cap[1] * share_mem))
            tasks.append(task)
            alive.append(task.app)
            sums[0] += task.cpus
            sums[1] += task.mem
        batches.append(range(start, len(tasks)))

    departures.append([])
    arrive(0.85)
    for _ in range(steps):
        # Leave down to somewhere in 80-85%, come back up to somewhere in 85-90%.
        low, high = rng.uniform(0.80, 0.85), rng.uniform(0.85, 0.90)
        gone: list[int] = []
        while allocation() > low and alive:
            # Swap-remove a random alive task: O(1), and still a uniform choice.
            slot = rng.randrange(len(alive))
            index = alive[slot]
            alive[slot] = alive[-1]
            alive.pop()
            gone.append(index)
            sums[0] -= tasks[index].cpus
            sums[1] -= tasks[index].mem
        departures.append(sorted(gone))
        arrive(high)
    return Workload("churn", agents, cap, tasks, batches, departures)


GENERATORS: dict[str, Callable[[int], Workload]] = {
    "uniform": uniform,
    "heavy-tail": heavy_tail,
    "azure2017": azure,
    "mesos-mix": mesos_mix,
    "churn": churn,
}


def lower_bound(tasks: list[Task], capacity: tuple[int, int]) -> int:
    """ceil(max over resources of total demand / agent capacity)."""
    if not tasks:
        return 0
    cpus = sum(t.cpus for t in tasks)
    mem = sum(t.mem for t in tasks)
    return max(-(-cpus // capacity[0]), -(-mem // capacity[1]))


def identical(agents: int, apps: int = 200, low: int = 100, high: int = 1000, seed: int = 6) -> Workload:
    """Throughput workload: `apps` apps of `low`-`high` identical instances, each 0.5-5% of an agent."""
    rng = random.Random(seed)
    cap = (32 * CPU, 128 * GB)
    tasks: list[Task] = []
    for app in range(apps):
        cpus, mem = int(cap[0] * rng.uniform(0.005, 0.05)), int(cap[1] * rng.uniform(0.005, 0.05))
        tasks.extend(Task(app, cpus, mem) for _ in range(rng.randint(low, high)))
    return Workload(f"identical {apps} x {low}-{high}", agents, cap, tasks, [range(len(tasks))])
