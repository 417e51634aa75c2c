"""Sharing a launch budget between apps: `share(budget, wanted) -> allotted`.

Role: the scheduler core (scheduler.py) caps how many tasks one decision launches
(`SchedulerConfig.max_launches_per_decision`), so that every offer of an allocation round is
answered inside that round however much work is pending: a decision launching 100,000 tasks takes
seconds to store and send, and the offers it answers would all be late. This module decides how the
cap is divided when several apps wait. Must not: know about apps, offers or time.
"""

from __future__ import annotations

from collections.abc import Sequence


def share(budget: int, wanted: Sequence[int]) -> list[int]:
    """Divide `budget` between claims `wanted` by max-min fairness (water filling).

    Every claim gets the same amount except those that want less, which get what they want; what
    cannot be split evenly goes one each to the earliest claims still short, so the result is
    deterministic. The result never exceeds a claim, and sums to min(budget, sum(wanted)).
    """
    allotted = [0] * len(wanted)
    left = max(0, budget)
    short = [i for i, want in enumerate(wanted) if want > 0]
    while left > 0 and short:
        level = left // len(short)
        if level == 0:
            for i in short[:left]:
                allotted[i] += 1
            break
        still_short = []
        for i in short:
            give = min(level, wanted[i] - allotted[i])
            allotted[i] += give
            left -= give
            if allotted[i] < wanted[i]:
                still_short.append(i)
        short = still_short
    return allotted
