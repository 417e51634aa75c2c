"""The engine's working state for one `place` call: agent bins, demand plans, constraint counters.

Role: turns the immutable inputs (offers, demands, running tasks) into small mutable records the
packer can update in place cheaply, and turns them back into the immutable `Placement` at the end.
Offers of the same agent and role merge into one `AgentBin` (one ACCEPT may aggregate them); scalars
become integer thousandths, so all arithmetic is exact.

Callers: `framework.core.placement.place` only. Nothing here outlives one call.

Must not: touch the inputs (they are frozen anyway), iterate a set of strings (string hashing is
randomised per process and would make the output non-deterministic), or do I/O.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Sequence

from framework.core.model import HOSTNAME, Constraint, ConstraintOperator, Demand, Offer, RunningTask
from framework.core.resources import PortRange, normalize_ranges, ranges_count, take_ports

# Scalar dimensions in `Resources.scalars_milli()` order.
DIMENSIONS = 4


class AgentBin:
    """Free capacity of one (agent, role) during placement, and what has been put on it so far."""

    __slots__ = (
        "agent_id",
        "attributes",
        "free",
        "host_ports",
        "hostname",
        "index",
        "offer_ids",
        "placed",
        "port_free",
        "ports",
        "role",
        "sort_key",
    )

    def __init__(self, index: int, offer: Offer) -> None:
        self.index = index
        self.agent_id = offer.agent_id
        self.hostname = offer.hostname
        self.role = offer.role
        self.attributes = offer.attributes
        self.offer_ids: list[str] = [offer.offer_id]
        r = offer.resources
        self.free: list[int] = [r.cpus_milli, r.mem_milli, r.disk_milli, r.gpus_milli]
        self.ports: tuple[PortRange, ...] = r.ports
        self.port_free = ranges_count(r.ports) if r.ports else 0
        # demand index -> instances placed here, in the order demands first got one (the launch order),
        # and, for demands with named ports, demand index -> the host ports of each of those instances.
        self.placed: dict[int, int] = {}
        self.host_ports: dict[int, list[tuple[int, ...]]] = {}
        self.sort_key = 0

    def absorb(self, offer: Offer) -> None:
        """Merge another offer of the same agent and role (Mesos lets one ACCEPT aggregate them)."""
        self.offer_ids.append(offer.offer_id)
        for dim, amount in enumerate(offer.resources.scalars_milli()):
            self.free[dim] += amount
        self.ports = normalize_ranges(self.ports + offer.resources.ports)
        self.port_free = ranges_count(self.ports)

    def value_of(self, field: str) -> str | None:
        """The agent's value for a constraint field: its hostname, or an attribute (None if absent)."""
        return self.hostname if field == HOSTNAME else self.attributes.get(field)


def build_bins(offers: Sequence[Offer]) -> list[AgentBin]:
    """One bin per (agent, role) in first-offer order; ValueError on a repeated offer id."""
    seen: set[str] = set()
    by_key: dict[tuple[str, str], AgentBin] = {}
    bins: list[AgentBin] = []
    for offer in offers:
        if offer.offer_id in seen:
            raise ValueError(f"offer {offer.offer_id} given twice")
        seen.add(offer.offer_id)
        key = (offer.agent_id, offer.role)
        existing = by_key.get(key)
        if existing is None:
            existing = by_key[key] = AgentBin(len(bins), offer)
            bins.append(existing)
        else:
            existing.absorb(offer)
    return bins


class DemandPlan:
    """One demand being placed: its per-instance needs as integers, and how many are still to place."""

    __slots__ = ("constraints", "demand", "index", "need", "port_count", "remaining", "size", "vector")

    def __init__(self, index: int, demand: Demand) -> None:
        self.index = index
        self.demand = demand
        r = demand.resources
        vector = self.vector = (r.cpus_milli, r.mem_milli, r.disk_milli, r.gpus_milli)
        # Only the dimensions the demand uses matter for "how many fit": skip the zeros once, here.
        self.need: tuple[tuple[int, int], ...] = (
            ((0, vector[0]), (1, vector[1]))
            if vector[0] and vector[1] and not vector[2] and not vector[3]
            else tuple((d, v) for d, v in enumerate(vector) if v)
        )
        self.port_count = len(demand.port_names)
        self.remaining = demand.count
        # The constraints of every pending version of the app (see `app_constraints`).
        self.constraints: tuple[Constraint, ...] = demand.constraints
        self.size = 0  # set by the packer: the demand's weighted size, used to order and to prune


class AppCounts:
    """Per app: tasks per constraint-field value (running + placed this batch), per agent, CLUSTER picks.

    Constraints of every version of an app count the same tasks, as in Marathon: a rollout's new
    version sees where the old one runs.
    """

    __slots__ = ("by_agent", "cluster", "fields")

    def __init__(self, fields: Iterable[str]) -> None:
        self.fields: dict[str, dict[str, int]] = {f: {} for f in fields}
        self.by_agent: dict[str, int] = {}
        # CLUSTER without a value: the value every task must share, once one is known.
        self.cluster: dict[str, str] = {}

    def add(self, agent_id: str, values: Iterable[tuple[str, str | None]], count: int) -> None:
        self.by_agent[agent_id] = self.by_agent.get(agent_id, 0) + count
        for field, value in values:
            if value is not None and field in self.fields:
                counts = self.fields[field]
                counts[value] = counts.get(value, 0) + count

    def record(self, agent: AgentBin, constraints: Sequence[Constraint], count: int) -> None:
        """Count `count` new tasks on `agent` so later decisions in this batch see them."""
        if self.fields:
            self.add(agent.agent_id, [(f, agent.value_of(f)) for f in self.fields], count)
        else:
            self.by_agent[agent.agent_id] = self.by_agent.get(agent.agent_id, 0) + count
        if not constraints:
            return
        for constraint in constraints:
            if constraint.operator is ConstraintOperator.CLUSTER and constraint.field not in self.cluster:
                value = agent.value_of(constraint.field)
                if value is not None:
                    self.cluster[constraint.field] = value


def build_counts(
    demands: Sequence[Demand], running: Iterable[RunningTask], tracked: Container[str]
) -> dict[str, AppCounts]:
    """Counters for the `tracked` apps (those with constraints or SPREAD), seeded with their running tasks.

    Other apps need no counting: nothing about their placement depends on where their tasks are.
    """
    fields: dict[str, list[str]] = {}
    for demand in demands:
        if demand.app_id not in tracked:
            continue
        app_fields = fields.setdefault(demand.app_id, [])
        for constraint in demand.constraints:
            if constraint.field not in app_fields:
                app_fields.append(constraint.field)
    counts = {app: AppCounts(app_fields) for app, app_fields in fields.items()}
    for task in running:
        app = counts.get(task.app_id)
        if app is None:
            continue
        values = [(f, task.hostname if f == HOSTNAME else task.attributes.get(f)) for f in app.fields]
        app.add(task.agent_id, values, 1)
    for demand in demands:
        if demand.app_id not in counts:
            continue
        app = counts[demand.app_id]
        for constraint in demand.constraints:
            if constraint.operator is ConstraintOperator.CLUSTER and constraint.value is None:
                seeded = app.fields[constraint.field]
                if seeded and constraint.field not in app.cluster:
                    # Running tasks already chose the cluster: the most common value (ties: smallest).
                    app.cluster[constraint.field] = min(seeded, key=lambda v: (-seeded[v], v))
    return counts


def commit(agent: AgentBin, plan: DemandPlan, n: int, counts: AppCounts | None) -> None:
    """Put `n` instances of `plan` on `agent`: shrink its free resources, take ports, count them.

    The caller has checked that they fit; this only records.
    """
    free = agent.free
    for dim, need in plan.need:
        free[dim] -= need * n
    index, placed = plan.index, agent.placed
    placed[index] = placed.get(index, 0) + n
    port_count = plan.port_count
    if port_count:
        # Lowest free ports first: deterministic, and leaves the high end of the range in one piece.
        ports, agent.ports = take_ports(agent.ports, n * port_count)
        agent.port_free -= n * port_count
        agent.host_ports.setdefault(index, []).extend(
            ports[i * port_count : (i + 1) * port_count] for i in range(n)
        )
    plan.remaining -= n
    if counts is not None:
        counts.record(agent, plan.constraints, n)


def seed_offered_values(
    counts: dict[str, AppCounts], demands: Sequence[Demand], agents: Sequence[AgentBin]
) -> None:
    """Make every offered value of a GROUP_BY field a known group (count 0), so balance sees it."""
    for demand in demands:
        for constraint in demand.constraints:
            if constraint.operator is ConstraintOperator.GROUP_BY and demand.app_id in counts:
                groups = counts[demand.app_id].fields[constraint.field]
                for agent in agents:
                    value = agent.value_of(constraint.field)
                    if value is not None:
                        groups.setdefault(value, 0)


def app_constraints(plans: Sequence[DemandPlan]) -> None:
    """Give every plan the union of the constraints of all pending versions of its app.

    Constraints count every task of the app, so a version without a constraint placed beside one
    with it (two versions pending during a rollout) would break the other's count; holding them all
    to the union keeps every stated constraint true over everything this call places.
    """
    if not any(plan.demand.constraints for plan in plans):
        return  # every union is empty: each plan already holds its demand's (empty) constraints
    union: dict[str, list[Constraint]] = {}
    for plan in plans:
        merged = union.setdefault(plan.demand.app_id, [])
        merged.extend(c for c in plan.demand.constraints if c not in merged)
    for plan in plans:
        plan.constraints = tuple(union[plan.demand.app_id])
