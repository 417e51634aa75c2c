"""codec.calls_for: an explicit reconciliation larger than RECONCILE_CHUNK goes out as several calls.

Role: pins the chunking that lets the master's answers stream while it still works on later tasks
(a restart at 100,000 tasks). Every task must be asked about exactly once, in the core's order.
"""

from __future__ import annotations

import pytest

from framework.core.effects import Reconcile, ReconcileTask
from framework.mesos import codec
from proto.mesos.v1.scheduler import scheduler_pb2 as scheduler

CHUNK = codec.RECONCILE_CHUNK


def _tasks(n: int) -> tuple[ReconcileTask, ...]:
    # Every fifth task without an agent id, which must stay absent on the wire.
    return tuple(ReconcileTask(f"t-{i}", f"a-{i % 7}" if i % 5 else None) for i in range(n))


def _sent(calls: list[scheduler.Call]) -> list[tuple[str, str | None]]:
    return [
        (t.task_id.value, t.agent_id.value if t.HasField("agent_id") else None)
        for call in calls
        for t in call.reconcile.tasks
    ]


@pytest.mark.parametrize(
    ("tasks", "sizes"),
    [
        (1, [1]),
        (CHUNK, [CHUNK]),  # exactly one chunk: one call, as before chunking existed
        (CHUNK + 1, [CHUNK, 1]),
        (2 * CHUNK + 3, [CHUNK, CHUNK, 3]),  # two full chunks and a remainder of 3
    ],
)
def test_explicit_reconciliation_is_split_into_chunks_asking_each_task_once_in_order(
    tasks: int, sizes: list[int]
) -> None:
    wanted = _tasks(tasks)
    calls = codec.calls_for(Reconcile(wanted), "fw-1", ("*",))
    assert [len(call.reconcile.tasks) for call in calls] == sizes
    assert {(call.type, call.framework_id.value) for call in calls} == {(scheduler.Call.RECONCILE, "fw-1")}
    assert _sent(calls) == [(t.task_id, t.agent_id) for t in wanted]


def test_implicit_reconciliation_stays_one_call_with_no_tasks() -> None:
    [call] = codec.calls_for(Reconcile(), "fw-1", ("*",))
    assert call.HasField("reconcile") and not call.reconcile.tasks
