"""Max-min fair division of the per-decision launch budget (framework/core/budget.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from framework.core.budget import share


@pytest.mark.parametrize(
    ("budget", "wanted", "allotted"),
    [
        (10, [], []),
        (10, [3], [3]),  # less than the budget: all of it
        (10, [30], [10]),  # more: the budget
        (10, [30, 30], [5, 5]),  # equal split
        (10, [2, 30], [2, 8]),  # what the small claim leaves goes to the big one
        (10, [30, 30, 30], [4, 3, 3]),  # 10 = 3 + 3 + 3, the remainder to the earliest claim
        (10, [0, 30], [0, 10]),  # an empty claim gets nothing
        (0, [5, 5], [0, 0]),
        (-3, [5], [0]),  # a negative budget is no budget
        (7, [1, 2, 100, 100], [1, 2, 2, 2]),
    ],
)
def test_share_table(budget: int, wanted: list[int], allotted: list[int]) -> None:
    assert share(budget, wanted) == allotted


@given(st.integers(-5, 500), st.lists(st.integers(0, 200), max_size=12))
def test_share_never_exceeds_a_claim_and_spends_what_it_can(budget: int, wanted: list[int]) -> None:
    allotted = share(budget, wanted)
    assert all(0 <= a <= w for a, w in zip(allotted, wanted, strict=True))
    assert sum(allotted) == min(max(budget, 0), sum(wanted))
    # max-min fair: a claim that got less than it wanted got at least as much as any other, minus one
    for a, w in zip(allotted, wanted, strict=True):
        if a < w:
            assert all(a >= other - 1 for other in allotted)
