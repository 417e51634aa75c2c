"""`FreeIndex`: agents ordered by how much they have free, for "fullest agent that fits first".

Role: lets the packer find the fullest agent that can hold an instance without scanning every
agent. The weighted free size (L1 norm, `scorers.weighted_size`) of an agent that can hold an
instance is at least the instance's own weighted size, so one bisection skips every agent that is
certainly too small; a walk upwards from there meets agents from the fullest to the emptiest.

Callers: `framework.core.placement.packer` and `framework.core.placement.balanced`.

Must not: do I/O; keys are exact integers, so the order is the same on every run.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Sequence

from framework.core.placement.scorers import weighted_size
from framework.core.placement.state import AgentBin


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

    def refresh_all(self, agents: Sequence[AgentBin]) -> None:
        """`refresh` every agent in `agents`; one sort instead of one move each when they are many."""
        keys = self.keys
        if len(agents) * 16 < len(keys):
            for agent in agents:
                self.refresh(agent)
            return
        w0, w1, w2, w3 = self.w
        shift = self.shift
        for agent in agents:
            free = agent.free
            size = free[0] * w0 + free[1] * w1 + free[2] * w2 + free[3] * w3
            agent.sort_key = size << shift | agent.index
        self.keys = sorted(agent.sort_key for agent in self.agents)

    def start(self, size: int) -> int:
        """Position of the first agent whose weighted free size is at least `size`."""
        return bisect_left(self.keys, size << self.shift)

    def agent_at(self, position: int) -> AgentBin:
        return self.agents[self.keys[position] & self.mask]
