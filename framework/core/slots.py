"""Tasks and their slots: task numbers, configurations, and which stored task keeps which slot.

Role: the pure part of rebuilding SchedulerState from the store. `SchedulerState.restore` passes the
stored task records here (`assign_slots`) and installs what comes back; the scheduler and the views
parse task ids and versions with `task_seq` and `config_of`.

Must not: mutate its arguments, or decide anything beyond slots (killing orphans, reconciling and
planning stay with SchedulerState).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from framework.core.effects import TaskRecord
from framework.core.events import TaskState

__all__ = ["SLOT_DETACHED", "SlotAssignment", "assign_slots", "config_of", "task_seq"]

SLOT_DETACHED = -1  # a task that no longer occupies a slot and is being got rid of


def config_of(version: str) -> str:
    """The configuration part of an app version '<config digest>.<instances>' (spec.app_version)."""
    return version.rsplit(".", 1)[0]


def task_seq(task_id: str) -> int:
    """The task number `n` of a task id '<app slug>.<n>', 0 for an id without one."""
    tail = task_id[task_id.rfind(".") + 1 :]  # the whole id when it has no '.' (rfind gives -1)
    return int(tail) if tail.isdigit() else 0


@dataclass(frozen=True, slots=True)
class SlotAssignment:
    """The live stored tasks sorted out, youngest first in every dict and list (fresh containers the
    caller takes over). Every live task is in exactly one of `slotted` and `orphans`."""

    counters: dict[str, int]  # app id -> highest task number handed out (stored, or above it)
    slotted: dict[str, dict[str, TaskRecord]]  # app id (every app) -> task id -> task keeping its slot
    outdated: dict[str, set[str]]  # app id -> ids of its slotted tasks of an older configuration
    orphans: dict[str, TaskRecord]  # task id -> record moved to SLOT_DETACHED
    owner: dict[str, str | None]  # task id -> app id of a slotted task, None for an orphan
    unreachable: set[str]  # ids of UNREACHABLE tasks
    staging: list[TaskRecord]  # STAGING tasks


def assign_slots(tasks: Iterable[TaskRecord], configs: Mapping[str, str], counters: Mapping[str, int]) \
        -> SlotAssignment:
    """Sort the store's task records out for the apps of `configs` (app id -> current configuration).

    Terminal records are history and are dropped; live tasks of apps that no longer exist, or with
    slot -1, become orphans. Should two live tasks claim one slot (only possible if a detach was not
    stored), the youngest keeps it and the others become orphans. A task number above an app's stored
    counter raises the counter, so no id is handed out twice."""
    # Youngest first (see above); each id is parsed once, and terminal history is dropped before the
    # sort (it can be as long as the live tasks).
    live = [(task_seq(r.task_id), r) for r in tasks if not r.terminal]
    live.sort(key=lambda pair: -pair[0])
    found = SlotAssignment(counters=dict(counters), slotted={app_id: {} for app_id in configs}, outdated={},
                           orphans={}, owner={}, unreachable=set(),
                           staging=[r for _, r in live if r.state is TaskState.STAGING])
    taken: set[tuple[str, int]] = set()
    # 100,000 rounds after a restart: the containers as locals.
    counter, slotted, outdated, orphans, owner = (found.counters, found.slotted, found.outdated,
                                                  found.orphans, found.owner)
    for seq, record in live:
        app_id, task_id = record.app_id, record.task_id
        if seq >= counter.get(app_id, 0):
            counter[app_id] = seq
        app_tasks = slotted.get(app_id)
        key = (app_id, record.slot)
        if app_tasks is None or record.slot < 0 or key in taken:
            orphans[task_id] = replace(record, slot=SLOT_DETACHED)
            owner[task_id] = None
        else:
            taken.add(key)
            app_tasks[task_id] = record
            owner[task_id] = app_id
            if config_of(record.version) != configs[app_id]:
                outdated.setdefault(app_id, set()).add(task_id)
        if record.state is TaskState.UNREACHABLE:
            found.unreachable.add(task_id)
    return found
