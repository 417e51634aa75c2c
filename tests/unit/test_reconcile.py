"""The reconciler and the backoff arithmetic, as tables whose rows carry the arithmetic."""

from __future__ import annotations

import pytest

from framework.core.backoff import LaunchDelay, counts_as_crash, next_delay
from framework.core.events import TaskState
from framework.core.reconcile import (
    AppPlan,
    KillDecision,
    KillReason,
    Phase,
    SlotTask,
    lowest_free_slots,
    plan_app,
)

R, P, U, K = Phase.RUNNING, Phase.PENDING, Phase.UNREACHABLE, Phase.KILLING


def task(slot: int, seq: int, phase: Phase = R, *, current: bool = True, ready: bool | None = None,
         kill: bool = False) -> SlotTask:
    ready = (phase is R) if ready is None else ready
    return SlotTask(f"t{seq}", slot, seq, phase, current=current, ready=ready, kill_requested=kill)


def kills(*ids_and_reasons: tuple[str, KillReason]) -> tuple[KillDecision, ...]:
    return tuple(KillDecision(t, r) for t, r in ids_and_reasons)


DOWN, ROLL = KillReason.SCALE_DOWN, KillReason.REPLACE_OUTDATED


@pytest.mark.parametrize(
    ("desired", "tasks", "expected"),
    [
        # nothing running, 3 wanted: 3 - 0 = 3 launches into slots 0, 1, 2
        (3, [], AppPlan(launch_slots=(0, 1, 2))),
        # exactly right: 2 counted == 2 desired, nothing outdated
        (2, [task(0, 1), task(1, 2)], AppPlan()),
        # slot 1 lost its task: 3 - 2 = 1 launch, into the hole (lowest free)
        (3, [task(0, 1), task(2, 3)], AppPlan(launch_slots=(1,))),
        # a task being killed still occupies slot 0: 2 - 1 counted = 1 launch, into slot 2, not 0
        (2, [task(0, 1, kill=True), task(1, 2)], AppPlan(launch_slots=(2,))),
        # an unreachable task still counts: 2 counted == 2 desired, no replacement yet
        (2, [task(0, 1, U), task(1, 2)], AppPlan()),
        # scale 4 -> 2: 4 - 2 = 2 kills, youngest first (seq 9 and 7)
        (2, [task(0, 3), task(1, 9), task(2, 5), task(3, 7)],
         AppPlan(kills=kills(("t9", DOWN), ("t7", DOWN)))),
        # scale 3 -> 1: not-yet-running goes before running even when older: pending t2, then youngest t5
        (1, [task(0, 1), task(1, 2, P), task(2, 5)], AppPlan(kills=kills(("t2", DOWN), ("t5", DOWN)))),
        # scale 3 -> 2: the unreachable one goes first, though it is the oldest
        (2, [task(0, 1, U), task(1, 2), task(2, 3)], AppPlan(kills=kills(("t1", DOWN),))),
        # scale 3 -> 2: outdated before current, whatever their age
        (2, [task(0, 1, current=False), task(1, 2), task(2, 3)], AppPlan(kills=kills(("t1", DOWN),))),
        # scale 3 -> 2 while one is already being killed: 3 - 1 = 2 counted == 2, nothing more to kill
        (2, [task(0, 1, kill=True), task(1, 2), task(2, 3)], AppPlan()),
        # scale to 0: 2 - 0 = 2 kills
        (0, [task(0, 1), task(1, 2)], AppPlan(kills=kills(("t2", DOWN), ("t1", DOWN)))),
        # rolling: 2 counted == 2, all ready, two outdated: kill the oldest (t1), launch 1 into slot 2
        (2, [task(0, 1, current=False), task(1, 2, current=False)],
         AppPlan(launch_slots=(2,), kills=kills(("t1", ROLL),))),
        # rolling waits while a replacement is not ready yet (t3 pending)
        (2, [task(1, 2, current=False), task(2, 3, P)], AppPlan()),
        # rolling waits while a task is still being killed (t1 occupies slot 0)
        (2, [task(0, 1, current=False, kill=True), task(1, 2, current=False), task(2, 3)],
         AppPlan()),
        # rolling waits while an instance is missing: 2 - 1 = 1 launch, no kill
        (2, [task(0, 1, current=False)], AppPlan(launch_slots=(1,))),
        # rolling waits for health: running but unhealthy is not ready
        (2, [task(0, 1, current=False), task(1, 2, ready=False)], AppPlan()),
    ],
)
def test_plan_app(desired: int, tasks: list[SlotTask], expected: AppPlan) -> None:
    assert plan_app(desired, tasks) == expected


@pytest.mark.parametrize(
    ("occupied", "count", "expected"),
    [
        (set(), 3, (0, 1, 2)),
        ({0, 2}, 2, (1, 3)),  # holes first, then past the end
        ({1, 2, 3}, 1, (0,)),
        ({0, 1}, 0, ()),
    ],
)
def test_lowest_free_slots(occupied: set[int], count: int, expected: tuple[int, ...]) -> None:
    assert lowest_free_slots(occupied, count) == expected


def test_plan_never_targets_an_occupied_slot() -> None:
    tasks = [task(s, s + 1, kill=s % 2 == 0) for s in range(6)]
    plan = plan_app(8, tasks)
    assert not set(plan.launch_slots) & {t.slot for t in tasks}
    # 8 desired - 3 counted (odd slots) = 5 launches
    assert len(plan.launch_slots) == 5



@pytest.mark.parametrize(
    ("current", "now", "expected"),
    [
        # first crash: delay = backoff_seconds = 1, until 10 + 1
        (None, 10.0, LaunchDelay(1.0, 11.0, 1)),
        # second crash: 1 * 2 = 2, until 20 + 2 (counted from the crash)
        (LaunchDelay(1.0, 11.0, 1), 20.0, LaunchDelay(2.0, 22.0, 2)),
        # 2 * 2 = 4
        (LaunchDelay(2.0, 22.0, 2), 30.0, LaunchDelay(4.0, 34.0, 3)),
        # 4 * 2 = 8, capped at max 5
        (LaunchDelay(4.0, 34.0, 3), 40.0, LaunchDelay(5.0, 45.0, 4)),
        # stays at the cap: min(5 * 2, 5) = 5
        (LaunchDelay(5.0, 45.0, 4), 50.0, LaunchDelay(5.0, 55.0, 5)),
    ],
)
def test_next_delay(current: LaunchDelay | None, now: float, expected: LaunchDelay) -> None:
    # backoff_seconds 1, factor 2, cap 5
    got = next_delay(current, backoff_seconds=1.0, backoff_factor=2.0, max_launch_delay_seconds=5.0, now=now)
    assert got == expected


def test_delay_activity() -> None:
    delay = LaunchDelay(2.0, 12.0, 1)
    assert delay.active(11.9) and not delay.active(12.0)
    assert delay.remaining(11.0) == 1.0 and delay.remaining(13.0) == 0.0


@pytest.mark.parametrize(
    ("state", "kill_requested", "crash"),
    [
        (TaskState.FAILED, False, True),
        (TaskState.ERROR, False, True),
        (TaskState.FINISHED, False, True),  # a service is not meant to exit
        (TaskState.KILLED, False, True),  # killed without us asking: e.g. its health check
        (TaskState.KILLED, True, False),  # we asked
        (TaskState.FAILED, True, True),  # failing while being killed is still failing
        (TaskState.LOST, False, False),  # infrastructure, not the app
        (TaskState.GONE, False, False),
        (TaskState.DROPPED, False, False),
        (TaskState.UNKNOWN, False, False),
        (TaskState.GONE_BY_OPERATOR, False, False),
    ],
)
def test_counts_as_crash(state: TaskState, kill_requested: bool, crash: bool) -> None:
    assert counts_as_crash(state, kill_requested=kill_requested) is crash
