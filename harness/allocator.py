"""The fake master's allocator: which agent's free resources go to which framework and role.

Modelled on Mesos' hierarchical allocator (the parts a framework can observe):

- An allocation hands *all* of an agent's free resources to one (framework, role) pair; that
  becomes one offer. Each agent is given to at most one pair per cycle.
- Pairs are tried in dominant-resource-fairness order (lowest dominant share first). Mesos sorts
  roles first and frameworks within a role; with the weights and quotas we do not model, one
  level over (framework, role) pairs orders them the same way.
- Suppressed roles and inactive (disconnected) frameworks get nothing.
- A refusal filter (DECLINE, or the unused part of an ACCEPT) is kept per (framework, role, agent)
  and blocks that agent only while its free resources are a *subset* of what was refused; when
  more frees up the agent is offered again early. A filter lasts at least one allocation interval;
  0 seconds installs none; negative means the default 5 s; the cap is 365 days.
- REVIVE (and un-suppressing) deletes the role's filters.
- Agents with less than 0.01 cpus and 32 MB memory free are not offered.

Scale: the master keeps 10,000 agents here. Free amounts are cached per agent and only agents
that have something allocatable sit in `_offerable`, so a cycle touches those agents only and
a call touches one agent. Filters are expired lazily when looked at, not by 10,000 timers.

Pure bookkeeping with an injected clock: no I/O, no protobuf, no events. The master turns the
returned `Allocation`s into offers and tells us when resources come back (`recover`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from harness.clock import Clock
from harness.resources import EMPTY, Resources

DEFAULT_REFUSE_SECONDS = 5.0
MAX_REFUSE_SECONDS = 365 * 24 * 3600.0


@dataclass(frozen=True, slots=True)
class Allocation:
    """All free resources of one agent, given to one framework for one role."""

    framework_id: str
    role: str
    agent_id: str
    resources: Resources


@dataclass(slots=True)
class _Filter:
    refused: Resources
    expires: float


@dataclass(slots=True)
class _Agent:
    total: Resources
    allocated: Resources  # offered or used by tasks and executors
    free: Resources


@dataclass(slots=True)
class _Framework:
    roles: set[str]
    suppressed: set[str]
    active: bool
    # Scalar totals (thousandths) allocated to this framework per role: the DRF numerator.
    allocated: dict[str, dict[str, int]] = field(default_factory=dict)


def refuse_timeout(refuse_seconds: float | None, allocation_interval: float) -> float:
    """How long a refusal filter lasts, with Mesos' rules (0 means: install no filter)."""
    # None: the field was absent; NaN is not a valid duration. Both mean the default.
    if refuse_seconds is None or refuse_seconds != refuse_seconds:
        seconds = DEFAULT_REFUSE_SECONDS
    elif refuse_seconds > MAX_REFUSE_SECONDS:
        seconds = MAX_REFUSE_SECONDS
    elif refuse_seconds < 0:
        seconds = DEFAULT_REFUSE_SECONDS
    else:
        seconds = refuse_seconds
    if seconds == 0:
        return 0.0
    return max(seconds, allocation_interval)


class Allocator:
    def __init__(self, clock: Clock, allocation_interval: float) -> None:
        self._clock = clock
        self.allocation_interval = allocation_interval
        self._agents: dict[str, _Agent] = {}
        self._frameworks: dict[str, _Framework] = {}
        # (framework, role) -> agent -> filters; indexed so REVIVE clears a role in one step.
        self._filters: dict[tuple[str, str], dict[str, list[_Filter]]] = {}
        # Insertion-ordered set of agents whose free resources are worth offering.
        self._offerable: dict[str, None] = {}
        # Offerable agents that every candidate has filtered: agent -> until when (see allocate).
        self._skip: dict[str, float] = {}
        self._skip_key: tuple[tuple[tuple[str, str], ...], int] = ((), 0)
        self._filters_epoch = 0  # bumped whenever filters are removed before they expire
        self._cluster_total: dict[str, int] = {}

    # -- agents ---------------------------------------------------------------------------------

    def add_agent(
        self, agent_id: str, total: Resources, used: Iterable[tuple[str, str, Resources]] = ()
    ) -> None:
        """Add an agent; `used` lists (framework_id, role, resources) already running on it."""
        allocated = EMPTY
        for framework_id, role, resources in used:
            allocated = allocated + resources
            self._track(framework_id, role, resources, +1)
        agent = _Agent(total, allocated, total - allocated)
        self._agents[agent_id] = agent
        for k, v in total.scalars.items():
            self._cluster_total[k] = self._cluster_total.get(k, 0) + v
        self._refresh(agent_id, agent)

    def remove_agent(self, agent_id: str) -> None:
        agent = self._agents.pop(agent_id, None)
        if agent is None:
            return
        for k, v in agent.total.scalars.items():
            self._cluster_total[k] -= v
        self._offerable.pop(agent_id, None)
        self._skip.pop(agent_id, None)
        for per_agent in self._filters.values():
            per_agent.pop(agent_id, None)

    def has_agent(self, agent_id: str) -> bool:
        return agent_id in self._agents

    def free(self, agent_id: str) -> Resources:
        return self._agents[agent_id].free

    # -- frameworks -----------------------------------------------------------------------------

    def add_framework(
        self, framework_id: str, roles: Iterable[str], suppressed: Iterable[str], active: bool
    ) -> None:
        self._frameworks[framework_id] = _Framework(set(roles), set(suppressed), active)

    def has_framework(self, framework_id: str) -> bool:
        return framework_id in self._frameworks

    def update_framework(self, framework_id: str, roles: Iterable[str], suppressed: Iterable[str]) -> None:
        """New roles and suppressed set (SUBSCRIBE again, UPDATE_FRAMEWORK)."""
        fw = self._frameworks[framework_id]
        new_roles, new_suppressed = set(roles), set(suppressed)
        for role in fw.roles - new_roles:
            self._clear_filters(framework_id, role)
        # Roles leaving the suppressed set are revived: their filters go, like REVIVE.
        for role in (fw.suppressed - new_suppressed) & new_roles:
            self._clear_filters(framework_id, role)
        fw.roles, fw.suppressed = new_roles, new_suppressed & new_roles

    def remove_framework(self, framework_id: str) -> None:
        fw = self._frameworks.pop(framework_id, None)
        if fw is None:
            return
        for role in fw.roles:
            self._clear_filters(framework_id, role)

    def set_active(self, framework_id: str, active: bool) -> None:
        self._frameworks[framework_id].active = active

    def suppress(self, framework_id: str, roles: Iterable[str]) -> None:
        fw = self._frameworks[framework_id]
        fw.suppressed |= set(roles) & fw.roles

    def revive(self, framework_id: str, roles: Iterable[str]) -> None:
        fw = self._frameworks[framework_id]
        for role in set(roles) & fw.roles:
            fw.suppressed.discard(role)
            self._clear_filters(framework_id, role)

    def suppressed(self, framework_id: str) -> set[str]:
        return set(self._frameworks[framework_id].suppressed)

    # -- resources ------------------------------------------------------------------------------

    def allocate_used(self, framework_id: str, role: str, agent_id: str, resources: Resources) -> None:
        """Mark resources as used without an offer (agent re-registration after master failover)."""
        agent = self._agents[agent_id]
        agent.allocated = agent.allocated + resources
        agent.free = agent.total - agent.allocated
        self._track(framework_id, role, resources, +1)
        self._refresh(agent_id, agent)

    def recover(
        self,
        framework_id: str,
        role: str,
        agent_id: str,
        resources: Resources,
        refuse_seconds: float | None = None,
        *,
        install_filter: bool = False,
    ) -> None:
        """Resources come back (offer declined, rescinded or partly unused; task or executor ended).

        With `install_filter`, a refusal filter for (framework, role, agent) is installed with
        `refuse_seconds` (None meaning the default 5 s), as for DECLINE and ACCEPT leftovers.
        """
        if resources.is_empty():
            return
        self._track(framework_id, role, resources, -1)
        agent = self._agents.get(agent_id)
        if agent is None:
            return
        agent.allocated = agent.allocated - resources
        agent.free = agent.total - agent.allocated
        self._refresh(agent_id, agent)
        if install_filter and framework_id in self._frameworks:
            timeout = refuse_timeout(refuse_seconds, self.allocation_interval)
            if timeout > 0:
                per_agent = self._filters.setdefault((framework_id, role), {})
                per_agent.setdefault(agent_id, []).append(
                    _Filter(resources, self._clock.monotonic() + timeout)
                )

    def filtered(self, framework_id: str, role: str, agent_id: str) -> bool:
        """Is this agent currently filtered for this framework and role (for tests and the API)?"""
        return self._is_filtered((framework_id, role, agent_id), self._agents[agent_id].free)

    def allocate(self) -> list[Allocation]:
        """One allocation cycle over the agents that have something to offer."""
        candidates = [
            (fid, role)
            for fid, fw in self._frameworks.items()
            if fw.active
            for role in sorted(fw.roles - fw.suppressed)
        ]
        if not candidates or not self._offerable:
            return []
        # Agents every candidate has filtered are skipped until the earliest of those filters runs
        # out, without looking at them again: valid while the candidates and the filters stay as
        # they were (else forget them all) and the agent's free resources do not change (_refresh).
        skip_key = (tuple(candidates), self._filters_epoch)
        if skip_key != self._skip_key:
            self._skip.clear()
            self._skip_key = skip_key
        skip = self._skip
        now = self._clock.monotonic()
        shares = {c: self._share(c) for c in candidates}
        out: list[Allocation] = []
        for agent_id in list(self._offerable):
            until = skip.get(agent_id)
            if until is not None and now < until:
                continue
            agent = self._agents[agent_id]
            free = agent.free
            choice = None
            filtered_until = float("inf")
            for cand in sorted(candidates, key=shares.__getitem__) if len(candidates) > 1 else candidates:
                expires = self._filtered_until((cand[0], cand[1], agent_id), free)
                if expires is None:
                    choice = cand
                    break
                filtered_until = min(filtered_until, expires)
            if choice is None:
                skip[agent_id] = filtered_until
                continue
            fid, role = choice
            agent.allocated = agent.total
            agent.free = EMPTY
            del self._offerable[agent_id]
            self._track(fid, role, free, +1)
            if len(candidates) > 1:  # shares only order several candidates
                shares[choice] = self._share(choice)
            out.append(Allocation(fid, role, agent_id, free))
        return out

    # -- internals ------------------------------------------------------------------------------

    def _refresh(self, agent_id: str, agent: _Agent) -> None:
        self._skip.pop(agent_id, None)  # its free resources changed: filters must be looked at again
        if agent.free.allocatable():
            self._offerable[agent_id] = None
        else:
            self._offerable.pop(agent_id, None)

    def _clear_filters(self, framework_id: str, role: str) -> None:
        self._filters.pop((framework_id, role), None)
        self._filters_epoch += 1

    def _is_filtered(self, key: tuple[str, str, str], free: Resources) -> bool:
        return self._filtered_until(key, free) is not None

    def _filtered_until(self, key: tuple[str, str, str], free: Resources) -> float | None:
        """None if not filtered; else until when (the last-expiring filter that covers `free`)."""
        per_agent = self._filters.get((key[0], key[1]))
        if not per_agent:
            return None
        filters = per_agent.get(key[2])
        if not filters:
            return None
        now = self._clock.monotonic()
        # One pass: expired filters are dropped as they are met.
        until: float | None = None
        expired = False
        for f in filters:
            if f.expires <= now:
                expired = True
            elif (until is None or f.expires > until) and f.refused.contains(free):
                until = f.expires
        if expired:
            live = [f for f in filters if f.expires > now]
            if live:
                per_agent[key[2]] = live
            else:
                del per_agent[key[2]]
        return until

    def _track(self, framework_id: str, role: str, resources: Resources, sign: int) -> None:
        fw = self._frameworks.get(framework_id)
        if fw is None:
            return
        totals = fw.allocated.setdefault(role, {})
        for k, v in resources.scalars.items():
            totals[k] = totals.get(k, 0) + sign * v

    def _share(self, candidate: tuple[str, str]) -> float:
        fw = self._frameworks[candidate[0]]
        totals = fw.allocated.get(candidate[1], {})
        share = 0.0
        for k, v in totals.items():
            cluster = self._cluster_total.get(k, 0)
            if cluster > 0:
                share = max(share, v / cluster)
        return share
