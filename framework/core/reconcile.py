"""Desired vs actual for one app: which instance slots to launch and which tasks to kill.

Role: `plan_app(desired, tasks)` is the pure heart of the lifecycle, in the manner of Nomad's
`AllocReconciler.Compute()`: it looks at the app's live tasks, as `SlotTask` views, and returns an
`AppPlan` value; it changes nothing. The scheduler core (scheduler.py) builds the views, applies the
plan (launches on offers, KILL effects) and decides *when* (backoff, offers, subscription).

Theory of operation:
- An app has `desired` instances. Each instance lives in a numbered slot. A live task occupies its
  slot from the moment it is launched until a terminal state is known; an UNREACHABLE task keeps
  occupying it (the agent may come back) until the scheduler detaches it (unreachable policy), after
  which it is no longer passed here at all.
- Slots whose task is being killed still count as occupied, so a replacement never lands in the slot
  of a task that is still alive. Hence, by construction: never two live tasks in one slot.
- Counted instances are the live tasks not being killed. Fewer than desired: launch into the lowest
  free slot numbers. More than desired: kill the surplus in scale-down order (below).
- Rolling replacement of tasks of an older configuration, one instance at a time: only when the
  count is exactly right, every counted task is ready (RUNNING, and healthy when the app has health
  checks), and nothing of the app is being killed, the oldest outdated task is killed and one
  replacement slot is launched at once. A crash-looping new version therefore stalls the roll-out
  (its slot stays missing) instead of taking down every old instance.

Scale-down order: outdated before current, then unreachable, then not yet running, then running;
within each group the youngest (highest task number) first. Tasks that serve nobody go before tasks
that do; among equals the youngest goes, as the issue asks.

Must not: read a clock, know about offers or Mesos, or mutate its inputs.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["AppPlan", "KillDecision", "KillReason", "Phase", "SlotTask", "lowest_free_slots", "plan_app"]


class Phase(StrEnum):
    """A live task as the reconciler sees it."""

    PENDING = "pending"  # STAGING or STARTING: launched, not yet running
    RUNNING = "running"
    UNREACHABLE = "unreachable"  # its agent is partitioned; still occupies its slot
    KILLING = "killing"  # TASK_KILLING reported


class KillReason(StrEnum):
    SCALE_DOWN = "scale_down"
    REPLACE_OUTDATED = "replace_outdated"


@dataclass(frozen=True, slots=True)
class SlotTask:
    """One live task of the app.

    `seq` is the task number (higher = launched later); `current` says it runs the app's current
    configuration; `ready` is RUNNING and healthy-or-unchecked; `kill_requested` says Gantry already
    asked to kill it (it still occupies its slot until terminal)."""

    task_id: str
    slot: int
    seq: int
    phase: Phase
    current: bool = True
    ready: bool = False
    kill_requested: bool = False


@dataclass(frozen=True, slots=True)
class KillDecision:
    task_id: str
    reason: KillReason


@dataclass(frozen=True, slots=True)
class AppPlan:
    """`launch_slots`: slots to launch a task into (lowest first); `kills`: tasks to kill now."""

    launch_slots: tuple[int, ...] = ()
    kills: tuple[KillDecision, ...] = ()


_PHASE_RANK = {Phase.UNREACHABLE: 0, Phase.PENDING: 1, Phase.KILLING: 2, Phase.RUNNING: 3}


def _scale_down_key(task: SlotTask) -> tuple[bool, int, int]:
    return (task.current, _PHASE_RANK[task.phase], -task.seq)


def lowest_free_slots(occupied: Collection[int], count: int) -> tuple[int, ...]:
    """The `count` smallest non-negative integers not in `occupied`."""
    out: list[int] = []
    candidate = 0
    while len(out) < count:
        if candidate not in occupied:
            out.append(candidate)
        candidate += 1
    return tuple(out)


def plan_app(desired: int, tasks: Sequence[SlotTask]) -> AppPlan:
    """Decide launches and kills for one app with `desired` instances and these live tasks."""
    occupied = {t.slot for t in tasks}
    counted = [t for t in tasks if not t.kill_requested]
    if len(counted) > desired:
        surplus = sorted(counted, key=_scale_down_key)[: len(counted) - desired]
        return AppPlan(kills=tuple(KillDecision(t.task_id, KillReason.SCALE_DOWN) for t in surplus))
    missing = desired - len(counted)
    if missing:
        return AppPlan(launch_slots=lowest_free_slots(occupied, missing))
    return _plan_rolling(tasks, counted, occupied)


def _plan_rolling(tasks: Sequence[SlotTask], counted: list[SlotTask], occupied: set[int]) -> AppPlan:
    outdated = [t for t in counted if not t.current]
    if not outdated:
        return AppPlan()
    in_flight = any(t.kill_requested for t in tasks) or not all(t.ready for t in counted)
    if in_flight:
        return AppPlan()
    oldest = min(outdated, key=lambda t: t.seq)
    return AppPlan(
        launch_slots=lowest_free_slots(occupied, 1),
        kills=(KillDecision(oldest.task_id, KillReason.REPLACE_OUTDATED),),
    )
