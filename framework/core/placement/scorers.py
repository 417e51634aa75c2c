"""Scorers: how full an agent is, how big a demand is, in one exact integer scale.

Role: the second stage of the pipeline (filters -> scorers -> packer). Resources are normalised per
dimension by the largest free amount any agent offers in this batch (a stand-in for agent capacity,
which offers do not carry), as integer weights `W_d = 2**40 // max_d`, so a score is an exact integer
and the same input always sorts the same way. `weighted_size` is the L1 norm of a resource vector in
that scale: an agent whose weighted free size is below a demand's cannot hold it, which lets the
packer skip most agents with one bisection.

Callers: `framework.core.placement.packer`.

Must not: use floats for ordering decisions (ties must break identically everywhere), or do I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

from framework.core.placement.state import DIMENSIONS, AgentBin

# Normalised capacity of the largest agent in each dimension.
SCALE = 1 << 40


def free_columns(agents: Sequence[AgentBin]) -> tuple[list[int], list[int]]:
    """Per dimension, the largest and the total free amount over `agents` (one pass, in C)."""
    columns = list(zip(*(agent.free for agent in agents), strict=True))
    if not columns:
        return [0] * DIMENSIONS, [0] * DIMENSIONS
    return [max(column) for column in columns], [sum(column) for column in columns]


def weights(agents: Sequence[AgentBin]) -> tuple[int, ...]:
    """Integer weight per dimension: SCALE // (largest free amount); 0 where no agent has any."""
    return weights_of(free_columns(agents)[0])


def weights_of(largest: Sequence[int]) -> tuple[int, ...]:
    """`weights` from the largest free amount per dimension."""
    return tuple(SCALE // top if top else 0 for top in largest)


def weighted_size(vector: Sequence[int], w: Sequence[int]) -> int:
    """L1 norm of a resource vector, each dimension as a fraction of the largest agent (times SCALE)."""
    # Written out: called once per agent and per demand on every `place` call.
    return vector[0] * w[0] + vector[1] * w[1] + vector[2] * w[2] + vector[3] * w[3]


def dominant_share(vector: Sequence[int], w: Sequence[int]) -> int:
    """The largest per-dimension fraction (times SCALE): the demand's bottleneck dimension."""
    return max((v * wd for v, wd in zip(vector, w, strict=False)), default=0)


def alignment(free: Sequence[int], vector: Sequence[int], w: Sequence[int]) -> int:
    """Dot product of free capacity and demand, both normalised (Tetris' alignment score, Panigrahy's DP).

    High when the demand uses the resources the agent has most of, so packing it leaves a residual
    that other demands can still use instead of stranding one dimension.
    """
    return sum(f * wd * v * wd for f, v, wd in zip(free, vector, w, strict=False))
